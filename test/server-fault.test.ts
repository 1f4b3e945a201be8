// A fault inside stepsplice (here: a catalog handing back a definition the
// engine cannot read) must still reach the user as an AdmissionReview
// decision that names the request, never as a bare HTTP 500.

import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import type { Resolution } from '../src/definitions/reference.ts'
import type { Catalog } from '../src/resolution/catalog.ts'
import type { Definition } from '../src/definitions/definition.ts'
import { root, sample, startTestServer } from './helpers/server.ts'

const example = JSON.parse(await readFile(join(root, 'examples/admission/taskrun-review.json'), 'utf8')) as { request: { uid: string } }

/** Answers every lookup with a definition whose spec is missing: a broken catalog. */
const brokenCatalog: Catalog = {
  size: 1,
  async resolve(): Promise<Resolution> {
    const definition = { name: 'x', apiVersion: 'tekton.dev/v1beta1', source: { kind: 'directory', location: 'broken' }, digest: 'sha256:0', problems: [] }
    return { definition: definition as unknown as Definition }
  },
}

t.test('an internal failure is a readable denial, logged and counted', async (t) => {
  const server = await startTestServer(t, { catalog: brokenCatalog })
  const reply = await server.review('/mutate', example)
  t.equal(reply.status, 200, 'still an AdmissionReview over HTTP 200')
  const response = reply.body.response
  t.equal(response.uid, example.request.uid)
  t.equal(response.allowed, false)
  t.equal(response.status?.code, 500)
  t.equal(response.status?.reason, 'InternalError')
  t.match(response.status?.message, new RegExp(`^stepsplice failed on this request \\(uid ${example.request.uid}\\): .+; the webhook's log has details$`))
  const metrics = await server.metrics()
  t.equal(sample(metrics, 'stepsplice_admission_requests_total', { endpoint: 'mutate', resource: 'taskruns', outcome: 'error' }), 1)
  t.equal(server.logs.admissionLines().length, 1, 'the admission line is still written')
})
