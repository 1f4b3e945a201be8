// The physical limit bench/limit.ts measures stepsplice against: a bare
// fastify 5 HTTPS route on the same key and certificate, the same body limit
// and the same AdmissionReview payloads, that parses the body and answers
// "allowed" with the request's uid and nothing else. What stepsplice adds on
// top of this is what issue #13 is about.
//
// With WORK_US, each request also spins the CPU that long (allocating
// nothing): bench/limit.ts's calibration, what a handler's CPU time costs in
// throughput on the machine it runs on.
//
//   node bench/bare-server.ts PORT CERT KEY [WORK_US]     (prints "listening PORT" when ready)

import { readFileSync } from 'node:fs'
import Fastify from 'fastify'

const [port = '0', cert = 'certs/tls.crt', key = 'certs/tls.key', workUs = '0'] = process.argv.slice(2)
const workMs = Number(workUs) / 1000
const app = Fastify({ https: { cert: readFileSync(cert), key: readFileSync(key) }, bodyLimit: 7 * 1024 * 1024, logger: false })
app.get('/healthz', async () => 'ok')
app.post('/mutate', async (request) => {
  if (workMs > 0) {
    const until = performance.now() + workMs
    while (performance.now() < until);
  }
  const uid = (request.body as { request?: { uid?: string } }).request?.uid ?? ''
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } }
})
const address = await app.listen({ host: '127.0.0.1', port: Number(port) })
console.log(`listening ${new URL(address).port}`)
