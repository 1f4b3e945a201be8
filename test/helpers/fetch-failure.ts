// What a fetch failed with, for tests of the remote clients: they throw
// FetchFailure values whose kind decides whether a reference is denied or
// left for Tekton, so a test asserts on the value, not only that it threw.

import { FetchFailure } from '../../src/remote/failure.ts'

/** What `run` failed with, whether it threw at once or rejected; fails the test when it did not fail with a FetchFailure. */
export async function failureOf(run: () => Promise<unknown>): Promise<FetchFailure> {
  try {
    await run()
  } catch (err) {
    if (err instanceof FetchFailure) return err
    throw new Error(`failed with something other than a FetchFailure: ${String(err)}`)
  }
  throw new Error('did not fail')
}
