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
// With ANSWERS (a JSON file of uid -> answer text), a request whose uid is
// in it is answered with that text, byte for byte, instead: the limit for an
// answer as large as stepsplice's, whose patch and provenance a server must
// send whatever it computes them with (bench/limit.ts records stepsplice's
// answers to its payloads and hands them to this route).
//
//   node bench/bare-server.ts PORT CERT KEY [WORK_US [ANSWERS]]     (prints "listening PORT" when ready)

import { readFileSync } from 'node:fs'
import Fastify from 'fastify'

const [port = '0', cert = 'certs/tls.crt', key = 'certs/tls.key', workUs = '0', answersFile] = process.argv.slice(2)
const workMs = Number(workUs) / 1000
const answers = new Map<string, string>(
  answersFile === undefined ? [] : Object.entries(JSON.parse(readFileSync(answersFile, 'utf8')) as Record<string, string>),
)
const app = Fastify({ https: { cert: readFileSync(cert), key: readFileSync(key) }, bodyLimit: 7 * 1024 * 1024, logger: false })
app.get('/healthz', async () => 'ok')
app.post('/mutate', async (request, reply) => {
  if (workMs > 0) {
    const until = performance.now() + workMs
    while (performance.now() < until);
  }
  const uid = (request.body as { request?: { uid?: string } }).request?.uid ?? ''
  const recorded = answers.get(uid)
  // Sent as stepsplice sends its answer: text already serialised.
  if (recorded !== undefined) return reply.type('application/json').send(recorded)
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } }
})
const address = await app.listen({ host: '127.0.0.1', port: Number(port) })
console.log(`listening ${new URL(address).port}`)
