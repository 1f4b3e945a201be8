// What the API server writes into a container that a webhook added. After
// each webhook's patch it applies its defaults to the object again, so when
// a later webhook (a sidecar injector) changes a Pod stepsplice spliced, and
// stepsplice is called again (reinvocationPolicy IfNeeded), its init
// containers come back with these fields set. They are the API server's, not
// a change to the steps: a spliced Pod is compared with them taken into
// account, and only where they hold exactly the value the API server gives.

import { isJsonObject } from '../json/values.ts'
import type { Container } from '../types/k8s.ts'

/** Kubernetes' SetDefaults_Container for the fields it always fills. */
const fixed: Readonly<Record<string, string>> = {
  terminationMessagePath: '/dev/termination-log',
  terminationMessagePolicy: 'File',
}

/**
 * The pull policy the API server gives an image without one: Always for the
 * `latest` tag, which an image with neither tag nor digest has; else
 * IfNotPresent (Kubernetes' SetDefaults_Container, parsers.ParseImageName).
 */
function defaultPullPolicy(image: unknown): string | undefined {
  if (typeof image !== 'string') return undefined
  if (image.includes('@')) return 'IfNotPresent'
  // A tag is what follows the last ':' after the last '/' (a ':' before it is a registry's port).
  const lastPart = image.slice(image.lastIndexOf('/') + 1)
  const colon = lastPart.lastIndexOf(':')
  const tag = colon < 0 ? 'latest' : lastPart.slice(colon + 1)
  return tag === 'latest' ? 'Always' : 'IfNotPresent'
}

const isEmptyObject = (v: unknown): boolean => isJsonObject(v) && Object.keys(v).length === 0

/**
 * `want` as the API server would have defaulted it, for each field `want`
 * leaves unset and `present` holds with exactly the API server's value:
 * what `present` may differ by and still be the container stepsplice made.
 */
export function asServerDefaulted(want: Container, present: Container): Container {
  let out: Container | undefined
  const take = (key: string, value: unknown): void => {
    out ??= { ...want }
    out[key] = value
  }
  for (const [key, value] of Object.entries(fixed)) if (want[key] === undefined && present[key] === value) take(key, value)
  if (want.imagePullPolicy === undefined && present.imagePullPolicy !== undefined && present.imagePullPolicy === defaultPullPolicy(want.image)) {
    take('imagePullPolicy', present.imagePullPolicy)
  }
  // An unset ResourceRequirements is written back as an empty object.
  if (want.resources === undefined && isEmptyObject(present.resources)) take('resources', {})
  const env = defaultedEnv(want.env, present.env)
  if (env !== undefined) take('env', env)
  return out ?? want
}

/** A fieldRef's apiVersion, which the API server sets to v1 when unset; undefined when nothing differs by it. */
function defaultedEnv(want: Container['env'], present: Container['env']): Container['env'] | undefined {
  if (!Array.isArray(want) || !Array.isArray(present) || want.length !== present.length) return undefined
  let changed = false
  const out = want.map((e, i) => {
    const ref = e.valueFrom?.fieldRef
    const theirs = present[i]?.valueFrom?.fieldRef
    if (!isJsonObject(ref) || ref.apiVersion !== undefined || !isJsonObject(theirs) || theirs.apiVersion !== 'v1') return e
    changed = true
    return { ...e, valueFrom: { ...e.valueFrom, fieldRef: { ...ref, apiVersion: 'v1' } } }
  })
  return changed ? out : undefined
}
