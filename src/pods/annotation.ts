// The `stepsplice.dev/steps` annotation: a YAML or JSON list of steps in
// Tekton's Step shape, restricted to what makes sense in a plain Pod. Parsed
// with a JSON Schema so every error names the step and the field.

import { Ajv, type ErrorObject } from 'ajv'
import { parseDocument } from 'yaml'
import { hasDuplicateKeys } from '../json/duplicate-keys.ts'
import { parseJson } from '../json/parse-json.ts'
import { positions } from '../json/documents.ts'
import { integerValue } from '../json/raw-number.ts'
import { limits } from '../limits/limits.ts'
import { measure } from '../limits/measure.ts'
import { isJsonObject } from '../json/values.ts'
import { jsonPointerToPath } from '../problems/path.ts'
import { problem, type Problem } from '../problems/problem.ts'
import type { Step } from '../types/tekton.ts'
import { quoteValue } from '../problems/truncate.ts'

export const stepsAnnotation = 'stepsplice.dev/steps'
export const placementAnnotation = 'stepsplice.dev/placement'
export const workspaceAnnotation = 'stepsplice.dev/workspace'

/** Step fields that only work under Tekton's entrypoint, which a plain Pod does not have. */
const needsTekton = ['timeout', 'onError', 'when', 'stdoutConfig', 'stderrConfig', 'workspaces', 'displayName', 'volumeDevices']
/** Fields the definition provides; a step that sets them next to `ref` is refused, as in Tekton. */
const forbiddenWithRef = ['image', 'command', 'args', 'script', 'workingDir', 'env', 'volumeMounts', 'results']

const paramValue = {
  anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }, { type: 'object', additionalProperties: { type: 'string' } }],
}

/** Also published as schemas/steps-annotation.json (`npm run schemas`). */
export const stepSchema = {
  type: 'array',
  items: {
    type: 'object',
    required: ['name', 'ref'],
    additionalProperties: false,
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 58, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
      ref: {
        type: 'object',
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1 },
          resolver: { type: 'string', minLength: 1 },
          params: { type: 'array', items: { type: 'object', required: ['name', 'value'], properties: { name: { type: 'string' }, value: paramValue } } },
        },
      },
      params: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'value'],
          additionalProperties: false,
          properties: { name: { type: 'string', minLength: 1 }, value: paramValue },
        },
      },
      computeResources: { type: 'object' },
      envFrom: { type: 'array', items: { type: 'object' } },
      imagePullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
      securityContext: { type: 'object' },
    },
  },
}

const ajv = new Ajv({ allErrors: true, strict: true })
const validate = ajv.compile(stepSchema)

function describe(e: ErrorObject, steps: unknown[], base: string): Problem | undefined {
  const at = jsonPointerToPath(e.instancePath)
  const index = /^\[(\d+)\]/.exec(at)?.[1]
  const raw = index === undefined ? undefined : (steps[Number(index)] as { name?: unknown } | undefined)
  const step = typeof raw?.name === 'string' ? raw.name : undefined
  const path = `${base}${at}`
  const extra = step === undefined ? {} : { step }
  const p = e.params as Record<string, unknown>
  switch (e.keyword) {
    case 'required':
      return problem(`${path}.${String(p.missingProperty)}`, 'missing field', extra)
    case 'additionalProperties': {
      const field = String(p.additionalProperty)
      const where = `${path}.${field}`
      if (field === 'uses') return problem(where, 'uses (a whole Task as steps) is for TaskRuns and PipelineRuns: a Pod runs step definitions by ref', extra)
      if (needsTekton.includes(field)) return problem(where, `${field} needs Tekton's entrypoint and cannot be used in a Pod`, extra)
      if (forbiddenWithRef.includes(field)) return problem(where, `${field} cannot be used with Ref: the StepAction provides it`, extra)
      return problem(where, 'unknown field', extra)
    }
    case 'pattern':
      return problem(path, 'must be a lowercase RFC 1123 label (letters, digits and "-")', extra)
    case 'enum':
      return problem(path, `must be one of ${(p.allowedValues as unknown[]).join(', ')}`, extra)
    case 'anyOf':
      return problem(path, 'must be a string, a list of strings or a map of strings', extra)
    default:
      // anyOf branches report their own type errors; the anyOf line above says it better.
      if (/\/value(\/|$)/.test(e.schemaPath) && e.schemaPath.includes('anyOf')) return undefined
      return problem(path, e.message ?? e.keyword, extra)
  }
}

/**
 * The steps, or the problems. With problems in some steps of a list, `steps`
 * holds every item and `invalid` the indexes of those with problems, so the
 * others can still be resolved and their problems reported in the same round.
 */
export type ParsedSteps = { steps: Step[] } | { problems: Problem[]; steps?: Step[]; invalid?: ReadonlySet<number> }

/** Parses the annotation's text; `base` is the path used in problems. */
export function parseStepsAnnotation(text: string, base = `metadata.annotations["${stepsAnnotation}"]`): ParsedSteps {
  let value: unknown = jsonFastPath(text)
  if (value === undefined) {
    const read = readYaml(text, base)
    if ('problems' in read) return read
    value = read.value
  }
  if (!Array.isArray(value)) return { problems: [problem(base, 'must be a list of steps')] }
  return checkSteps(value, base)
}

/**
 * The annotation as JSON, which is how machines write it: JSON.parse is many
 * times faster than the YAML parser, and for JSON text gives what YAML 1.2
 * gives, with the same exact integers (json/parse-json.ts). Undefined, for
 * the YAML reading to decide, when it is not JSON, names a key twice (JSON
 * keeps the last, YAML refuses), or holds what the two read differently
 * (a \u escape, which may spell a prototype key the body parser drops).
 */
function jsonFastPath(text: string): unknown {
  const start = text.trimStart()[0]
  if (start !== '[' && start !== '{') return undefined
  if (text.includes('\\u') || text.includes('__proto__') || text.includes('constructor')) return undefined
  try {
    const value = parseJson(text)
    return hasDuplicateKeys(text) ? undefined : value
  } catch {
    return undefined
  }
}

function readYaml(text: string, base: string): { value: unknown } | { problems: Problem[] } {
  try {
    // YAML 1.2: this text is ours alone (the API server sees one string), so a step named `no` stays a string.
    // prettyErrors is off: it computes a line and column for every error, one pass over the text each, and
    // a long line full of errors took seconds; the first error's line is worked out here, once.
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, intAsBigInt: true })
    const first = doc.errors[0]
    if (first !== undefined) return { problems: [problem(base, `not valid YAML or JSON: ${first.message.split('\n')[0]} at ${positions(text)(first.pos[0])}`)] }
    return { value: doc.toJS({ maxAliasCount: 100, reviver: (_key: unknown, v: unknown) => (typeof v === 'bigint' ? integerValue(v) : v) }) }
  } catch (err) {
    return { problems: [problem(base, `not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`)] }
  }
}

function checkSteps(value: unknown[], base: string): ParsedSteps {
  // Aliases repeat a node without repeating its text: what they expand to is bounded too, before anything walks it.
  const expanded = measure(value, { bytes: 4 * limits.stepsAnnotationBytes, depth: limits.depth })
  if (expanded.bytes > 4 * limits.stepsAnnotationBytes || expanded.depth > limits.depth) {
    return {
      problems: [
        problem(base, `expands to more than ${4 * limits.stepsAnnotationBytes} bytes or ${limits.depth} levels (limit stepsAnnotationBytes)`, {
          limit: 'stepsAnnotationBytes',
        }),
      ],
    }
  }
  const items: unknown[] = value
  const errors = validate(items) ? [] : (validate.errors ?? [])
  const problems: Problem[] = errors.map((e) => describe(e, items, base)).filter((p): p is Problem => p !== undefined)
  // Which items the schema found fault with; an error about the list itself leaves none to go on with.
  const invalid = new Set<number>()
  let whole = false
  for (const e of errors) {
    const index = /^\/(\d+)(\/|$)/.exec(e.instancePath)?.[1]
    if (index === undefined) whole = true
    else invalid.add(Number(index))
  }
  // Checked even when the schema found problems, so that all are reported in one round;
  // items of the wrong shape were reported above and are skipped here.
  const names = new Map<string, number>()
  items.forEach((s, i) => {
    if (!isJsonObject(s) || typeof s.name !== 'string') return
    const name = s.name
    if (names.has(name)) {
      problems.push(problem(`${base}[${i}].name`, `duplicate step name ${quoteValue(name)}`, { step: name }))
      invalid.add(i)
    }
    names.set(name, i)
    if (isJsonObject(s.ref) && s.ref.name === undefined && s.ref.resolver === undefined) {
      problems.push(problem(`${base}[${i}].ref.name`, 'missing field(s): name', { step: name }))
      invalid.add(i)
    }
  })
  if (problems.length === 0) return { steps: items as Step[] }
  return whole ? { problems } : { problems, steps: items as Step[], invalid }
}
