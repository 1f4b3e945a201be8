// The directory catalog: every StepAction in the YAML and JSON files under one
// or more directories, read once at load. A file that does not parse or a
// document that is not a StepAction is reported and skipped; it never stops
// the load, because one bad file must not take every other step down with it.

import { readdir, readFile } from 'node:fs/promises'
import { extname, join } from 'node:path'
import { MemoryCatalog } from './memory.ts'
import { parseDocuments } from '../json/documents.ts'
import { type Definition, isStepActionDocument, toDefinition } from '../definitions/definition.ts'
import type { StepAction } from '../types/tekton.ts'

const documentExtensions = new Set(['.yaml', '.yml', '.json'])

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries
    .filter((e) => e.isFile() && documentExtensions.has(extname(e.name)))
    .map((e) => join(e.parentPath, e.name))
    .sort()
}

function describeKind(doc: unknown): string {
  const kind = typeof doc === 'object' && doc !== null ? (doc as { kind?: unknown }).kind : undefined
  return typeof kind === 'string' ? `kind ${kind}` : 'a document without a kind'
}

export class DirectoryCatalog extends MemoryCatalog {
  /** Things skipped while loading, one line each, for the log or stderr. */
  readonly loadWarnings: string[] = []

  /** Fails only when a directory itself cannot be read. */
  static async load(directories: readonly string[]): Promise<DirectoryCatalog> {
    const catalog = new DirectoryCatalog(directories.join(', '))
    for (const dir of directories) {
      for (const file of await listFiles(dir)) await catalog.#loadFile(file)
    }
    return catalog
  }

  async #loadFile(file: string): Promise<void> {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      this.loadWarnings.push(`${file}: cannot read: ${(err as Error).message}`)
      return
    }
    const { documents, errors } = parseDocuments(text, file)
    this.loadWarnings.push(...errors)
    documents.forEach((doc, i) => {
      if (!isStepActionDocument(doc)) {
        this.loadWarnings.push(`${file}: document ${i + 1} skipped: ${describeKind(doc)}, not StepAction`)
        return
      }
      this.#add(toDefinition(doc as StepAction, { kind: 'directory', location: file }))
    })
  }

  #add(definition: Definition): void {
    const previous = this.put(definition)
    if (previous === undefined) return
    // Two files defining the same step is ambiguous; using either would be a guess.
    const where = `${previous.source.location} and ${definition.source.location}`
    this.put({ ...definition, problems: [{ path: '', message: `defined more than once, in ${where}` }] })
    this.loadWarnings.push(`StepAction ${definition.namespace ?? '*'}/${definition.name} is defined more than once: ${where}`)
  }
}
