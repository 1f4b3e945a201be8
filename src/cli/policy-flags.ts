// `--policy FILE|DIR`, shared by `serve` and `render`: step policies read
// from files, so a policy is tried offline exactly as admission applies it.
// An invalid policy stops the command with every error of every file: a
// policy that silently failed to load would admit what it should deny.

import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { parseDocuments } from '../json/documents.ts'
import { readPolicies } from '../policy/load.ts'
import type { LoadedPolicy } from '../policy/types.ts'
import { InputError, fsReason } from './io.ts'

export const policyOptions = {
  policy: { type: 'string', multiple: true },
} as const

export const policyHelp = `  --policy PATH        StepPolicy and ClusterStepPolicy objects
                       (stepsplice.dev/v1alpha1) from a YAML/JSON file or a
                       directory of them (repeatable); see docs/policies.md
`

/** Past this many files under one --policy directory, the rest are refused: a policy set is small. */
const maxPolicyFiles = 1000

async function filesOf(path: string): Promise<string[]> {
  let info: Awaited<ReturnType<typeof stat>>
  try {
    info = await stat(path)
  } catch (err) {
    throw new InputError(`cannot read --policy ${path}: ${fsReason(err)}`)
  }
  if (!info.isDirectory()) return [path]
  const entries = await readdir(path, { recursive: true, withFileTypes: true })
  const files = entries
    .filter((e) => e.isFile() && /\.(ya?ml|json)$/i.test(e.name) && !e.name.startsWith('.'))
    .map((e) => join(e.parentPath, e.name))
    .sort()
  if (files.length > maxPolicyFiles) throw new InputError(`--policy ${path} holds ${files.length} files, more than ${maxPolicyFiles}`)
  return files
}

/** Every policy of every path, or an InputError naming every problem. */
export async function loadPolicyFlags(paths: readonly string[] | undefined): Promise<LoadedPolicy[] | undefined> {
  if (paths === undefined || paths.length === 0) return undefined
  const policies: LoadedPolicy[] = []
  const problems: string[] = []
  for (const path of paths) {
    for (const file of await filesOf(path)) {
      const parsed = parseDocuments(await readFile(file, 'utf8'), file)
      problems.push(...parsed.errors)
      const read = readPolicies(parsed.documents, file)
      policies.push(...read.policies)
      problems.push(...read.problems.map((p) => `${file}: ${p}`))
    }
  }
  if (problems.length > 0) throw new InputError(`invalid policy:\n${problems.slice(0, 100).join('\n')}`)
  return policies
}
