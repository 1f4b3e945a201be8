// Unit tests that run in-process (the merge, params, shapes, schemas), in one
// process: each file takes a second or less, and a process of its own costs
// the suite about as much CPU again. They register their tests on tap's root
// as they are imported, in this order. units-runs.test.ts holds the rest.

await import('./units/stepaction-schema.ts')
await import('./units/stepaction-validate.ts')
await import('./units/stepaction-params.ts')
await import('./units/expand-shape.ts')
await import('./units/expand-merge.ts')
await import('./units/expand-params.ts')
await import('./units/key-reads.ts')
await import('./units/referencing-alone.ts')
await import('./units/invalid-definitions.ts')
await import('./units/steps-template.ts')
await import('./units/groups-rename.ts')
await import('./units/groups-declarations.ts')
await import('./units/groups-validate.ts')
await import('./units/groups-merge.ts')
await import('./units/yaml-reading.ts')
await import('./units/log-output.ts')
await import('./units/remote-document.ts')
await import('./units/envelope.ts')
await import('./units/reference-key.ts')
await import('./units/review-text.ts')
await import('./units/size-check.ts')
await import('./units/admission-series.ts')
