// Kubernetes core shapes, named after the API's own fields. Every type keeps an
// index signature because stepsplice must carry fields it does not know through
// untouched: the API server, not we, decides what is valid in a Pod.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }
export type JsonObject = { [key: string]: unknown }

export interface ObjectMeta {
  name?: string
  generateName?: string
  namespace?: string
  uid?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  [field: string]: unknown
}

export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata?: ObjectMeta
  [field: string]: unknown
}

export interface KeySelector {
  name?: string
  key?: string
  optional?: boolean
  [field: string]: unknown
}

export interface EnvVarSource {
  secretKeyRef?: KeySelector
  configMapKeyRef?: KeySelector
  [field: string]: unknown
}

export interface EnvVar {
  name: string
  value?: string
  valueFrom?: EnvVarSource
  [field: string]: unknown
}

export interface VolumeMount {
  name: string
  mountPath: string
  subPath?: string
  readOnly?: boolean
  [field: string]: unknown
}

export interface Volume {
  name: string
  [field: string]: unknown
}

export interface Container {
  name?: string
  image?: string
  imagePullPolicy?: string
  command?: string[]
  args?: string[]
  workingDir?: string
  env?: EnvVar[]
  envFrom?: JsonObject[]
  volumeMounts?: VolumeMount[]
  resources?: JsonObject
  securityContext?: JsonObject
  [field: string]: unknown
}

export interface PodSpec {
  initContainers?: Container[]
  containers?: Container[]
  volumes?: Volume[]
  [field: string]: unknown
}

/** @public A core/v1 Pod: what pods/ splices steps into (the code walks KubeObjects, since templates hold Pods too). */
export interface Pod extends KubeObject {
  spec?: PodSpec
}
