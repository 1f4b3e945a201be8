// `stepsplice pin`: rewrites remote references so they name what never
// changes. A git revision that is a branch or a tag becomes the commit it
// names now (the branch or tag kept as a comment beside it); an http
// reference gains the `digest` of what its URL serves now; a bundle by tag
// gains the digest of the manifest the tag names. Every other byte of the
// file stays as it was: the document is parsed for where things are, and
// only the values are edited in the text, in the style written (quoted or
// plain, block or flow).
//
// A reference that is already pinned is checked, not rewritten: an http
// digest that no longer matches is reported. What pinning cannot look up (a
// value known only at run time, a Secret, a remote that fails) is reported
// and left as it is.

import { isCollection, parse, parseAllDocuments, type Scalar } from 'yaml'
import { isFullCommit } from '../remote/git.ts'
import { parseImageReference } from '../remote/image-reference.ts'
import { bundlesRequest } from '../resolvers/bundles.ts'
import { gitRequest } from '../resolvers/git.ts'
import { httpRequest } from '../resolvers/http.ts'
import { paramValues, type ResolverRef, resolverRefs } from './refs.ts'

/** Looks things up for a pin; the CLI gives the real remotes, tests may too. */
export interface Pinner {
  /** The full commit `revision` names in the repository at `url`. */
  gitCommit(url: string, revision: string): Promise<string>
  /** `sha256:…` of what `url` serves (status 200 only). */
  httpDigest(url: string, algorithm: 'sha256' | 'sha512'): Promise<string>
  /** `sha256:…` of the manifest `bundle` names. */
  bundleDigest(bundle: string): Promise<string>
  defaults?: { defaultRevision?: string; defaultUrl?: string }
  /** Move pins forward: a commit to what the branch or tag in its comment names now, a digest to what its URL or tag serves now. */
  update?: boolean
}

export interface PinChange {
  path: string
  /** `git revision main → 3f7c0a5e…` */
  what: string
}

export interface PinProblem {
  path: string
  message: string
}

export interface PinResult {
  text: string
  changed: boolean
  changes: PinChange[]
  /** References that could not be pinned, or whose pin no longer holds. */
  problems: PinProblem[]
}

/** Pins every resolver reference of a YAML (or JSON) stream; `source` names it in parse errors. */
export async function pinText(text: string, source: string, pinner: Pinner): Promise<PinResult> {
  const docs = parseAllDocuments(text)
  if (!Array.isArray(docs)) return { text, changed: false, changes: [], problems: [] }
  const parseErrors = docs.flatMap((d) => d.errors).map((e) => ({ path: '', message: `${source}: ${e.message}` }))
  if (parseErrors.length > 0) return { text, changed: false, changes: [], problems: parseErrors }
  const changes: PinChange[] = []
  const problems: PinProblem[] = []
  const edits: Edit[] = []
  for (const [i, doc] of docs.entries()) {
    const prefix = docs.length > 1 ? `document ${i + 1}: ` : ''
    // The references of one document are looked up together; one that fails does not stop the others.
    const refs = resolverRefs(doc)
    const outcomes = await Promise.all(refs.map((ref) => pinRef(text, ref, pinner)))
    for (const [j, outcome] of outcomes.entries()) {
      const path = `${prefix}${(refs[j] as ResolverRef).path}`
      if (outcome === undefined) continue
      if ('problem' in outcome) problems.push({ path, message: outcome.problem })
      else {
        changes.push({ path, what: outcome.change })
        edits.push(...outcome.edits)
      }
    }
  }
  if (edits.length === 0) return { text, changed: false, changes, problems }
  return { text: applyEdits(text, edits), changed: true, changes, problems }
}

/** Replace `text.slice(at, end)` with `insert`. */
interface Edit {
  at: number
  end: number
  insert: string
}

function applyEdits(text: string, edits: Edit[]): string {
  let out = text
  for (const e of [...edits].sort((a, b) => b.at - a.at)) out = out.slice(0, e.at) + e.insert + out.slice(e.end)
  return out
}

/** A scalar's value replaced, quoted as it was written (plain only where it reads back as the same string). */
function replaceScalar(node: Scalar, value: string): Edit {
  const [at, end] = node.range ?? [0, 0]
  if (node.type === 'QUOTE_SINGLE') return { at, end, insert: `'${value.replaceAll("'", "''")}'` }
  return { at, end, insert: node.type === 'QUOTE_DOUBLE' ? JSON.stringify(value) : yamlString(value) }
}

/** Plain where it reads back as the same string (`sha256:…`, a commit), quoted where it would not (`1e10`, `true`). */
function yamlString(value: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$/.test(value) && parse(value) === value ? value : JSON.stringify(value)
}

/** A comment after a block scalar, when its line has none (in flow style a comment would end the line's collection). */
function commentAfter(text: string, node: Scalar, comment: string): Edit[] {
  const end = node.range?.[1] ?? 0
  const lineEnd = text.indexOf('\n', end)
  const rest = text.slice(end, lineEnd < 0 ? text.length : lineEnd)
  if (rest.trim() !== '' || node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') return []
  return [{ at: end, end, insert: ` # ${comment}` }]
}

/** A `{name, value}` entry appended to a params list, in the list's own style. */
function appendParam(text: string, ref: ResolverRef, name: string, value: string): Edit | undefined {
  const list = ref.list
  const last = list.items.at(-1) as { range?: [number, number, number] | null; flow?: boolean } | undefined
  const lastRange = last?.range
  if (last === undefined || lastRange === undefined || lastRange === null) return undefined
  // JSON stays JSON: an entry written with quoted keys gets a sibling written the same way.
  const json = /^\{\s*"/.test(text.slice(lastRange[0], lastRange[1]))
  const entry = json ? `{"name": ${JSON.stringify(name)}, "value": ${JSON.stringify(value)}}` : `{ name: ${name}, value: ${yamlString(value)} }`
  if (list.flow === true) return { at: lastRange[1], end: lastRange[1], insert: `, ${entry}` }
  // Block list: a new `- ` line at the column of the last one, after that entry's last line.
  const lineStart = text.lastIndexOf('\n', lastRange[0] - 1) + 1
  const lead = text.slice(lineStart, lastRange[0])
  if (!/^[ ]*-[ ]+$/.test(lead)) return undefined
  const lineEnd = text.indexOf('\n', Math.max(lastRange[1] - 1, lastRange[0]))
  const at = lineEnd < 0 ? text.length : lineEnd
  const indent = ' '.repeat(lead.length)
  const body = isCollection(last) && last.flow !== true ? `name: ${name}\n${indent}value: ${yamlString(value)}` : entry
  return { at, end: at, insert: `\n${lead}${body}` }
}

type Outcome = { change: string; edits: Edit[] } | { problem: string } | undefined

async function pinRef(text: string, ref: ResolverRef, pinner: Pinner): Promise<Outcome> {
  const params = paramValues(ref)
  for (const [name, value] of params) {
    if (value.includes('$(')) return { problem: `param ${JSON.stringify(name)} holds ${value}, which has a value only when the run starts: not pinned` }
  }
  try {
    switch (ref.resolver) {
      case 'git':
        return await pinGit(text, ref, params, pinner)
      case 'http':
        return await pinHttp(text, ref, params, pinner)
      case 'bundles':
        return await pinBundle(ref, params, pinner)
      default:
        return undefined
    }
  } catch (err) {
    return { problem: (err as Error).message }
  }
}

async function pinGit(text: string, ref: ResolverRef, params: Map<string, string>, pinner: Pinner): Promise<Outcome> {
  const request = gitRequest(params, pinner.defaults ?? {})
  if (!('url' in request)) return { problem: 'error' in request ? request.error : 'unresolved' in request ? request.unresolved : 'not a git reference' }
  const node = ref.params.find((p) => p.name === 'revision')?.value
  if (isFullCommit(request.revision)) {
    // Updating: the branch or tag the comment names (as pin wrote it) is asked again.
    const named = pinner.update === true && node !== undefined ? commentOf(text, node) : undefined
    if (named === undefined || named.startsWith('-')) return undefined
    const commit = await pinner.gitCommit(request.url, named)
    if (commit === request.revision) return undefined
    return { change: `git revision ${named}: ${request.revision} → ${commit}`, edits: [replaceScalar(node as Scalar, commit)] }
  }
  const commit = await pinner.gitCommit(request.url, request.revision)
  if (node === undefined) return { problem: 'git: the revision is not a plain string: not pinned' }
  // What was pinned stays readable, and says what to bump it from.
  return { change: `git revision ${request.revision} → ${commit}`, edits: [replaceScalar(node, commit), ...commentAfter(text, node, request.revision)] }
}

/** The one word of a `# main` comment on the scalar's own line. */
function commentOf(text: string, node: Scalar): string | undefined {
  const end = node.range?.[1] ?? 0
  const lineEnd = text.indexOf('\n', end)
  const m = /^\s+#\s*(\S+)\s*$/.exec(text.slice(end, lineEnd < 0 ? text.length : lineEnd))
  return m?.[1]
}

async function pinHttp(text: string, ref: ResolverRef, params: Map<string, string>, pinner: Pinner): Promise<Outcome> {
  const request = httpRequest(params)
  if (!('url' in request)) return { problem: 'error' in request ? request.error : 'unresolved' in request ? request.unresolved : 'not an http reference' }
  if (request.digest !== undefined) {
    const now = await pinner.httpDigest(request.url, request.digest.algorithm)
    const pinned = `${request.digest.algorithm}:${request.digest.hex}`
    if (now === pinned) return undefined
    const node = ref.params.find((p) => p.name === 'digest')?.value
    if (pinner.update !== true || node === undefined) return { problem: `http: ${request.url} now serves ${now}, not the pinned ${pinned}` }
    return { change: `http digest ${pinned} → ${now}`, edits: [replaceScalar(node, now)] }
  }
  const digest = await pinner.httpDigest(request.url, 'sha256')
  const edit = appendParam(text, ref, 'digest', digest)
  if (edit === undefined) return { problem: 'http: the params list is written in a way pin does not edit: add the digest by hand' }
  return { change: `http digest ${digest}`, edits: [edit] }
}

async function pinBundle(ref: ResolverRef, params: Map<string, string>, pinner: Pinner): Promise<Outcome> {
  const request = bundlesRequest(params)
  if (!('bundle' in request) && 'error' in request) return { problem: request.error }
  const bundle = params.get('bundle') ?? ''
  const parsed = parseImageReference(bundle)
  if ('error' in parsed) return undefined
  const node = ref.params.find((p) => p.name === 'bundle')?.value
  if (parsed.digest !== undefined) {
    // Updating: the tag written beside the digest is asked again.
    const tagged = bundle.slice(0, bundle.lastIndexOf('@'))
    if (pinner.update !== true || node === undefined || !/:[^/]+$/.test(tagged)) return undefined
    const now = await pinner.bundleDigest(tagged)
    if (now === parsed.digest) return undefined
    return { change: `bundle ${tagged}: @${parsed.digest} → @${now}`, edits: [replaceScalar(node, `${tagged}@${now}`)] }
  }
  const digest = await pinner.bundleDigest(bundle)
  if (node === undefined) return { problem: 'bundles: the bundle is not a plain string: not pinned' }
  // The tag stays beside the digest, which wins: readable, and bumpable by tools that know the form.
  return { change: `bundle ${bundle} → @${digest}`, edits: [replaceScalar(node, `${bundle}@${digest}`)] }
}
