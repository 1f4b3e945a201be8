// Kubernetes stores int64, and a JavaScript number holds integers exactly only
// up to 2^53. Every integer that fits int64 must leave with the digits it came
// with: in the patch /mutate returns, in what `render` prints (YAML and JSON),
// and as a Tekton param value, which is the number's JSON text. The same
// request bodies must not reach an object's prototype through `__proto__` or
// `constructor.prototype` keys.

import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import fastJsonPatch, { type Operation } from 'fast-json-patch'
import t from 'tap'
import { main } from '../src/cli/main.ts'
import { parseDocuments } from '../src/json/documents.ts'
import { parseJson } from '../src/json/parse-json.ts'
import { isRawNumber } from '../src/json/raw-number.ts'
import { detachedJson } from '../src/json/values.ts'
import { DirectoryCatalog } from '../src/resolution/directory.ts'
import type { KubeObject } from '../src/types/k8s.ts'
import { captureIO } from './helpers/cli.ts'
import { reviewOf, startTestServer, type TapTest, type Teardown, type TestServer, tempDir } from './helpers/server.ts'

/** 2^53 + 1: the smallest positive integer a double cannot hold. */
const big = '9007199254740993'
const int64Max = '9223372036854775807'
const int64Min = '-9223372036854775808'

// 0x20000000000001 is 2^53 + 1 as well: YAML 1.1 hex, as kubectl's decoder reads it.
const stepActionYaml = `apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata:
  name: big-numbers
spec:
  image: alpine
  params:
    - name: count
    - name: limit
      default: ${int64Max}
  args: ["$(params.count)", "$(params.limit)"]
  env:
    - name: COUNT
      value: $(params.count)
  securityContext:
    runAsUser: ${big}
    runAsGroup: 0x20000000000001
`

/**
 * JSON text of `value` with every string "<int:DIGITS>" written as the bare
 * number DIGITS: how a client that has int64 sends what JavaScript cannot hold.
 */
function withIntegers(value: unknown): string {
  return JSON.stringify(value).replace(/"<int:(-?\d+)>"/g, '$1')
}

const int = (digits: string): string => `<int:${digits}>`

/** What the integers above become as doubles (int64's max rounds up to 2^63), or a raw number seen as an object. */
const rounded = /\b(9007199254740992|9007199254740996|9007199254741000|18014398509481984)\b|(?<!-)9223372036854775808|rawJSON/

const taskRun = {
  apiVersion: 'tekton.dev/v1',
  kind: 'TaskRun',
  metadata: { name: 'big', namespace: 'default' },
  spec: {
    params: [{ name: 'count', value: int(big) }],
    podTemplate: { securityContext: { runAsUser: int(int64Min), fsGroup: int(int64Max) }, activeDeadlineSeconds: 3600 },
    taskSpec: {
      params: [{ name: 'count' }],
      steps: [
        { name: 'plain', image: 'alpine', securityContext: { runAsUser: int('9007199254740995') } },
        {
          name: 'via-task-param',
          ref: { name: 'big-numbers' },
          params: [{ name: 'count', value: '$(params.count)' }],
          computeResources: { limits: { memory: int('9007199254740997') } },
        },
        {
          name: 'direct',
          ref: { name: 'big-numbers' },
          params: [
            { name: 'count', value: int('18014398509481985') },
            // Past int64 the API server has a float64, as we do: the nearest double.
            { name: 'limit', value: int('12345678901234567890') },
          ],
        },
      ],
    },
  },
}

const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'big-pod',
    namespace: 'default',
    annotations: { 'stepsplice.dev/steps': '- name: count\n  ref: {name: big-numbers}\n  params:\n    - {name: count, value: "7"}\n' },
  },
  spec: {
    restartPolicy: 'Never',
    activeDeadlineSeconds: int(int64Max),
    securityContext: { runAsUser: int(big), runAsGroup: 1000 },
    containers: [{ name: 'main', image: 'busybox:1.37', securityContext: { runAsUser: int('9007199254740999') } }],
  },
}

const podKind = { kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' } }

async function catalogDir(t: Teardown): Promise<string> {
  const dir = await tempDir(t, 'stepsplice-lossless-')
  await writeFile(join(dir, 'big-numbers.yaml'), stepActionYaml)
  return dir
}

interface RenderResult {
  code: number
  out: string
  err: string
}

async function render(t: TapTest, catalog: string, text: string, name: string, output: 'json' | 'yaml'): Promise<RenderResult> {
  const file = join(await tempDir(t, 'stepsplice-lossless-in-'), name)
  await writeFile(file, text)
  const io = captureIO()
  const code = await main(['render', '--catalog', catalog, '-f', file, '-o', output], io)
  return { code, out: io.out, err: io.err }
}

let server: TestServer
let catalog: string
t.before(async () => {
  catalog = await catalogDir(t)
  server = await startTestServer(t, { catalog: await DirectoryCatalog.load([catalog]) })
})

interface Patched {
  /** The patch as JSON text, as the API server decodes it. */
  patchText: string
  /** The object the API server would store: the patch applied to what was sent. */
  patched: unknown
}

/** Posts the review of `objectText` (JSON with integers as they are) and applies the patch, all without rounding. */
async function admit(t: TapTest, objectText: string, overrides: Parameters<typeof reviewOf>[1] = {}): Promise<Patched> {
  const envelope = JSON.stringify(reviewOf(JSON.parse(objectText) as KubeObject, overrides))
  // The envelope's object, replaced by the exact text: JSON.parse above rounded its integers.
  const body = envelope.replace(/"object":\{.*?\},"oldObject"/, () => `"object":${objectText},"oldObject"`)
  t.ok(body.includes(objectText), 'the review carries the object text unchanged')
  const res = await server.request('/mutate', { body })
  t.equal(res.status, 200, `HTTP 200: ${res.text.slice(0, 300)}`)
  const response = (JSON.parse(res.text) as { response: { allowed: boolean; patch?: string; status?: unknown } }).response
  t.equal(response.allowed, true, `allowed: ${JSON.stringify(response.status)}`)
  const patchText = Buffer.from(response.patch ?? '', 'base64').toString('utf8')
  const ops = parseJson(patchText) as Operation[]
  const patched = fastJsonPatch.applyPatch(parseJson(objectText), ops, true, true).newDocument
  return { patchText, patched }
}

t.test('a TaskRun: the patch keeps every digit and gives exactly what render prints', async (t) => {
  const text = withIntegers(taskRun)
  const { patchText, patched } = await admit(t, text)
  // The StepAction's own integers, one of them written in hex, reach the patch as decimal digits.
  t.match(patchText, `/securityContext","value":{"runAsUser":${big},"runAsGroup":${big}}}`, 'the definition’s integers, exact')
  t.match(patchText, `/args","value":["${big}","${int64Max}"]}`, 'a task param holding an int64: its digits')
  t.match(patchText, `/args","value":["18014398509481985","12345678901234567000"]}`, 'a step param: its digits; past int64, the nearest double')
  // The provenance annotation keeps the steps as written (computeResources included); every other operation is a change.
  const changes = JSON.stringify((parseJson(patchText) as Operation[]).filter((op) => op.path !== '/metadata/annotations'))
  t.notMatch(changes, /computeResources|podTemplate|9007199254740995/, 'fields that did not change are not in the patch')
  t.match(patchText, /\\"written\\":\{\\"name\\":\\"via-task-param\\".*\\"memory\\":9007199254740997/, 'the step as written keeps its digits too')

  const json = await render(t, catalog, text, 'taskrun.json', 'json')
  t.equal(json.code, 0, json.err)
  t.equal(JSON.stringify(patched), JSON.stringify(parseJson(json.out)), 'patch applied = render -o json')
  for (const digits of [big, int64Max, int64Min, '9007199254740995', '9007199254740997', '18014398509481985']) {
    t.ok(json.out.includes(digits), `render -o json prints ${digits}`)
  }
  t.match(json.out, `"runAsUser": ${int64Min},\n`, 'a number stays a number')
  t.match(json.out, `"memory": 9007199254740997\n`, 'in a field of a rewritten step')
  t.match(json.out, `"runAsUser": 9007199254740995\n`, 'in a step that is not a reference')
  t.match(json.out, `"activeDeadlineSeconds": 3600\n`, 'small integers as before')
  t.notMatch(json.out, rounded, 'nothing rounded, no wrapper')

  const yaml = await render(t, catalog, text, 'taskrun.json', 'yaml')
  t.equal(yaml.code, 0, yaml.err)
  t.match(yaml.out, `runAsUser: ${int64Min}\n`)
  t.match(yaml.out, `fsGroup: ${int64Max}\n`)
  t.match(yaml.out, `memory: 9007199254740997\n`)
  t.match(yaml.out, `runAsGroup: ${big}\n`)
  t.match(yaml.out, `- "${big}"\n`, 'the param value, a string, is quoted')
  t.notMatch(yaml.out, rounded, 'nothing rounded, no wrapper')
  const reread = parseDocuments(yaml.out, 'render output')
  t.same(reread.errors, [])
  t.equal(JSON.stringify(reread.documents[0]), JSON.stringify(parseJson(json.out)), 'the YAML reads back as the JSON output, digit for digit')
})

t.test('a Pod: integers in the spec and in the spliced init container keep their digits', async (t) => {
  const text = withIntegers(pod)
  const { patchText, patched } = await admit(t, text, podKind)
  t.match(patchText, `"runAsUser":${big},"runAsGroup":${big}`, 'the init container’s securityContext from the definition')
  const json = await render(t, catalog, text, 'pod.json', 'json')
  t.equal(json.code, 0, json.err)
  t.equal(JSON.stringify(patched), JSON.stringify(parseJson(json.out)), 'patch applied = render -o json')
  t.match(json.out, `"activeDeadlineSeconds": ${int64Max},`)
  t.match(json.out, `"runAsUser": 9007199254740999\n`, 'a container the splice rewrites')
  t.notMatch(json.out, rounded, 'nothing rounded, no wrapper')
})

t.test('YAML input: integers as kubectl reads them, printed exactly', async (t) => {
  const yamlPod = `apiVersion: v1
kind: Pod
metadata:
  name: yaml-pod
  namespace: default
  annotations:
    stepsplice.dev/steps: |
      - name: count
        ref: {name: big-numbers}
        params: [{name: count, value: "1"}]
spec:
  activeDeadlineSeconds: ${int64Max}
  terminationGracePeriodSeconds: 0x7fffffffffffffff
  securityContext: {runAsUser: ${int64Min}, runAsGroup: 9_007_199_254_740_993, fsGroup: 42}
  containers:
    - {name: main, image: busybox, args: ["${big}"], ports: [{containerPort: 8080}]}
`
  const yaml = await render(t, catalog, yamlPod, 'pod.yaml', 'yaml')
  t.equal(yaml.code, 0, yaml.err)
  t.match(yaml.out, `activeDeadlineSeconds: ${int64Max}\n`)
  t.match(yaml.out, `terminationGracePeriodSeconds: ${int64Max}\n`, 'hex in, decimal out, as the API server would store it')
  t.match(yaml.out, `runAsUser: ${int64Min}\n`)
  t.match(yaml.out, `runAsGroup: ${big}\n`)
  t.match(yaml.out, 'fsGroup: 42\n')
  t.match(yaml.out, 'containerPort: 8080\n')
  t.match(yaml.out, `- "${big}"\n`, 'a string of digits stays a string')
  const json = await render(t, catalog, yamlPod, 'pod.yaml', 'json')
  t.equal(json.code, 0, json.err)
  t.match(json.out, `"runAsGroup": ${big},`)
  t.match(json.out, `"terminationGracePeriodSeconds": ${int64Max},`)
  t.match(json.out, `"${big}"`)
})

t.test('the catalog reads a StepAction’s integers exactly: its digest does not depend on the spelling', async (t) => {
  const [a, b] = [await catalogDir(t), await catalogDir(t)]
  await writeFile(join(b, 'big-numbers.yaml'), stepActionYaml.replace('0x20000000000001', big))
  const [ca, cb] = [await DirectoryCatalog.load([a]), await DirectoryCatalog.load([b])]
  const ref = { name: 'big-numbers', namespace: 'default' }
  const [ra, rb] = [await ca.resolve(ref), await cb.resolve(ref)]
  if (!('definition' in ra) || !('definition' in rb)) throw new Error(`not resolved: ${JSON.stringify([ra, rb])}`)
  t.equal(ra.definition.digest, rb.definition.digest, 'hex and decimal are the same integer')
  await writeFile(join(b, 'big-numbers.yaml'), stepActionYaml.replace('0x20000000000001', '9007199254740992'))
  const rc = await (await DirectoryCatalog.load([b])).resolve(ref)
  if (!('definition' in rc)) throw new Error('not resolved')
  t.not(rc.definition.digest, ra.definition.digest, '2^53 and 2^53 + 1 are different integers')
})

t.test('__proto__ and constructor.prototype keys in a body are dropped and reach no prototype', async (t) => {
  const object = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { name: 'poison', namespace: 'default', labels: { constructor: 'plain data' } },
    spec: {
      params: [{ name: 'count', value: '3' }],
      taskSpec: {
        params: [{ name: 'count' }],
        steps: [{ name: 'count', ref: { name: 'big-numbers' }, params: [{ name: 'count', value: '$(params.count)' }], poison: 'here' }],
      },
    },
  }
  // Spelled as JSON may spell it, escapes included; none of these is a plain key an object literal could hold.
  const text = JSON.stringify(object)
    .replace('"poison":"here"', `"__proto__":{"polluted":"step"},"constructor":{"prototype":{"polluted":"step"}}`)
    .replace('"name":"poison",', `"name":"poison","\\u005f_proto__":{"polluted":"metadata"},`)
  t.match(text, /"__proto__"/)
  const { patchText, patched } = await admit(t, text)
  t.notMatch(patchText, /__proto__|polluted|"constructor"/, 'the patch neither removes nor carries them')
  const stored = JSON.stringify(patched)
  t.notMatch(stored, /__proto__|polluted|prototype/, 'not in the object the API server would store')
  t.match(stored, '"labels":{"constructor":"plain data"}', 'a constructor key without a prototype is data')
  t.match(stored, '"args":["3",', 'and the step was expanded')
  t.equal(({} as { polluted?: unknown }).polluted, undefined, 'Object.prototype is untouched')

  // /validate checks a StepAction's spec against a closed schema: a key that survived parsing would be an unknown field.
  const stepAction = `{"apiVersion":"tekton.dev/v1beta1","kind":"StepAction","metadata":{"name":"p","namespace":"default"},"spec":{"image":"alpine","__proto__":{"image":"evil"},"constructor":{"prototype":{"x":1}}}}`
  const review = JSON.stringify(
    reviewOf(JSON.parse('{"apiVersion":"tekton.dev/v1beta1","kind":"StepAction","metadata":{"name":"p","namespace":"default"}}') as KubeObject, {
      resource: { group: 'tekton.dev', version: 'v1beta1', resource: 'stepactions' },
    }),
  ).replace(/"object":\{.*?\},"oldObject"/, `"object":${stepAction},"oldObject"`)
  const res = await server.request('/validate', { body: review })
  t.equal(res.status, 200, res.text)
  t.same((JSON.parse(res.text) as { response: { allowed: boolean; status?: unknown } }).response.allowed, true, `allowed: ${res.text}`)
})

t.test('parseJson: what it keeps and what it drops', async (t) => {
  const parsed = parseJson(`{"a":{"__proto__":{"x":1},"constructor":{"prototype":{"y":2}},"keep":[${big},1.5,-0,${int64Min}]},"constructor":{"name":"c"}}`) as {
    a: Record<string, unknown>
    constructor: unknown
  }
  t.same(Object.keys(parsed.a), ['keep'], '__proto__ and constructor.prototype are gone')
  t.equal(Object.getPrototypeOf(parsed.a), Object.prototype)
  t.equal((Object.assign({}, parsed.a) as { x?: unknown }).x, undefined, 'copying it sets no prototype')
  t.same(Object.getOwnPropertyDescriptor(parsed, 'constructor')?.value, { name: 'c' }, 'a constructor key without a prototype stays')
  t.equal(JSON.stringify(parsed.a.keep), `[${big},1.5,0,${int64Min}]`)
  t.equal(JSON.stringify(parseJson(`[${big}]`)), `[${big}]`, 'no poison in sight: integers still exact')
  t.same(Object.keys(parseJson('{"\\u005F\\u005fproto__":1,"b":2}') as object), ['b'], 'an escaped __proto__ is __proto__')
  t.throws(() => parseJson('{"a":'), SyntaxError)
  t.equal(JSON.stringify(parseJson('\ufeff{"a":1}')), '{"a":1}', 'a byte order mark is ignored, as fastify did')
})

t.test('detachedJson copies a parsed value whole: raw numbers stay raw, a __proto__ key stays a key', async (t) => {
  const parsed = parseJson('{"a": [1, "a string longer than thirteen", {"n": 9007199254740993}], "b": null}') as Record<string, unknown>
  const own = JSON.parse('{"__proto__": {"polluted": "yes"}}') as Record<string, unknown>
  const copy: Record<string, unknown> = detachedJson({ ...parsed, own })
  t.equal(JSON.stringify(copy), JSON.stringify({ ...parsed, own }), 'the same JSON, int64 digits included')
  t.not(copy.a, parsed.a, 'lists are copied')
  const n = ((copy.a as unknown[])[2] as Record<string, unknown>).n
  t.ok(isRawNumber(n), 'a raw number is kept as one')
  const ownCopy = copy.own as Record<string, unknown>
  t.ok(Object.hasOwn(ownCopy, '__proto__'), '__proto__ is an own key')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype reached')
  t.equal(Object.getPrototypeOf(ownCopy), Object.prototype)
  // Only lists and plain objects are copied: what else a parser made is kept as it is.
  const bytes = Buffer.from('hi')
  const set = new Set(['x'])
  const kept = detachedJson({ bytes, set })
  t.equal(kept.bytes, bytes)
  t.equal(kept.set, set)
})
