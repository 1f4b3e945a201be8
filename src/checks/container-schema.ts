// Kubernetes' Container, as a JSON schema ajv compiles once: its fields and
// their types are read from @kubernetes/client-node's models (generated from
// Kubernetes' OpenAPI document, release 1.36 for client-node 2.0), which
// carry them at run time as `attributeTypeMap`. What the models leave out,
// which fields are required and which strings take a fixed set of values, is
// written below from the same OpenAPI document, for the types a Container
// holds. A type the models name that is not imported here (a newer client
// adding a field) is accepted as anything: the API server still checks it.
//
// Only the models a Container reaches are imported, one file each: the
// client's index loads all 2,700 and takes half a second, which render and
// every admission worker would pay at start.

import { Ajv, type ErrorObject } from 'ajv'
import { CoreV1ResourceClaim } from '@kubernetes/client-node/dist/gen/models/CoreV1ResourceClaim.js'
import { V1AppArmorProfile } from '@kubernetes/client-node/dist/gen/models/V1AppArmorProfile.js'
import { V1Capabilities } from '@kubernetes/client-node/dist/gen/models/V1Capabilities.js'
import { V1ConfigMapEnvSource } from '@kubernetes/client-node/dist/gen/models/V1ConfigMapEnvSource.js'
import { V1ConfigMapKeySelector } from '@kubernetes/client-node/dist/gen/models/V1ConfigMapKeySelector.js'
import { V1Container } from '@kubernetes/client-node/dist/gen/models/V1Container.js'
import { V1ContainerPort } from '@kubernetes/client-node/dist/gen/models/V1ContainerPort.js'
import { V1ContainerResizePolicy } from '@kubernetes/client-node/dist/gen/models/V1ContainerResizePolicy.js'
import { V1ContainerRestartRule } from '@kubernetes/client-node/dist/gen/models/V1ContainerRestartRule.js'
import { V1ContainerRestartRuleOnExitCodes } from '@kubernetes/client-node/dist/gen/models/V1ContainerRestartRuleOnExitCodes.js'
import { V1EnvFromSource } from '@kubernetes/client-node/dist/gen/models/V1EnvFromSource.js'
import { V1EnvVar } from '@kubernetes/client-node/dist/gen/models/V1EnvVar.js'
import { V1EnvVarSource } from '@kubernetes/client-node/dist/gen/models/V1EnvVarSource.js'
import { V1ExecAction } from '@kubernetes/client-node/dist/gen/models/V1ExecAction.js'
import { V1FileKeySelector } from '@kubernetes/client-node/dist/gen/models/V1FileKeySelector.js'
import { V1GRPCAction } from '@kubernetes/client-node/dist/gen/models/V1GRPCAction.js'
import { V1HTTPGetAction } from '@kubernetes/client-node/dist/gen/models/V1HTTPGetAction.js'
import { V1HTTPHeader } from '@kubernetes/client-node/dist/gen/models/V1HTTPHeader.js'
import { V1Lifecycle } from '@kubernetes/client-node/dist/gen/models/V1Lifecycle.js'
import { V1LifecycleHandler } from '@kubernetes/client-node/dist/gen/models/V1LifecycleHandler.js'
import { V1ObjectFieldSelector } from '@kubernetes/client-node/dist/gen/models/V1ObjectFieldSelector.js'
import { V1Probe } from '@kubernetes/client-node/dist/gen/models/V1Probe.js'
import { V1ResourceFieldSelector } from '@kubernetes/client-node/dist/gen/models/V1ResourceFieldSelector.js'
import { V1ResourceRequirements } from '@kubernetes/client-node/dist/gen/models/V1ResourceRequirements.js'
import { V1SecretEnvSource } from '@kubernetes/client-node/dist/gen/models/V1SecretEnvSource.js'
import { V1SecretKeySelector } from '@kubernetes/client-node/dist/gen/models/V1SecretKeySelector.js'
import { V1SeccompProfile } from '@kubernetes/client-node/dist/gen/models/V1SeccompProfile.js'
import { V1SecurityContext } from '@kubernetes/client-node/dist/gen/models/V1SecurityContext.js'
import { V1SELinuxOptions } from '@kubernetes/client-node/dist/gen/models/V1SELinuxOptions.js'
import { V1SleepAction } from '@kubernetes/client-node/dist/gen/models/V1SleepAction.js'
import { V1TCPSocketAction } from '@kubernetes/client-node/dist/gen/models/V1TCPSocketAction.js'
import { V1VolumeDevice } from '@kubernetes/client-node/dist/gen/models/V1VolumeDevice.js'
import { V1VolumeMount } from '@kubernetes/client-node/dist/gen/models/V1VolumeMount.js'
import { V1WindowsSecurityContextOptions } from '@kubernetes/client-node/dist/gen/models/V1WindowsSecurityContextOptions.js'
import { isInt64, isRawNumber } from '../json/raw-number.ts'

/** What a generated model says of each field: its JSON name, its type as the generator spells it, and a format. */
interface Model {
  readonly attributeTypeMap: readonly { baseName: string; type: string; format: string }[]
}

const models: Record<string, Model> = {
  CoreV1ResourceClaim,
  V1AppArmorProfile,
  V1Capabilities,
  V1ConfigMapEnvSource,
  V1ConfigMapKeySelector,
  V1Container,
  V1ContainerPort,
  V1ContainerResizePolicy,
  V1ContainerRestartRule,
  V1ContainerRestartRuleOnExitCodes,
  V1EnvFromSource,
  V1EnvVar,
  V1EnvVarSource,
  V1ExecAction,
  V1FileKeySelector,
  V1GRPCAction,
  V1HTTPGetAction,
  V1HTTPHeader,
  V1Lifecycle,
  V1LifecycleHandler,
  V1ObjectFieldSelector,
  V1Probe,
  V1ResourceFieldSelector,
  V1ResourceRequirements,
  V1SecretEnvSource,
  V1SecretKeySelector,
  V1SeccompProfile,
  V1SecurityContext,
  V1SELinuxOptions,
  V1SleepAction,
  V1TCPSocketAction,
  V1VolumeDevice,
  V1VolumeMount,
  V1WindowsSecurityContextOptions,
}

/** Required fields, from the OpenAPI document: the models do not keep them. */
const required: Record<string, string[]> = {
  CoreV1ResourceClaim: ['name'],
  V1AppArmorProfile: ['type'],
  V1ConfigMapKeySelector: ['key'],
  V1Container: ['name'],
  V1ContainerPort: ['containerPort'],
  V1ContainerResizePolicy: ['resourceName', 'restartPolicy'],
  V1ContainerRestartRule: ['action'],
  V1ContainerRestartRuleOnExitCodes: ['operator'],
  V1EnvVar: ['name'],
  V1FileKeySelector: ['key', 'path', 'volumeName'],
  V1GRPCAction: ['port'],
  V1HTTPGetAction: ['port'],
  V1HTTPHeader: ['name', 'value'],
  V1ObjectFieldSelector: ['fieldPath'],
  V1ResourceFieldSelector: ['resource'],
  V1SecretKeySelector: ['key'],
  V1SeccompProfile: ['type'],
  V1SleepAction: ['seconds'],
  V1TCPSocketAction: ['port'],
  V1VolumeDevice: ['devicePath', 'name'],
  V1VolumeMount: ['mountPath', 'name'],
}

const profileTypes = ['Localhost', 'RuntimeDefault', 'Unconfined']

/** Strings with a fixed set of values, from the OpenAPI document. */
const enums: Record<string, Record<string, string[]>> = {
  V1AppArmorProfile: { type: profileTypes },
  V1Container: { imagePullPolicy: ['Always', 'IfNotPresent', 'Never'], terminationMessagePolicy: ['FallbackToLogsOnError', 'File'] },
  V1ContainerPort: { protocol: ['SCTP', 'TCP', 'UDP'] },
  V1HTTPGetAction: { scheme: ['HTTP', 'HTTPS'] },
  V1SeccompProfile: { type: profileTypes },
  V1SecurityContext: { procMount: ['Default', 'Unmasked'] },
  V1VolumeMount: { mountPropagation: ['Bidirectional', 'HostToContainer', 'None'] },
}

type Schema = Record<string, unknown>

/** The schema of a field of the generator's `type` and `format`. */
function fieldSchema(type: string, format: string): Schema {
  if (type === 'string') return { type: 'string' }
  if (type === 'boolean') return { type: 'boolean' }
  if (type === 'number') return format === 'int32' ? { k8sInt32: true } : format === 'int64' ? { k8sInt64: true } : { type: 'number' }
  // Either, as the API server reads it: a port by number or by name.
  if (type === 'IntOrString') return { k8sIntOrString: true }
  const list = /^Array<(.+)>$/.exec(type)
  if (list !== null) return { type: 'array', items: fieldSchema(list[1] ?? '', format) }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type)
  if (map !== null) return { type: 'object', additionalProperties: fieldSchema(map[1] ?? '', '') }
  if (Object.hasOwn(models, type)) return { $ref: `#/definitions/${type}` }
  return {}
}

function modelSchema(name: string, model: Model): Schema {
  const properties: Record<string, Schema> = {}
  for (const a of model.attributeTypeMap) {
    const values = enums[name]?.[a.baseName]
    properties[a.baseName] = values === undefined ? fieldSchema(a.type, a.format) : { type: 'string', enum: values }
  }
  const schema: Schema = { type: 'object', properties }
  if (required[name] !== undefined) schema.required = required[name]
  return schema
}

const definitions = Object.fromEntries(Object.entries(models).map(([name, model]) => [name, modelSchema(name, model)]))

/** An int32 or int64: a number that is a whole one in range, or (int64 only) an integer past 2^53 kept as its digits, within int64. */
function isInteger(bits: string, data: unknown): boolean {
  if (isRawNumber(data)) return bits === 'int64' && isInt64Text(data.rawJSON)
  if (typeof data !== 'number' || !Number.isInteger(data)) return false
  return bits === 'int32' ? data >= -(2 ** 31) && data < 2 ** 31 : Number.isSafeInteger(data)
}

/** Digits within int64 (a raw number also holds an integer no double reaches); 20 characters at most, counted first. */
function isInt64Text(digits: string): boolean {
  return digits.length <= 20 && isInt64(BigInt(digits))
}

// Strict, so a keyword or format misspelled here fails at load; allErrors, so a user fixes a step in one round.
const ajv = new Ajv({ allErrors: true, strict: true })
ajv.addKeyword({ keyword: 'k8sInt32', schemaType: 'boolean', errors: false, validate: (_: boolean, data: unknown) => isInteger('int32', data) })
ajv.addKeyword({ keyword: 'k8sInt64', schemaType: 'boolean', errors: false, validate: (_: boolean, data: unknown) => isInteger('int64', data) })
ajv.addKeyword({
  keyword: 'k8sIntOrString',
  schemaType: 'boolean',
  errors: false,
  validate: (_: boolean, data: unknown) => typeof data === 'string' || isInteger('int32', data),
})

/** A compiled validator; its errors are ajv's. */
export interface Validator {
  (data: unknown): boolean
  errors?: ErrorObject[] | null
}

ajv.addSchema({ $id: 'k8s', definitions })

function compiled(name: string): Validator {
  const validate = ajv.getSchema(`k8s#/definitions/${name}`)
  if (validate === undefined) throw new Error(`no schema for ${name}`)
  return validate
}

/** Kubernetes' Container. */
export const validateContainer = compiled('V1Container')
/** Kubernetes' ResourceRequirements: a Tekton step's computeResources (compiled with the Container, shared). */
export const validateResources = compiled('V1ResourceRequirements')
