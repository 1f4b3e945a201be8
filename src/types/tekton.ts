// Tekton shapes (tekton.dev/v1 Task/TaskRun/PipelineRun, v1beta1/v1alpha1
// StepAction), named after Tekton's JSON fields. Values arrive from YAML or JSON
// written by people, so every field is optional at the type level and checked
// by validation, never trusted by the type.

import type { EnvVar, JsonObject, KubeObject, VolumeMount } from './k8s.ts'

export type ParamType = 'string' | 'array' | 'object'

/** A param value as written: a string, a list of strings or a map of strings. */
export type RawParamValue = unknown

export interface PropertySpec {
  type?: string
  [field: string]: unknown
}

export interface ParamSpec {
  name: string
  type?: string
  description?: string
  properties?: Record<string, PropertySpec>
  default?: RawParamValue
  enum?: string[]
  [field: string]: unknown
}

export interface Param {
  name: string
  value: RawParamValue
  [field: string]: unknown
}

export interface StepResult {
  name: string
  type?: string
  properties?: Record<string, PropertySpec>
  description?: string
  [field: string]: unknown
}

export interface StepActionSpec {
  description?: string
  image?: string
  command?: string[]
  args?: string[]
  env?: EnvVar[]
  script?: string
  workingDir?: string
  params?: ParamSpec[]
  results?: StepResult[]
  securityContext?: JsonObject
  volumeMounts?: VolumeMount[]
}

export interface StepAction extends KubeObject {
  spec?: StepActionSpec
}

export interface Ref {
  name?: string
  resolver?: string
  params?: Param[]
  [field: string]: unknown
}

export interface Step {
  name?: string
  image?: string
  command?: string[]
  args?: string[]
  script?: string
  workingDir?: string
  env?: EnvVar[]
  volumeMounts?: VolumeMount[]
  results?: StepResult[]
  securityContext?: JsonObject
  ref?: Ref
  params?: Param[]
  [field: string]: unknown
}

export interface TaskSpec {
  params?: ParamSpec[]
  steps?: Step[]
  [field: string]: unknown
}

/** A TaskRun's or pipeline task's `taskRef`: a Task by name, or a resolver with params. */
export interface TaskRef {
  name?: string
  kind?: string
  apiVersion?: string
  resolver?: string
  params?: Param[]
  [field: string]: unknown
}

export interface TaskRunSpec {
  params?: Param[]
  taskRef?: TaskRef
  taskSpec?: TaskSpec
  [field: string]: unknown
}

/** @public A tekton.dev/v1 Task, as the cluster holds it (ResolvedTask is what a catalog keeps of one). */
export interface Task extends KubeObject {
  spec?: TaskSpec
}

export interface TaskRun extends KubeObject {
  spec?: TaskRunSpec
}

export interface PipelineTask {
  name?: string
  params?: Param[]
  matrix?: { params?: Param[]; include?: { params?: Param[] }[]; [field: string]: unknown }
  taskSpec?: TaskSpec
  [field: string]: unknown
}

export interface PipelineSpec {
  params?: ParamSpec[]
  tasks?: PipelineTask[]
  finally?: PipelineTask[]
  [field: string]: unknown
}

export interface PipelineRun extends KubeObject {
  spec?: { params?: Param[]; pipelineSpec?: PipelineSpec; [field: string]: unknown }
}
