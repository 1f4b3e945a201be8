// The version of the package this code ships in: package.json two levels up,
// from src/cli/ in the repository as from dist/cli/ in the installed package.

import { readFileSync } from 'node:fs'

export const packageVersion: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** How stepsplice names itself to the servers it asks (the API server's audit log, a git host's or registry's logs). */
export const userAgent = `stepsplice/${packageVersion}`
