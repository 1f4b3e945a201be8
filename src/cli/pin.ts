// `stepsplice pin`: remote references rewritten to what never changes, in
// place or to stdout, with comments and layout kept (pinning/pin.ts).

import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { pinText } from '../pinning/pin.ts'
import { remotePinner } from '../pinning/remote-pinner.ts'
import { Transport } from '../remote/transport.ts'
import { parseDuration } from './duration.ts'
import { type CliIO, InputError, UsageError, fsReason, type CommandModule } from './io.ts'
import { userAgent } from './version.ts'

export const pinHelp = `Usage: stepsplice pin -f FILE [-f FILE...] [-i]

Rewrites remote references (a step's ref, a taskRef, a pipelineRef) so they
name what never changes, keeping the YAML's comments and layout:
  git      a revision that is a branch or tag becomes the full commit it names
           now, the branch or tag kept as a comment beside it
  http     a url without digest gains param digest: sha256:<hex> of its body
  bundles  a bundle by tag gains @sha256:<digest> of the manifest the tag names
A reference already pinned is checked: an http digest that no longer matches
is reported. With --update, pins move forward instead: a commit to what the
branch or tag in its comment names now, a bundle digest to what the tag
beside it names now, an http digest to what the URL serves now. References
with $(...) in their params, or that need a Secret, are reported and left as
they are.

Options:
  -f, --filename F   file to pin, or - for stdin (repeatable; default: stdin)
  -i, --in-place     rewrite each file (stdin: printed); default: print all
                     to stdout
  -u, --update       move existing pins forward (see above)
  --remote-host HOST hosts that may be asked (repeatable; default any)
  --remote-ca FILE   PEM certificates trusted besides the system's
  --remote-plain-http  also ask http:// URLs
  --remote-timeout DUR one lookup (default 30s)
  --git-default-revision REV, --git-default-url URL  as Tekton's
                     git-resolver-config, for refs that leave them out
  -h, --help         show this help

Each pin is listed on stderr. Exit status: 0 when every reference is pinned,
1 when any could not be (the rest are still pinned and written), 2 for usage
errors and unreadable input.
`

export async function runPin(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      filename: { type: 'string', short: 'f', multiple: true },
      'in-place': { type: 'boolean', short: 'i' },
      update: { type: 'boolean', short: 'u' },
      'remote-host': { type: 'string', multiple: true },
      'remote-ca': { type: 'string' },
      'remote-plain-http': { type: 'boolean' },
      'remote-timeout': { type: 'string', default: '30s' },
      'git-default-revision': { type: 'string' },
      'git-default-url': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    io.stdout(pinHelp)
    return 0
  }
  const timeoutMs = parseDuration(values['remote-timeout'])
  if (timeoutMs === undefined || timeoutMs <= 0)
    throw new UsageError(`--remote-timeout must be a duration such as 30s, not ${JSON.stringify(values['remote-timeout'])}`)
  let extraCa: string | undefined
  if (values['remote-ca'] !== undefined) {
    extraCa = await readFile(values['remote-ca'], 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new InputError(`cannot read --remote-ca ${values['remote-ca']}: ${fsReason(err)}`)
    })
  }
  const names = values.filename ?? ['-']
  if (values.filename === undefined && io.stdinIsTTY === true) io.stderr('stepsplice pin: reading from stdin (end with Ctrl-D; -f FILE reads a file)\n')
  const inputs: { name: string; text: string }[] = []
  for (const name of names) {
    try {
      inputs.push({ name, text: name === '-' ? await io.readStdin() : await readFile(name, 'utf8') })
    } catch (err) {
      throw new InputError(`cannot read ${name}: ${fsReason(err)}`)
    }
  }
  const cacheDir = await mkdtemp(join(tmpdir(), 'stepsplice-pin-'))
  try {
    const pinner = remotePinner({
      transport: new Transport({
        hosts: (values['remote-host'] ?? []).flatMap((h) => h.split(',')).filter((h) => h !== ''),
        allowPlainHttp: values['remote-plain-http'] === true,
        userAgent,
        ...(extraCa === undefined ? {} : { extraCa }),
      }),
      cacheDir,
      timeoutMs,
      update: values.update === true,
      defaults: {
        ...(values['git-default-revision'] === undefined ? {} : { defaultRevision: values['git-default-revision'] }),
        ...(values['git-default-url'] === undefined ? {} : { defaultUrl: values['git-default-url'] }),
      },
    })
    let failed = false
    const printed: string[] = []
    for (const { name, text } of inputs) {
      const shown = name === '-' ? '<stdin>' : name
      const result = await pinText(text, shown, pinner)
      for (const c of result.changes) io.stderr(`pinned ${shown}: ${c.path}: ${c.what}\n`)
      for (const p of result.problems) io.stderr(`error: ${shown}: ${p.path === '' ? '' : `${p.path}: `}${p.message}\n`)
      failed ||= result.problems.length > 0
      if (values['in-place'] === true && name !== '-') {
        if (result.changed) await replaceFile(name, result.text)
      } else printed.push(result.text)
    }
    io.stdout(printed.map((t, i) => (i > 0 && !t.startsWith('---') ? `---\n${t}` : t)).join(''))
    return failed ? 1 : 0
  } finally {
    await rm(cacheDir, { recursive: true, force: true })
  }
}

/** Written beside it, then renamed over it: a reader never sees half a file. */
async function replaceFile(name: string, text: string): Promise<void> {
  const temporary = join(dirname(name), `.stepsplice-pin-${process.pid}.tmp`)
  await writeFile(temporary, text)
  await rename(temporary, name)
}

export const command: CommandModule = { run: runPin, help: pinHelp }
