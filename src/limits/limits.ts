// Every bound stepsplice puts on what it reads and what it writes, in one
// place. Each is far above what real objects need (the largest real Task
// seen has about 60 steps and 50 params) and at or below what the API server
// itself accepts, so a request that passes them is cheap to answer and one
// that does not gets a message naming the limit. docs/limits.md lists them.

const KiB = 1024
const MiB = 1024 * KiB

export const limits = {
  /** An object, measured as JSON: the API server refuses request bodies over 3 MiB. */
  objectBytes: 3 * MiB,
  /** Nesting of arrays and objects in an object. Real ones stay under 20. */
  depth: 100,
  /** Steps in one object, over all its tasks. */
  steps: 1000,
  /** Tasks and finally tasks of one PipelineRun. */
  tasks: 500,
  /**
   * TaskGroups used inside TaskGroups, one within another (issue #16): a
   * group of 4 levels is already a deep composite; past it the request is
   * denied naming the chain, before anything more is fetched.
   */
  groupNesting: 4,
  /** Tasks and TaskGroups one request's TaskGroups use, at every level together: each is a lookup and a merge. */
  usedTasks: 200,
  /** Entries of one params list: a step's, a task's, a pipeline's or a run's. */
  params: 1000,
  /** A param's or an object key's name. Tekton names are short identifiers. */
  nameLength: 256,
  /** The `stepsplice.dev/steps` annotation. Kubernetes allows 256 KiB for all annotations together. */
  stepsAnnotationBytes: 64 * KiB,
  /**
   * The steps as written that the `stepsplice.dev/resolved` annotation keeps,
   * so a re-admitted run's provenance can be checked by splicing them again.
   * Past it they are left out, and that provenance cannot be verified.
   */
  writtenStepsBytes: 64 * KiB,
  /**
   * Text produced by substitution while answering one request. Defaults that
   * reference each other can double a value per step of a chain; this stops
   * the growth long before memory is at risk, and far above any output the
   * API server would store.
   */
  substitutedBytes: 8 * MiB,
  /**
   * One step's script as a Pod's prepare container carries it, base64 in an
   * environment variable (`NAME=value`): Linux refuses to start a process
   * with one environment string over 128 KiB (MAX_ARG_STRLEN), so a Pod with
   * a larger one would never start. About 96 KiB of script.
   */
  scriptEnvBytes: 128 * KiB,
  /**
   * All of a Pod's step scripts together in that container: arguments and
   * environment share 2 MiB (ARG_MAX with the usual 8 MiB stack), and the
   * kubelet adds variables of its own (a namespace's services, one set each).
   */
  scriptsEnvBytes: 1 * MiB,
  /** Problems listed in one denial; the rest are counted. */
  problems: 100,
  /** Characters of one problem's line in a denial or in render's errors (it quotes what the caller wrote). */
  problemChars: 1024,
  /** Admission warnings in one response (the API server may drop more). */
  warnings: 20,
  /** Characters of one warning (the API server may truncate past 256). */
  warningChars: 256,
} as const

export type LimitName = keyof typeof limits

/**
 * No key of a replacement table is longer than this: `inputs.params.` plus a
 * name, an object key or an index, each bounded above. Substitution skips a
 * `$(…)` longer than it without looking it up.
 */
export const maxKeyLength = 2 * limits.nameLength + 64
