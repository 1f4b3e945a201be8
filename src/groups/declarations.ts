// The declarations of a merged TaskGroup: params, workspaces, results,
// sidecars and volumes, the group's own first, then what each used Task
// adds, in step order, each in its declaration order; and the renames each
// used Task's bindings ask for (rename.ts applies them). Where TaskGroup's
// controller kept the first of two clashing declarations silently (results,
// sidecars, params of one name and different defaults) or dropped what a
// binding needed (a workspace's mountPath), this says so: a clash that would
// change what runs is a problem naming both sides, a harmless one a warning.

import { canonicalJson } from '../json/canonical.ts'
import { asList, isJsonObject } from '../json/values.ts'
import { type Problem, problem } from '../problems/problem.ts'
import { quoteValue } from '../problems/truncate.ts'
import type { JsonObject } from '../types/k8s.ts'
import type { ParamSpec } from '../types/tekton.ts'
import type { GroupStep, TaskGroupSpec, UsedTask, WorkspaceDeclaration } from './types.ts'
import { declarationProblems } from './validate.ts'

export interface Renames {
  params: Map<string, string>
  workspaces: Map<string, string>
}

export interface Declarations {
  params: ParamSpec[]
  workspaces: WorkspaceDeclaration[]
  results: JsonObject[]
  sidecars: JsonObject[]
  volumes: JsonObject[]
  /** By the index of the `uses` step: the used Task's names to rewrite to the group's. */
  renames: Map<number, Renames>
  problems: Problem[]
  warnings: string[]
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const named = <T>(list: unknown): (T & { name: string })[] =>
  asList<unknown>(list).filter((x): x is T & { name: string } => isJsonObject(x) && typeof x.name === 'string') as (T & { name: string })[]

/** A param's type as Tekton reads it: declared, else the default's shape, else string. */
function paramType(p: ParamSpec): string {
  if (typeof p.type === 'string' && p.type !== '') return p.type
  if (Array.isArray(p.default)) return 'array'
  if (isJsonObject(p.default)) return 'object'
  return 'string'
}

/** Names shown in one message; past them, a count. A message per bad binding, each listing a thousand names, grew with their product. */
const listedNames = 10

const listed = (names: readonly string[]): string => {
  if (names.length === 0) return 'none'
  const shown = names.slice(0, listedNames).map((n) => quoteValue(n, 60))
  return names.length > listedNames ? `${shown.join(', ')} and ${names.length - listedNames} more` : shown.join(', ')
}

/** By name, the first of each name (as a search of the list finds it): a binding is one lookup, not a walk. */
function firstByName<T extends { name: string }>(list: readonly T[]): Map<string, T> {
  const m = new Map<string, T>()
  for (const x of list) if (!m.has(x.name)) m.set(x.name, x)
  return m
}

/** `make`'s text, made when first asked for: a list is written into a message only when one needs it, and once. */
function lazy(make: () => string): () => string {
  let text: string | undefined
  return () => {
    text ??= make()
    return text
  }
}

/** Which earlier binding (by index) already bound `name`; records this one, `j`, when none did. */
function boundBefore(seen: Map<string, number>, name: string | undefined, j: number): number | undefined {
  if (name === undefined) return undefined
  const before = seen.get(name)
  if (before === undefined) seen.set(name, j)
  return before
}

/** Who declared what, for messages: `the group` or the used Task's id. */
type Owner = string

/** Adds `item` unless one of its name is declared already; then `clash` judges the two. */
function declare<T extends { name: string }>(
  into: T[],
  owners: Map<string, { spec: T; owner: Owner }>,
  item: T,
  owner: Owner,
  clash: (first: { spec: T; owner: Owner }) => void,
): void {
  const first = owners.get(item.name)
  if (first !== undefined) {
    clash(first)
    return
  }
  owners.set(item.name, { spec: item, owner })
  into.push(item)
}

export function mergeDeclarations(group: TaskGroupSpec, used: readonly UsedTask[]): Declarations {
  const out: Declarations = { params: [], workspaces: [], results: [], sidecars: [], volumes: [], renames: new Map(), problems: [], warnings: [] }
  const steps = asList<GroupStep>(group.steps)
  const paramOwner = new Map<string, { spec: ParamSpec; owner: Owner }>()
  const workspaceOwner = new Map<string, { spec: WorkspaceDeclaration; owner: Owner }>()
  for (const p of named<ParamSpec>(group.params)) declare(out.params, paramOwner, p, 'the group', () => {})
  for (const w of named<WorkspaceDeclaration>(group.workspaces)) declare(out.workspaces, workspaceOwner, w, 'the group', () => {})
  const byName = {
    results: new Map<string, Owner>(),
    sidecars: new Map<string, Owner>(),
    volumes: new Map<string, { volume: JsonObject; owner: Owner }>(),
  }
  const addOthers = (spec: UsedTask['spec'] | TaskGroupSpec, owner: Owner, at: string): void => {
    for (const r of named<JsonObject>(spec.results)) {
      const first = byName.results.get(r.name)
      if (first !== undefined)
        out.problems.push(problem(at, `result ${quoteValue(r.name)} is declared by ${first} and by ${owner}: both would write the same file`))
      else {
        byName.results.set(r.name, owner)
        out.results.push(r)
      }
    }
    for (const s of named<JsonObject>(spec.sidecars)) {
      const first = byName.sidecars.get(s.name)
      if (first !== undefined)
        out.problems.push(problem(at, `sidecar ${quoteValue(s.name)} is declared by ${first} and by ${owner}: a Pod's containers need distinct names`))
      else {
        byName.sidecars.set(s.name, owner)
        out.sidecars.push(s)
      }
    }
    for (const v of named<JsonObject>(spec.volumes)) {
      const first = byName.volumes.get(v.name)
      if (first === undefined) {
        byName.volumes.set(v.name, { volume: v, owner })
        out.volumes.push(v)
      } else if (canonicalJson(first.volume) !== canonicalJson(v))
        out.problems.push(problem(at, `volume ${quoteValue(v.name)} is declared differently by ${first.owner} and by ${owner}`))
    }
  }
  addOthers(group, 'the group', 'spec')

  // The group's own params and workspaces, for every used Task's bindings: looked up by name, listed once.
  const groupParamList = named<ParamSpec>(group.params)
  const groupWorkspaces = named<WorkspaceDeclaration>(group.workspaces)
  const groupParamsByName = firstByName(groupParamList)
  const groupWorkspacesByName = firstByName(groupWorkspaces)
  const groupParamNames = lazy(() => listed(groupParamList.map((p) => p.name)))
  const groupWorkspaceNames = lazy(() => listed(groupWorkspaces.map((w) => w.name)))

  for (const task of used) {
    const step = steps[task.index] ?? {}
    const at = `spec.steps[${task.index}].uses`
    const renames: Renames = { params: new Map(), workspaces: new Map() }
    out.renames.set(task.index, renames)
    // What the merge below takes by name, it would otherwise drop when nameless or keep the first of: a sidecar without
    // a name, which Tekton cannot name a container for, would vanish from the Task it belongs to.
    for (const p of declarationProblems(task.spec as Record<string, unknown>)) out.problems.push(problem(at, `${task.id}'s ${p.path}: ${p.message}`))
    const taskParams = named<ParamSpec>(task.spec.params)
    const taskWorkspaces = named<WorkspaceDeclaration>(task.spec.workspaces)
    const taskParamsByName = firstByName(taskParams)
    const taskWorkspacesByName = firstByName(taskWorkspaces)
    const taskParamNames = lazy(() => listed(taskParams.map((p) => p.name)))
    const taskWorkspaceNames = lazy(() => listed(taskWorkspaces.map((w) => w.name)))

    // A Task param bound twice: the last would silently win, and the group param the first named would be bound to nothing.
    const paramBound = new Map<string, number>()
    for (const [j, b] of asList<unknown>(step.uses?.parambindings).entries()) {
      const where = `${at}.parambindings[${j}]`
      const binding = isJsonObject(b) ? b : {}
      const name = str(binding.name)
      const param = str(binding.param)
      const fromSpec = name === undefined ? undefined : taskParamsByName.get(name)
      const toSpec = param === undefined ? undefined : groupParamsByName.get(param)
      const before = boundBefore(paramBound, name, j)
      if (before !== undefined)
        out.problems.push(problem(`${where}.name`, `${task.id}'s param ${quoteValue(name ?? '')} is bound already, by parambindings[${before}]`))
      else if (name === undefined || fromSpec === undefined)
        out.problems.push(problem(`${where}.name`, `${task.id} declares no param ${quoteValue(name ?? '')}; its params are ${taskParamNames()}`))
      else if (param === undefined || toSpec === undefined)
        out.problems.push(problem(`${where}.param`, `the group declares no param ${quoteValue(param ?? '')}; its params are ${groupParamNames()}`))
      else {
        // `$(params.x[*])` of an array bound to a string (or the reverse) is a reference Tekton refuses.
        const from = paramType(fromSpec)
        const to = paramType(toSpec)
        if (from !== to)
          out.problems.push(
            problem(
              `${where}.param`,
              `${task.id}'s param ${quoteValue(name)} is ${from}, the group's param ${quoteValue(param)} is ${to}: bind params of one type`,
            ),
          )
        else renames.params.set(name, param)
      }
    }
    const workspaceBound = new Map<string, number>()
    for (const [j, b] of asList<unknown>(step.uses?.workspacebindings).entries()) {
      const where = `${at}.workspacebindings[${j}]`
      const binding = isJsonObject(b) ? b : {}
      const name = str(binding.name)
      let target = str(binding.workspace)
      if (target === undefined && str(binding.param) !== undefined) {
        target = str(binding.param)
        out.warnings.push(`${where}: "param" is a deprecated spelling of "workspace" in a workspace binding (TEP-0142's example); write workspace: ${target}`)
      }
      const declared = name === undefined ? undefined : taskWorkspacesByName.get(name)
      const groupWorkspace = target === undefined ? undefined : groupWorkspacesByName.get(target)
      const before = boundBefore(workspaceBound, name, j)
      if (before !== undefined)
        out.problems.push(problem(`${where}.name`, `${task.id}'s workspace ${quoteValue(name ?? '')} is bound already, by workspacebindings[${before}]`))
      else if (name === undefined || declared === undefined)
        out.problems.push(problem(`${where}.name`, `${task.id} declares no workspace ${quoteValue(name ?? '')}; its workspaces are ${taskWorkspaceNames()}`))
      else if (target === undefined || groupWorkspace === undefined)
        out.problems.push(
          problem(`${where}.workspace`, `the group declares no workspace ${quoteValue(target ?? '')}; its workspaces are ${groupWorkspaceNames()}`),
        )
      else if (declared.mountPath !== undefined && groupWorkspace.mountPath !== declared.mountPath)
        out.problems.push(
          problem(
            `${where}.workspace`,
            `${task.id} mounts workspace ${quoteValue(name)} at ${quoteValue(declared.mountPath)}, where its steps expect it: the group's workspace ${quoteValue(target)} must declare mountPath: ${declared.mountPath}`,
          ),
        )
      else {
        renames.workspaces.set(name, target)
        // The group's declaration is the one the merged Task keeps. A used Task's readOnly it does not keep would let
        // that Task's steps write where they were meant only to read: said, not silently given up. (An optional one
        // the group requires is only stricter.)
        if (declared.readOnly === true && groupWorkspace.readOnly !== true) {
          out.warnings.push(
            `${where}: ${task.id} declares workspace ${quoteValue(name)} readOnly; the group's ${quoteValue(target)} is not, so its steps mount it writable`,
          )
        }
      }
    }

    for (const p of taskParams) {
      if (renames.params.has(p.name)) continue
      declare(out.params, paramOwner, p, task.id, (first) => {
        if (paramType(first.spec) !== paramType(p))
          out.problems.push(
            problem(
              at,
              `param ${quoteValue(p.name)} is ${paramType(first.spec)} in ${first.owner} and ${paramType(p)} in ${task.id}; bind one of them to another group param`,
            ),
          )
        // The merged Task keeps the first declaration: an object's keys the second reads would be undeclared there
        // (Tekton refuses such a reference), and its enum would judge values the second Task accepts.
        else if (canonicalJson(Object.keys(first.spec.properties ?? {}).sort()) !== canonicalJson(Object.keys(p.properties ?? {}).sort()))
          out.problems.push(
            problem(
              at,
              `param ${quoteValue(p.name)} is shared by ${first.owner} and ${task.id}, whose properties differ; bind one of them to another group param`,
            ),
          )
        else {
          if (canonicalJson(first.spec.default ?? null) !== canonicalJson(p.default ?? null))
            out.warnings.push(
              `${at}: param ${quoteValue(p.name)} is shared by ${first.owner} and ${task.id}, whose defaults differ; the first declaration's default is used`,
            )
          if (canonicalJson(first.spec.enum ?? null) !== canonicalJson(p.enum ?? null))
            out.warnings.push(
              `${at}: param ${quoteValue(p.name)} is shared by ${first.owner} and ${task.id}, whose enums differ; the first declaration's enum is used`,
            )
        }
      })
    }
    for (const w of taskWorkspaces) {
      if (renames.workspaces.has(w.name)) continue
      declare(out.workspaces, workspaceOwner, w, task.id, (first) => {
        const same = (k: 'readOnly' | 'optional'): boolean => (first.spec[k] ?? false) === (w[k] ?? false)
        if (first.spec.mountPath !== w.mountPath || !same('readOnly') || !same('optional'))
          out.problems.push(
            problem(at, `workspace ${quoteValue(w.name)} is declared by ${first.owner} and by ${task.id} with a different mountPath, readOnly or optional`),
          )
      })
    }
    addOthers(task.spec, task.id, at)
  }
  // Tekton refuses a Task whose workspaces share a mountPath: two used Tasks that each mount theirs at /root/.docker
  // would be merged, and Tekton's refusal would name neither.
  const mountedAt = new Map<string, string>()
  for (const w of out.workspaces) {
    if (typeof w.mountPath !== 'string' || w.mountPath === '') continue
    const other = mountedAt.get(w.mountPath)
    if (other === undefined) mountedAt.set(w.mountPath, w.name)
    else {
      const owner = (name: string): string => workspaceOwner.get(name)?.owner ?? 'the group'
      out.problems.push(
        problem(
          'spec.workspaces',
          `workspace ${quoteValue(other)} of ${owner(other)} and workspace ${quoteValue(w.name)} of ${owner(w.name)} are both mounted at ${quoteValue(w.mountPath)}: a Task's workspaces need distinct mountPaths; bind one to the other`,
        ),
      )
    }
  }
  return out
}
