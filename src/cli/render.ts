// `stepsplice render`: the offline twin of admission. It runs the same
// splice as the webhook, so what it prints is what the cluster would store.

import { isJsonObject } from '../json/values.ts'
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { DirectoryCatalog } from '../resolution/directory.ts'
import { defaultPrepareImage } from '../pods/expand.ts'
import { describeObject } from '../problems/describe.ts'
import { boundWarnings, problemLines } from '../limits/report.ts'
import { namespaceOf, spliceObject, type SpliceDeps } from '../pipeline/splice.ts'
import { formatDocuments, type OutputFormat, parseDocuments } from '../json/documents.ts'
import type { KubeObject } from '../types/k8s.ts'
import { unifiedDiff } from './diff.ts'
import { type CliIO, InputError, UsageError, fsReason, fsPath, type CommandModule } from './io.ts'
import { loadPolicyFlags, policyHelp, policyOptions } from './policy-flags.ts'
import { resolutionHelp, resolutionOptions, withSpliceDeps } from './resolution-flags.ts'

export const renderHelp = `Usage: stepsplice render --catalog DIR [--catalog DIR...] [-f FILE|-]...
                         [-o yaml|json] [--diff] [-n NAMESPACE]

Expands every step reference in TaskRuns and PipelineRuns (inline specs), and
the stepsplice.dev/steps of Pods and of the Pod templates of Jobs, CronJobs,
Deployments, StatefulSets, DaemonSets and ReplicaSets. Merges TaskGroups
(custom.tekton.dev/v1alpha1) into the runs that reference or inline them, and
prints a TaskGroup object as the tekton.dev/v1 Task it stands for. Prints all
objects in input order; other objects are printed unchanged.

Options:
  --catalog DIR      directory of StepAction, Task and TaskGroup YAML/JSON
                     files (repeatable, required)
  -f, --filename F   file to read, or - for stdin (repeatable; default: stdin)
  -o, --output FMT   yaml (default) or json; json prints one object, or an
                     array when there are several
  --diff             print what admission changes instead: a unified diff of
                     each object as read and as expanded (in the -o format),
                     headed --- a/KIND/NAME, +++ b/KIND/NAME; an object
                     admission leaves as it is prints nothing. Exit 0 all the
                     same
  -n, --namespace NS namespace for objects that set none (default: default)
  --prepare-image IMG  image of the init container that writes Pod step
                     scripts, as the webhook's flag (default ${defaultPrepareImage})
${policyHelp}  -h, --help         show this help

${resolutionHelp}
References resolve as the webhook's do, with the same flags: a reference
render cannot resolve is left as written, with a warning, in a TaskRun or
PipelineRun, and is an error in a Pod.

Exit status: 0 success, 1 when any object has errors (all are printed on
stderr, nothing on stdout), 2 for usage errors and unreadable input.
`

async function readInput(name: string, io: CliIO): Promise<string> {
  if (name === '-') return io.readStdin()
  try {
    return await readFile(name, 'utf8')
  } catch (err) {
    throw new InputError(`cannot read ${name}: ${fsReason(err)}`)
  }
}

/** `KIND/NAME` in a diff's headers: the name, else the generateName, else the document's place in the input. */
function diffName(doc: unknown, place: string): string {
  const o = isJsonObject(doc) ? doc : {}
  const meta = isJsonObject(o.metadata) ? o.metadata : {}
  const kind = typeof o.kind === 'string' && o.kind !== '' ? o.kind : 'object'
  const name = [meta.name, meta.generateName].find((n): n is string => typeof n === 'string' && n !== '') ?? `document-${place}`
  return `${kind}/${name}`
}

/** A diff per object: a List's items each, paired by position as render keeps them. */
function diffObjects(before: unknown, after: unknown, format: OutputFormat, place: string): string {
  if (isJsonObject(before) && isJsonObject(after) && Array.isArray(before.items) && Array.isArray(after.items) && before.items.length === after.items.length) {
    const items = after.items
    const kind = before.kind
    if (typeof kind === 'string' && kind.endsWith('List'))
      return before.items.map((item, i) => diffObjects(item, items[i], format, `${place}.${i + 1}`)).join('')
  }
  const name = diffName(before, place)
  return unifiedDiff(formatDocuments([before], format), formatDocuments([after], format), { from: `a/${name}`, to: `b/${name}` })
}

function isKubeObject(v: unknown): v is KubeObject {
  return isJsonObject(v)
}

interface Rendered {
  out: unknown
  errors: string[]
  warnings: string[]
}

/** Expands one document; a `…List` expands each of its items. */
async function renderDocument(doc: unknown, index: number, namespace: string, deps: SpliceDeps): Promise<Rendered> {
  if (!isKubeObject(doc)) return { out: doc, errors: [], warnings: [] }
  if (typeof doc.kind === 'string' && doc.kind.endsWith('List') && Array.isArray(doc.items)) {
    const items = await Promise.all(doc.items.map((item, i) => renderDocument(item, i, namespace, deps)))
    return {
      out: { ...doc, items: items.map((i) => i.out) },
      errors: items.flatMap((i) => i.errors),
      warnings: items.flatMap((i) => i.warnings),
    }
  }
  const ns = namespaceOf(doc, namespace)
  const result = await spliceObject(doc, ns, deps, { includeWorkloads: true, groupsAsTasks: true })
  // Named as the webhook names it, so render's errors and a denial read the same.
  const label = doc.metadata?.name || doc.metadata?.generateName ? describeObject(doc, ns) : `${describeObject(doc, ns)} (document ${index + 1})`
  return {
    out: result.object,
    errors: problemLines(result.problems, label),
    warnings: boundWarnings(result.warnings).map((w) => `${label}: ${w}`),
  }
}

export async function runRender(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      catalog: { type: 'string', multiple: true },
      filename: { type: 'string', short: 'f', multiple: true },
      output: { type: 'string', short: 'o', default: 'yaml' },
      diff: { type: 'boolean' },
      namespace: { type: 'string', short: 'n', default: 'default' },
      'prepare-image': { type: 'string', default: defaultPrepareImage },
      ...resolutionOptions,
      ...policyOptions,
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    io.stdout(renderHelp)
    return 0
  }
  if (values.output !== 'yaml' && values.output !== 'json') throw new UsageError(`--output must be yaml or json, not ${JSON.stringify(values.output)}`)
  const format: OutputFormat = values.output
  const catalogs = values.catalog ?? []
  if (catalogs.includes('')) throw new UsageError('--catalog needs a directory')
  if (catalogs.length === 0) throw new UsageError('at least one --catalog DIR is required')
  let catalog: DirectoryCatalog
  try {
    catalog = await DirectoryCatalog.load(catalogs)
  } catch (err) {
    throw new InputError(`cannot read catalog ${fsPath(err) ?? catalogs.join(', ')}: ${fsReason(err)}`)
  }
  for (const w of catalog.loadWarnings) io.stderr(`Warning: ${w}\n`)
  // Invalid StepActions are said at load too, not only when a step references one (parse failures are among the warnings above).
  for (const r of catalog
    .brokenDefinitions()
    .filter((b) => b.kind === 'invalid')
    .slice(0, 100)) {
    io.stderr(`Warning: ${r.file ?? ''}: StepAction ${r.definitions?.join(', ') ?? r.name ?? ''} is invalid: ${r.errors.join('; ')}\n`)
  }

  // The same catalog the webhook answers with: by name, or through the cluster resolver into a shared namespace.
  const layer = { catalog, origin: catalogs.join(', ') }
  const policies = await loadPolicyFlags(values.policy)
  const { documents, rendered } = await withSpliceDeps(
    values,
    layer,
    { prepareImage: values['prepare-image'], ...(policies === undefined ? {} : { policies }) },
    async (deps) => {
      const names = values.filename ?? ['-']
      // Someone at a terminal who forgot -f would otherwise face a silent wait.
      if (values.filename === undefined && io.stdinIsTTY === true)
        io.stderr('stepsplice render: reading objects from stdin (end with Ctrl-D; -f FILE reads a file)\n')
      const documents: unknown[] = []
      for (const name of names) {
        const parsed = parseDocuments(await readInput(name, io), name === '-' ? '<stdin>' : name)
        // One line each, as every error is printed ("error: " starts each).
        if (parsed.errors.length > 0) throw new InputError(parsed.errors.join('\nerror: '))
        documents.push(...parsed.documents)
      }
      return { documents, rendered: await Promise.all(documents.map((d, i) => renderDocument(d, i, values.namespace, deps))) }
    },
  )
  for (const w of rendered.flatMap((r) => r.warnings)) io.stderr(`Warning: ${w}\n`)
  const errors = rendered.flatMap((r) => r.errors)
  if (errors.length > 0) {
    for (const e of errors) io.stderr(`error: ${e}\n`)
    return 1
  }
  if (values.diff === true) {
    io.stdout(rendered.map((r, i) => diffObjects(documents[i], r.out, format, String(i + 1))).join(''))
    return 0
  }
  io.stdout(
    formatDocuments(
      rendered.map((r) => r.out),
      format,
    ),
  )
  return 0
}

export const command: CommandModule = { run: runRender, help: renderHelp }
