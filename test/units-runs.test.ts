// In-process tests of whole objects (runs, Pods, catalogs in layers), in one
// process for the same reason as units.test.ts.

await import('./units/expand-objects.ts')
await import('./units/expand-taskref.ts')
await import('./units/pipeline-deferral.ts')
await import('./units/pod-annotation.ts')
await import('./units/pod-variables.ts')
await import('./units/pod-splice.ts')
await import('./units/resolution-layered.ts')
