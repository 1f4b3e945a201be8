// TaskGroup shapes (custom.tekton.dev/v1alpha1, OpenShift's tekton-task-group),
// named after its Go type's JSON fields: a Task spec whose steps may `use` a
// whole Task. As everywhere, values come from people: every field is
// optional at the type level and checked, never trusted.

import type { JsonObject } from '../types/k8s.ts'
import type { ParamSpec, Step, TaskRef, TaskSpec } from '../types/tekton.ts'

/** `{name: <used Task's param>, param: <group's param>}` */
export interface ParamBinding {
  name?: string
  param?: string
}

/** `{name: <used Task's workspace>, workspace: <group's workspace>}`; TEP-0142's example spells it `param:`. */
export interface WorkspaceBinding {
  name?: string
  workspace?: string
  param?: string
}

export interface Uses {
  taskRef?: TaskRef
  parambindings?: ParamBinding[]
  workspacebindings?: WorkspaceBinding[]
}

export interface GroupStep extends Step {
  uses?: Uses
}

export interface WorkspaceDeclaration {
  name: string
  description?: string
  mountPath?: string
  readOnly?: boolean
  optional?: boolean
  [field: string]: unknown
}

export interface TaskGroupSpec {
  description?: string
  params?: ParamSpec[]
  steps?: GroupStep[]
  stepTemplate?: JsonObject
  sidecars?: JsonObject[]
  volumes?: JsonObject[]
  workspaces?: WorkspaceDeclaration[]
  results?: JsonObject[]
  [field: string]: unknown
}

/** A Task a `uses` step resolved to, as the merge is given it. */
export interface UsedTask {
  /** The index of the `uses` step in the group's steps. */
  index: number
  /** How messages name it: `Task team-a/git-clone`, or a remote's canonical source. */
  id: string
  spec: TaskSpec & {
    workspaces?: WorkspaceDeclaration[]
    results?: JsonObject[]
    sidecars?: JsonObject[]
    volumes?: JsonObject[]
    stepTemplate?: JsonObject
  }
}
