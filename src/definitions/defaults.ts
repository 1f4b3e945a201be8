// StepAction defaulting, as Tekton's ParamSpec/StepResult SetDefaults: types
// are inferred before anything validates or expands the definition.

import type { ParamSpec, PropertySpec, StepActionSpec, StepResult } from '../types/tekton.ts'
import { rawValueType } from '../variables/param-value.ts'

function defaultProperties(properties: Record<string, PropertySpec>): Record<string, PropertySpec> {
  const out: Record<string, PropertySpec> = {}
  for (const [key, spec] of Object.entries(properties)) out[key] = spec.type ? spec : { ...spec, type: 'string' }
  return out
}

/** Explicit type, else object when properties are set, else the default's type, else string. */
export function defaultParamSpec(p: ParamSpec): ParamSpec {
  const out: ParamSpec = { ...p }
  // Go decodes `default: null` into a nil *ParamValue: no default at all, so
  // it neither sets the type nor has to match it.
  if (p.default === null) delete out.default
  if (p.properties !== undefined) out.properties = defaultProperties(p.properties)
  if (p.type) return out
  if (p.properties !== undefined) out.type = 'object'
  else if (out.default === undefined) out.type = 'string'
  else out.type = rawValueType(out.default)
  return out
}

export function defaultStepResult(r: StepResult): StepResult {
  const out: StepResult = { ...r }
  if (r.properties !== undefined) out.properties = defaultProperties(r.properties)
  if (!r.type) out.type = r.properties !== undefined ? 'object' : 'string'
  return out
}

export function defaultStepActionSpec(spec: StepActionSpec): StepActionSpec {
  const out: StepActionSpec = { ...spec }
  if (spec.params !== undefined) out.params = spec.params.map(defaultParamSpec)
  if (spec.results !== undefined) out.results = spec.results.map(defaultStepResult)
  return out
}
