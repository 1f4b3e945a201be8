// The first init container stepsplice adds: it writes each step's script to a
// shared emptyDir and creates the result directories. Scripts travel base64
// in env values, and the shell program is a constant: no script text is ever
// part of a command line, and base64 has no `$` for the kubelet to expand.

import type { Container, EnvVar } from '../types/k8s.ts'
import { resultsRoot } from './variables.ts'

export const prepareName = 'stepsplice-prepare'
export const scriptsRoot = '/stepsplice/scripts'
export const scriptsVolume = 'stepsplice-scripts'
export const resultsVolume = 'stepsplice-results'

const program = `set -eu
for item in "$@"; do
  case "$item" in
    results=*)
      dir="${resultsRoot}/\${item#results=}"
      mkdir -p "$dir"
      chmod 0777 "$dir"
      ;;
    script=*)
      rest="\${item#script=}"
      step="\${rest%%=*}"
      var="\${rest#*=}"
      eval "data=\\"\\\${$var}\\""
      printf '%s' "$data" | base64 -d > "${scriptsRoot}/$step"
      chmod 0755 "${scriptsRoot}/$step"
      ;;
  esac
done`

/** Tekton's rule: a script without a shebang runs under sh with `set -e`. */
export function scriptFile(script: string): string {
  const trimmed = script.trimStart()
  return trimmed.startsWith('#!') ? trimmed : `#!/bin/sh\nset -e\n${script}`
}

export function scriptPath(step: string): string {
  return `${scriptsRoot}/${step}`
}

function envName(step: string): string {
  return `STEPSPLICE_SCRIPT_${step.toUpperCase().replaceAll('-', '_')}`
}

/** What a step's script takes of the prepare container's environment: `NAME=base64` and its terminating NUL, in bytes. */
export function scriptEnvBytes(step: string, script: string): number {
  const bytes = Buffer.byteLength(scriptFile(script))
  return Buffer.byteLength(envName(step)) + 1 + 4 * Math.ceil(bytes / 3) + 1
}

export interface PrepareWork {
  scripts: { step: string; script: string }[]
  resultSteps: string[]
}

export function prepareContainer(image: string, work: PrepareWork): Container {
  const env: EnvVar[] = work.scripts.map((s) => ({ name: envName(s.step), value: Buffer.from(scriptFile(s.script)).toString('base64') }))
  const items = [...work.resultSteps.map((s) => `results=${s}`), ...work.scripts.map((s) => `script=${s.step}=${envName(s.step)}`)]
  const volumeMounts = []
  if (work.scripts.length > 0) volumeMounts.push({ name: scriptsVolume, mountPath: scriptsRoot })
  if (work.resultSteps.length > 0) volumeMounts.push({ name: resultsVolume, mountPath: resultsRoot })
  const c: Container = { name: prepareName, image, command: ['sh', '-c', program, prepareName, ...items] }
  if (env.length > 0) c.env = env
  c.volumeMounts = volumeMounts
  // It only writes to emptyDirs, so it needs nothing a Pod Security "restricted" namespace forbids.
  // The user is left to the Pod: fixing a UID here would clash with clusters that assign UIDs.
  c.securityContext = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } }
  return c
}
