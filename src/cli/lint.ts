// `stepsplice lint`: a catalog checked as a whole, for the CI of the
// repository that holds it. Every StepAction is validated as admission
// validates it; every Task and Pipeline there whose steps reference
// StepActions is spliced, as render would splice a run of it, against the
// catalog itself, so a name that is not there or a param the StepAction
// does not declare fails the build instead of a run.

import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { isStepActionDocument, validateStepAction } from '../definitions/definition.ts'
import { parseDocuments } from '../json/documents.ts'
import { isJsonObject } from '../json/values.ts'
import { namespaceOf, type SpliceDeps, spliceObject } from '../pipeline/splice.ts'
import { isPolicyDocument, validatePolicyObject } from '../policy/load.ts'
import { describeObject } from '../problems/describe.ts'
import { formatProblem, type Problem } from '../problems/problem.ts'
import { DirectoryCatalog } from '../resolution/directory.ts'
import { scanDirectories } from '../resolution/directory-scan.ts'
import type { KubeObject } from '../types/k8s.ts'
import { type CliIO, InputError, UsageError, fsReason, fsPath, type CommandModule } from './io.ts'
import { loadPolicyFlags, policyHelp, policyOptions } from './policy-flags.ts'
import { resolutionHelp, resolutionOptions, withSpliceDeps } from './resolution-flags.ts'

export const lintHelp = `Usage: stepsplice lint --catalog DIR [--catalog DIR...] [-n NAMESPACE]
                       [--policy PATH]

Checks a catalog of step definitions, as its repository's CI would: every
StepAction in the directories (Tekton's validation, as admission applies
it), a name defined in two files, files that do not parse; and every Task
and Pipeline there whose steps reference StepActions, spliced as a run of
it would be: each name must be in the catalog (or resolve through the
resolvers below), and each param a step passes must be one the StepAction
declares. Task and Pipeline params without a default stand for any value
of their type.

Prints every problem on stdout, one line each, then a summary line:
  FILE: KIND NAMESPACE/NAME: PATH: MESSAGE
A StepAction without a namespace, which serves every namespace, shows as
*/NAME. Warnings (a reference left for Tekton, a file skipped) go to stderr.
StepPolicy and ClusterStepPolicy objects in the directories are validated
as the cluster's validating webhook does; TaskGroups (custom.tekton.dev/
v1alpha1) too, then merged with the Tasks they use (as render writes them
out) and the merged Task checked like the others. With --policy, the Tasks and
Pipelines are judged by those policies, as runs of them would be at
admission: Enforce violations are problems, Audit ones warnings.

Options:
  --catalog DIR        directory of definitions, as render and serve read it
                       (repeatable, required)
  -n, --namespace NS   namespace Tasks and Pipelines that set none resolve
                       in (default: default)
${policyHelp}  -h, --help           show this help

${resolutionHelp}
Exit status: 0 when there is no problem, 1 when there is any, 2 for usage
errors and a directory that cannot be read.
`

interface Report {
  problems: string[]
  warnings: string[]
  stepActions: number
  policies: number
  taskGroups: number
  tasks: number
  pipelines: number
  skipped: number
}

const tektonVersions = new Set(['tekton.dev/v1', 'tekton.dev/v1beta1'])

/** A value for each declared param without a default, of its type: the run stands for every run of it. */
function placeholderParams(declared: unknown): { name: string; value: unknown }[] {
  if (!Array.isArray(declared)) return []
  return declared.flatMap((p) => {
    if (!isJsonObject(p) || typeof p.name !== 'string' || p.default !== undefined) return []
    const keys = isJsonObject(p.properties) ? Object.keys(p.properties) : []
    const value = p.type === 'array' ? [] : p.type === 'object' ? Object.fromEntries(keys.map((k) => [k, ''])) : ''
    return [{ name: p.name, value }]
  })
}

/** The run a Task or Pipeline document is checked as, and the field of the run that holds its spec. */
function runOf(doc: KubeObject): { run: KubeObject; field: string } | undefined {
  if (!isJsonObject(doc.spec)) return undefined
  const metadata = {
    name: typeof doc.metadata?.name === 'string' ? doc.metadata.name : 'lint',
    ...(doc.metadata?.namespace ? { namespace: doc.metadata.namespace } : {}),
  }
  const field = doc.kind === 'Task' ? 'taskSpec' : 'pipelineSpec'
  const kind = doc.kind === 'Task' ? 'TaskRun' : 'PipelineRun'
  return { run: { apiVersion: doc.apiVersion, kind, metadata, spec: { params: placeholderParams(doc.spec.params), [field]: doc.spec } }, field }
}

/** A run's paths as the Task's or Pipeline's: `spec.taskSpec.steps[0]` is the Task's `spec.steps[0]`. */
function asDocumentPath(text: string, field: string): string {
  const prefix = `spec.${field}`
  return text === prefix || text.startsWith(`${prefix}.`) || text.startsWith(`${prefix}[`) ? `spec${text.slice(prefix.length)}` : text
}

/** Lint asks for every local reference to resolve; the message need not send the reader to a flag they never passed. */
function withoutFlagHint(message: string): string {
  return message.replace(/; local references must resolve at admission \(--require-resolution\)$/, '')
}

async function checkRun(doc: KubeObject, label: string, file: string, fallbackNamespace: string, deps: SpliceDeps, report: Report): Promise<void> {
  const built = runOf(doc)
  if (built === undefined) return
  const result = await spliceObject(built.run, namespaceOf(doc, fallbackNamespace), deps)
  for (const p of result.problems) {
    const shown: Problem = { ...p, path: asDocumentPath(p.path, built.field), message: withoutFlagHint(p.message) }
    report.problems.push(`${file}: ${label}: ${formatProblem(shown)}`)
  }
  // A warning names its paths within its text (a policy's: `policy X (Audit): spec.taskSpec.steps[0]: …`).
  const inText = new RegExp(`(^|[\\s(])spec\\.${built.field}(?=[.[:\\s]|$)`, 'g')
  for (const w of result.warnings) report.warnings.push(`${file}: ${label}: ${w.replace(inText, '$1spec')}`)
}

async function lintFile(path: string, fallbackNamespace: string, deps: SpliceDeps, seen: Map<string, string>, report: Report): Promise<void> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    report.problems.push(`${path}: cannot read: ${fsReason(err)}`)
    return
  }
  const parsed = parseDocuments(text, path)
  report.problems.push(...parsed.errors)
  for (const [i, doc] of parsed.documents.entries()) {
    if (!isJsonObject(doc)) {
      report.skipped++
      continue
    }
    const object = doc as KubeObject
    const named = typeof object.metadata?.name === 'string' && object.metadata.name !== ''
    if (object.kind === 'TaskGroup' && String(object.apiVersion).startsWith('custom.tekton.dev/')) {
      report.taskGroups++
      const label = `${describeObject(doc, namespaceOf(object, fallbackNamespace))}${named ? '' : ` (document ${i + 1})`}`
      // Checked as written, then merged with the Tasks it uses as render writes it out, and that Task linted like the others.
      const merged = await spliceObject(object, namespaceOf(object, fallbackNamespace), deps, { groupsAsTasks: true })
      for (const p of merged.problems) report.problems.push(`${path}: ${label}: ${formatProblem(p)}`)
      for (const w of merged.warnings) report.warnings.push(`${path}: ${label}: ${w}`)
      if (merged.changed) await checkRun(merged.object, label, path, fallbackNamespace, deps, report)
    } else if (isPolicyDocument(doc)) {
      report.policies++
      const ns = object.kind === 'StepPolicy' && typeof object.metadata?.namespace === 'string' ? `${object.metadata.namespace}/` : ''
      const label = `${String(object.kind)} ${ns}${named ? object.metadata?.name : `(document ${i + 1})`}`
      for (const problem of validatePolicyObject(doc)) report.problems.push(`${path}: ${label}: ${problem}`)
    } else if (isStepActionDocument(doc)) {
      report.stepActions++
      const label = `${describeObject(doc, '*')}${named ? '' : ` (document ${i + 1})`}`
      for (const p of validateStepAction(doc)) report.problems.push(`${path}: ${label}: ${formatProblem(p)}`)
      if (!named) continue
      // Keyed as the catalog keys them: the same name in the same namespace, or both without one.
      const key = `${object.metadata?.namespace ?? ''}/${object.metadata?.name}`
      const first = seen.get(key)
      if (first === undefined) seen.set(key, path)
      else report.problems.push(`${path}: ${label}: defined more than once, in ${first} and ${path}`)
    } else if ((object.kind === 'Task' || object.kind === 'Pipeline') && tektonVersions.has(String(object.apiVersion))) {
      if (object.kind === 'Task') report.tasks++
      else report.pipelines++
      const label = `${describeObject(doc, namespaceOf(object, fallbackNamespace))}${named ? '' : ` (document ${i + 1})`}`
      await checkRun(object, label, path, fallbackNamespace, deps, report)
    } else report.skipped++
  }
}

function count(n: number, one: string): string {
  return `${n} ${one}${n === 1 ? '' : 's'}`
}

export async function runLint(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      catalog: { type: 'string', multiple: true },
      namespace: { type: 'string', short: 'n', default: 'default' },
      ...resolutionOptions,
      ...policyOptions,
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    io.stdout(lintHelp)
    return 0
  }
  const directories = values.catalog ?? []
  if (directories.includes('')) throw new UsageError('--catalog needs a directory')
  if (directories.length === 0) throw new UsageError('at least one --catalog DIR is required')
  let catalog: DirectoryCatalog
  let scan: Awaited<ReturnType<typeof scanDirectories>>
  try {
    // The catalog the runs are spliced against, and the files to check: the same listing, read the same way.
    catalog = await DirectoryCatalog.load(directories)
    scan = await scanDirectories(directories)
  } catch (err) {
    throw new InputError(`cannot read catalog ${fsPath(err) ?? directories.join(', ')}: ${fsReason(err)}`)
  }
  const policies = await loadPolicyFlags(values.policy)
  const report: Report = { problems: [], warnings: [...scan.warnings], stepActions: 0, policies: 0, taskGroups: 0, tasks: 0, pipelines: 0, skipped: 0 }
  for (const d of scan.unreadableDirectories) report.problems.push(`${d.path}: ${d.error}`)
  const seen = new Map<string, string>()
  await withSpliceDeps(values, { catalog, origin: directories.join(', ') }, { require: ['local'] }, async (resolving) => {
    const deps: SpliceDeps = policies === undefined ? resolving : { ...resolving, policies }
    for (const file of scan.files) {
      if (file.error !== undefined) report.problems.push(`${file.path}: ${file.error}`)
      else await lintFile(file.path, values.namespace, deps, seen, report)
    }
  })
  for (const w of report.warnings) io.stderr(`Warning: ${w}\n`)
  for (const p of report.problems) io.stdout(`${p}\n`)
  const policyCount =
    (report.taskGroups === 0 ? '' : `, ${count(report.taskGroups, 'TaskGroup')}`) +
    (report.policies === 0 ? '' : `, ${count(report.policies, 'policy object')}`)
  const checked = `${count(report.stepActions, 'StepAction')}${policyCount}, ${count(report.tasks, 'Task')} and ${count(report.pipelines, 'Pipeline')} in ${count(scan.files.length, 'file')}`
  const skipped = report.skipped === 0 ? '' : ` (${count(report.skipped, 'other document')} skipped)`
  io.stdout(`stepsplice lint: ${checked}${skipped}: ${report.problems.length === 0 ? 'no problems' : count(report.problems.length, 'problem')}\n`)
  return report.problems.length === 0 ? 0 : 1
}

export const command: CommandModule = { run: runLint, help: lintHelp }
