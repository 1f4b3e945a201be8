// The structural schema of a StepAction, checked with ajv before any semantic
// rule runs. It is strict at the levels Tekton defines (an unknown field in
// `spec` is almost always a typo, and `kubectl apply` rejects it too) and open
// inside the Kubernetes types Tekton embeds (securityContext, valueFrom), whose
// full schema belongs to the API server.

import { Ajv, type ErrorObject } from 'ajv'
import { jsonPointerToPath } from '../problems/path.ts'
import { problem, type Problem } from '../problems/problem.ts'

const stringList = { type: 'array', items: { type: 'string' } }
const propertySpecs = {
  type: 'object',
  additionalProperties: { type: 'object', properties: { type: { type: 'string' } }, additionalProperties: false },
}

/** Also published as schemas/stepaction.json (`npm run schemas`). */
export const stepActionSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { enum: ['tekton.dev/v1beta1', 'tekton.dev/v1alpha1'] },
    kind: { const: 'StepAction' },
    metadata: {
      type: 'object',
      required: ['name'],
      properties: {
        // A DNS-1123 subdomain (every dot-separated label starts and ends
        // alphanumeric), capped at 63 as Tekton's ObjectMetadata check does.
        name: { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' },
        namespace: { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        annotations: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
    spec: {
      type: 'object',
      additionalProperties: false,
      properties: {
        description: { type: 'string' },
        image: { type: 'string' },
        command: stringList,
        args: stringList,
        script: { type: 'string' },
        workingDir: { type: 'string' },
        env: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name'],
            additionalProperties: false,
            properties: {
              name: { type: 'string' },
              value: { type: 'string' },
              valueFrom: { type: 'object' },
            },
          },
        },
        params: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name'],
            additionalProperties: false,
            properties: {
              name: { type: 'string' },
              type: { type: 'string' },
              description: { type: 'string' },
              properties: propertySpecs,
              default: {},
              enum: stringList,
            },
          },
        },
        results: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name'],
            additionalProperties: false,
            properties: {
              name: { type: 'string' },
              type: { type: 'string' },
              description: { type: 'string' },
              properties: propertySpecs,
            },
          },
        },
        securityContext: { type: 'object' },
        volumeMounts: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'mountPath'],
            additionalProperties: false,
            properties: {
              name: { type: 'string' },
              mountPath: { type: 'string' },
              subPath: { type: 'string' },
              subPathExpr: { type: 'string' },
              readOnly: { type: 'boolean' },
              recursiveReadOnly: { type: 'string' },
              mountPropagation: { type: 'string' },
            },
          },
        },
      },
    },
  },
}

/** The message of a field the schema does not know: what Tekton's Go types drop as they decode an object. */
export const unknownField = 'unknown field'

const ajv = new Ajv({ allErrors: true, strict: true })
const validate = ajv.compile(stepActionSchema)

function describe(e: ErrorObject): Problem {
  const at = jsonPointerToPath(e.instancePath)
  const join = (field: string): string => (at === '' ? field : `${at}.${field}`)
  const p = e.params as Record<string, unknown>
  switch (e.keyword) {
    case 'required':
      return problem(join(String(p.missingProperty)), 'missing field')
    case 'additionalProperties':
      return problem(join(String(p.additionalProperty)), unknownField)
    case 'enum':
      return problem(at, `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`)
    case 'const':
      return problem(at, `must be ${JSON.stringify(p.allowedValue)}`)
    case 'pattern':
      return problem(
        at,
        at.endsWith('namespace')
          ? 'must be a lowercase RFC 1123 label (letters, digits and "-", starting and ending with a letter or digit)'
          : 'must be a lowercase RFC 1123 subdomain (letters, digits, "-" and ".", each dot-separated part starting and ending with a letter or digit)',
      )
    default:
      return problem(at, e.message ?? e.keyword)
  }
}

/**
 * Tekton serves StepActions at v1beta1 and v1alpha1 only; tekton.dev/v1 has
 * none (tektoncd/pipeline#10219), though every other Tekton kind is there, so
 * it is the version people write. Said as such rather than as a list of
 * allowed values.
 */
export const noV1StepAction = 'apiVersion tekton.dev/v1 has no StepAction (tektoncd/pipeline#10219): use tekton.dev/v1beta1'

function declaresV1(doc: unknown): boolean {
  return typeof doc === 'object' && doc !== null && (doc as { apiVersion?: unknown }).apiVersion === 'tekton.dev/v1'
}

/** Structural problems of a StepAction document; empty when it has the right shape. */
export function checkStepActionSchema(doc: unknown): Problem[] {
  if (validate(doc)) return []
  const v1 = declaresV1(doc)
  return (validate.errors ?? []).map((e) => (v1 && e.instancePath === '/apiVersion' && e.keyword === 'enum' ? problem('', noV1StepAction) : describe(e)))
}
