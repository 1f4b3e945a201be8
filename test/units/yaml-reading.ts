// The fast YAML reading (src/json/yaml-fast.ts) against the exact one (the
// yaml package, as documents.ts reads): wherever the fast one answers, its
// documents are the exact one's, value for value; where the dialects could
// disagree, it gives up. Checked on every YAML file the project ships, on
// scalars each YAML 1.1 tag claims, and on generated documents.

import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import t from 'tap'
import { stringify } from 'yaml'
import { exactDocuments, formatDocuments, parseDocuments } from '../../src/json/documents.ts'
import { FastYaml } from '../../src/json/yaml-fast.ts'

const fast = new FastYaml()

/** The fast reading's documents, flattened as parseDocuments flattens them; undefined when it gave up. */
function fastDocuments(text: string): unknown[] | undefined {
  const read = fast.documents(text)
  if (read === undefined) return undefined
  const out: unknown[] = []
  for (const v of read) {
    if (v === null || v === undefined) continue
    if (Array.isArray(v)) out.push(...v)
    else out.push(v)
  }
  return out
}

/** 'same' when both read the text alike, 'gave up' when only the exact one can; anything else is a difference. */
function compare(text: string): 'same' | 'gave up' | string {
  const quick = fastDocuments(text)
  if (quick === undefined) return 'gave up'
  const exact = exactDocuments(text, 'test')
  if (exact.errors.length > 0) return `fast read what the exact reading rejects: ${exact.errors.join('; ')}`
  return isDeepStrictEqual(quick, exact.documents) ? 'same' : `fast ${JSON.stringify(quick)} != exact ${JSON.stringify(exact.documents)}`
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name) && !join(e.parentPath, e.name).includes('/templates/'))
    .map((e) => join(e.parentPath, e.name))
}

t.test('every YAML file the project ships reads the same both ways, and the fast way reads them', async (t) => {
  const files = ['examples', 'deploy', 'test'].flatMap(yamlFiles)
  t.ok(files.length >= 30, `${files.length} files`)
  for (const file of files) t.equal(compare(readFileSync(file, 'utf8')), 'same', file)
})

t.test('scalars YAML 1.1 types: typed as the yaml package types them', async (t) => {
  const scalars = [
    '42',
    '-17',
    '+3',
    '0',
    '-0',
    '0777',
    '0o17',
    '0x1F',
    '0b101',
    '1_000',
    '190:20:30',
    '9007199254740993',
    '-9223372036854775808',
    '1.5',
    '.5',
    '-.5',
    '1e3',
    '1.5E-3',
    '6.8523015e+5',
    '1_000.5',
    '190:20:30.15',
    '.inf',
    '-.Inf',
    '+.INF',
    '.nan',
    '.NaN',
    'yes',
    'Yes',
    'YES',
    'no',
    'NO',
    'on',
    'On',
    'off',
    'OFF',
    'y',
    'Y',
    'n',
    'N',
    'true',
    'False',
    'TRUE',
    'tRue',
    '~',
    'null',
    'Null',
    'NULL',
    'nulL',
    '',
    '1.2.3',
    '0x',
    '12:60',
    'v1.25',
    '.',
    './...',
    '1-2',
    '08',
    '0b2',
    '-x',
    '--flag',
  ]
  for (const s of scalars) {
    t.equal(compare(`value: ${s}\nlist: [${s === '' ? '""' : s}]\n`), 'same', `value: ${s}`)
  }
})

t.test('what the dialects may read differently is left to the exact reading', async (t) => {
  const cases: [string, string][] = [
    ['a merge key', 'base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n'],
    ['an alias', 'a: &x hello\nb: *x\n'],
    ['a duplicate key', 'a: 1\na: 2\n'],
    ['a __proto__ key', '__proto__: {polluted: yes}\n'],
    ['a %YAML directive', '%YAML 1.2\n---\na: yes\n'],
    ['an integer key', '1: one\n'],
    ['a boolean key', 'on: push\n'],
    ['a null key', '~: nothing\n'],
    ['a collection key', '? [a, b]\n: c\n'],
    ['a binary tag', 'data: !!binary aGVsbG8=\n'],
    ['a local tag', 'x: !thing value\n'],
    ['an int tag on a string', 'x: !!int "3"\n'],
    ['a syntax error', 'a: [1, 2\n'],
    // What a review's differential of generated text found the two readings to read differently, or only the exact one to refuse.
    ['an escaped line break before a blank line', 'key: "line one \\\n\n  line two"\n'],
    ['a \\U escape', 'a: "\\U0001F600"\n'],
    ['a lone carriage return', 'a: x\r y\n'],
    ['a carriage return ending the text', 'a: b\r'],
    ['a top-level block scalar with an indentation indicator', '|2\n  x\n'],
    ['a document that is only an indented ---', '  ---\n'],
    ['an indented --- before content', ' ---\na: b\n'],
    ['an empty !!map', 'a: !!map\n'],
    ['a tag before a compact mapping', 'a: !!str x: y\n'],
    ['an anchor before a compact mapping', 'a: &a b: c\n'],
    ['an implicit key past 1024 characters', `${'x'.repeat(1100)}: a\n`],
    ['content after a document end', 'a: 1\n... b\n'],
    ['a tab starting the text', '\ta'],
    ['a byte-order mark before a later document', 'a: 1\n\uFEFF---\nb: 2\n'],
    ['a top-level scalar', 'just text\n'],
    ['a byte-order mark before a block list', '\uFEFF- a'],
    ['an anchor, even unused', 'a: &only 1\n'],
    ['an explicit core tag', 'a: !!str 123\n'],
    ['a tab for indentation', 'a:\n\tb: 1\n'],
  ]
  for (const [what, text] of cases) t.equal(compare(text), 'gave up', `${what}: ${JSON.stringify(text)}`)
  // Timestamps are the text written, both ways (render-cli.test.ts checks it in a process of its own:
  // tap's own YAML setup turns that tag off in this one).
  for (const text of ['at: 2001-12-14t21:59:43.10-05:00\n', 'at: 2002-12-14\n']) t.equal(compare(text), 'same', text)
})

t.test('text the two readings agree on is read the fast way', async (t) => {
  const texts: [string, string][] = [
    ['block scalars and chomping', 'a: |\n  line 1\n  line 2\n\nb: >-\n  folded\n  text\n\n  para\nc: |+\n  keep\n\n'],
    ['multi-line plain scalars', 'a: one\n  two\n\n  three\nb: "quoted\n  folded"\n'],
    ['quoted escapes', "a: \"tab\\there \\u263A \\x41 \\N \\_ \\L \\P \\e \\0 \\/\"\nb: 'it''s'\n"],
    ['comments and document markers', '# head\n---\na: 1 # trailing\n...\n---\nb: [x, {k: z}]\n...\n'],
    ['CRLF line ends', 'a: 1\r\nb:\r\n  - x\r\n  - y\r\n'],
    ['a JSON document', '{"kind": "StepAction", "spec": {"params": [{"name": "x", "default": ["a", "b"]}], "n": 12.5, "big": 12345678901234567890}}'],
    ['a JSON array of documents', '[{"a": 1}, {"b": [true, null]}]'],
    ['empty documents', '---\n---\na: 1\n---\n'],
    ['references in plain scalars', 'args:\n  - $(params.flags[*])\n  - "$(params.x)"\n  - --out=$(params.out)\nimage: golang:1.25@sha256:abc\n'],
  ]
  for (const [what, text] of texts) t.equal(compare(text), 'same', what)
})

t.test('generated documents read the same both ways', async (t) => {
  const awkward = fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 12 }),
    fc.constantFrom(
      'yes',
      'No',
      '~',
      '',
      '0777',
      '1:20',
      '.5',
      '-',
      '- x',
      'a: b',
      '#x',
      ' lead',
      'trail ',
      '"',
      "'",
      '|',
      '>',
      '*a',
      '&a',
      '!t',
      '%x',
      '@x',
      '`x',
      '<<',
      '\t',
      '\n\n',
      '\\',
    ),
  )
  const value = fc.letrec((tie) => ({
    // Documents are mappings or lists (a top-level scalar is left to the exact reading).
    document: fc.oneof(tie('list'), tie('map')),
    node: fc.oneof({ depthSize: 'small' }, awkward, fc.integer(), fc.double({ noNaN: true }), fc.boolean(), fc.constant(null), tie('list'), tie('map')),
    list: fc.array(tie('node'), { maxLength: 4 }),
    map: fc.dictionary(awkward, tie('node'), { maxKeys: 4 }),
  })).document
  const styles = [
    (v: unknown) => stringify(v, { version: '1.1' }),
    (v: unknown) => stringify(v, { version: '1.1', collectionStyle: 'flow' }),
    (v: unknown) => stringify(v, { version: '1.1', defaultStringType: 'PLAIN', lineWidth: 20 }),
    (v: unknown) => stringify(v, { version: '1.2' }),
    (v: unknown) => JSON.stringify(v, null, 1),
  ]
  let answered = 0
  const out = fc.check(
    fc.property(value, fc.integer({ min: 0, max: styles.length - 1 }), (v, style) => {
      const text = (styles[style] as (v: unknown) => string)(v)
      const verdict = compare(text)
      if (verdict === 'same') answered++
      return verdict === 'same' || verdict === 'gave up'
    }),
    { numRuns: 400 },
  )
  t.notOk(out.failed, out.failed ? `counterexample ${JSON.stringify(out.counterexample)}` : 'no difference')
  // Not vacuous: most generated texts are answered the fast way.
  t.ok(answered > 200, `${answered} of 400 read the fast way`)
})

t.test('a % where a plain scalar would start: the fast reading gives up', async (t) => {
  // The generated texts below found the first (js-yaml read an empty document where the yaml package refuses).
  for (const text of ['  %a\r\n---', ' %a\n---', 'a: %b\n', '- %x\n', '[%x]\n', '{a: %x}\n']) {
    const verdict = compare(text)
    t.ok(verdict === 'same' || verdict === 'gave up', `${JSON.stringify(text)}: ${verdict}`)
  }
  // A % inside a value is read the fast way still.
  t.equal(compare('script: printf "%s" 50%\nargs: [a%b]\n'), 'same')
})

t.test('generated text of YAML’s own characters: never read differently', async (t) => {
  // Not documents a printer wrote: text of the characters YAML gives meaning to, as a hand or a bad edit leaves it.
  const piece = fc.constantFrom(
    'a',
    'b',
    '1',
    '0x',
    '.5',
    'yes',
    '~',
    ':',
    ': ',
    '- ',
    '-',
    '---',
    '...',
    '#',
    '"',
    "'",
    '\\',
    '\\U0001',
    '\\x4',
    '|',
    '|2',
    '>',
    '>-',
    '[',
    ']',
    '{',
    '}',
    ',',
    '?',
    '!',
    '!!str ',
    '&a ',
    '*a',
    '%',
    '@',
    '`',
    '<<',
    ' ',
    '  ',
    '\t',
    '\n',
    '\r',
    '\r\n',
    '\uFEFF',
    'é',
    '\u2028',
  )
  let answered = 0
  const out = fc.check(
    fc.property(fc.array(piece, { maxLength: 24 }), (pieces) => {
      const verdict = compare(pieces.join(''))
      if (verdict === 'same') answered++
      return verdict === 'same' || verdict === 'gave up'
    }),
    { numRuns: 3000 },
  )
  t.notOk(out.failed, out.failed ? `counterexample ${JSON.stringify(out.counterexample)}` : 'no difference')
  t.ok(answered > 100, `${answered} of 3000 read the fast way`)
})

t.test('parseDocuments reports errors in the exact reading’s words', async (t) => {
  const read = parseDocuments('a: 1\na: 2\n', 'dup.yaml')
  t.same(read.documents, [])
  t.match(read.errors[0], /^dup\.yaml: Map keys must be unique at line 2, column 1/)
})

t.test('numbers are what go-yaml v2 (kubectl’s decoder) makes of them', async (t) => {
  // go-yaml's resolve.go: `_` taken out; Go's base-0 ParseInt, then ParseUint; then the float pattern and ParseFloat.
  const read: [string, unknown][] = [
    ['0o17', 15],
    ['0O17', 15],
    ['0X1F', 31],
    ['0B101', 5],
    ['017', 15],
    ['-0x1F', -31],
    ['+0b11', 3],
    ['0_x1F', 31],
    ['1_000', 1000],
    ['-_1', -1],
    ['1e3', 1000],
    ['1E3', 1000],
    ['1_e3', 1000],
    ['+.5', 0.5],
    ['.5', 0.5],
    ['1.', 1],
    ['-1.5e-3', -0.0015],
    ['08', 8],
    ['0xFFFFFFFFFFFFFFFF', 2 ** 64],
    ['0x10000000000000000', 2 ** 64],
    ['99999999999999999999', 1e20],
    ['-9223372036854775809', -(2 ** 63)],
    // Text: no number go-yaml reads.
    ['e3', 'e3'],
    ['E5', 'E5'],
    ['.', '.'],
    ['-.', '-.'],
    ['.e3', '.e3'],
    ['.5_0', 0.5],
    ['.1_5e1_0', 1.5e9],
    ['0b+1', 1],
    ['0b-1', -1],
    ['0_b+_1', 1],
    ['._5', '._5'],
    ['.5__0', '.5__0'],
    ['.5_e3', '.5_e3'],
    ['-0b+1', '-0b+1'],
    ['0B+1', '0B+1'],
    [`-1${'0'.repeat(309)}`, `-1${'0'.repeat(309)}`],
    ['1:20', '1:20'],
    ['190:20:30', '190:20:30'],
    ['1:20.5', '1:20.5'],
    ['1e400', '1e400'],
    ['+.nan', '+.nan'],
    ['0o8', '0o8'],
    ['0b', '0b'],
    ['-0x8000000000000001', '-0x8000000000000001'],
    ['+0xFFFFFFFFFFFFFFFF', '+0xFFFFFFFFFFFFFFFF'],
    ['v1.25', 'v1.25'],
  ]
  for (const [text, expected] of read) {
    for (const reading of [parseDocuments, exactDocuments]) {
      const { documents, errors } = reading(`v: ${text}\n`, 'test')
      t.strictSame(errors, [], text)
      t.equal(JSON.stringify((documents[0] as { v: unknown }).v), JSON.stringify(expected), `${text} (${reading.name})`)
    }
  }
  // Past any double: go-yaml's big integer, which JSON carries as its digits, never null.
  const huge = `1${'0'.repeat(309)}`
  t.equal(JSON.stringify(parseDocuments(`v: ${huge}\n`, 'test').documents), `[{"v":${huge}}]`)
})

t.test('what render writes reads back as it was: strings kubectl would take for numbers are quoted', async (t) => {
  const values: unknown[] = [
    '.5_0',
    '0b+1',
    '0o17',
    '0X1F',
    '0_x1F',
    '1_000',
    '1e3',
    '08',
    '.5',
    '+.5',
    '0B1',
    '1:20',
    'e3',
    '.',
    '+.nan',
    'yes',
    '2001-12-14',
    1000,
    0.5,
    1e21,
    -0.0015,
  ]
  for (const v of values) {
    const text = formatDocuments([{ v }], 'yaml')
    const { documents } = parseDocuments(text, 'test')
    t.strictSame(documents, [{ v }], `${JSON.stringify(v)} as ${text.trim()}`)
  }
  t.equal(formatDocuments([{ v: '1:20' }], 'yaml'), 'v: 1:20\n', 'text that is no number stays plain')
  // A key `<<` is quoted: written plain, YAML 1.1 readers take it for a merge key.
  const merging = { '<<': 'x', a: { '<<': { b: 1 } }, list: [{ '<<': 1 }] }
  const written = formatDocuments([merging], 'yaml')
  t.match(written, /^"<<": x$/m)
  t.strictSame(parseDocuments(written, 'test'), { documents: [merging], errors: [] }, 'a key << reads back as the key it was')
  // Characters go-yaml takes for line breaks (NEL, LS, PS) or a byte-order mark: escaped in double quotes.
  for (const text of ['a\u2028b', 'a\u2029b', 'a\u0085b', '\ufeffkey', 'script\nwith\u2028a separator\n']) {
    const out = formatDocuments([{ [text]: text }], 'yaml')
    // Named by code points: raw, these characters would break tap's own output too.
    const name = Array.from(text, (c) => (c.charCodeAt(0) < 128 ? c : `U+${c.charCodeAt(0).toString(16).padStart(4, '0')}`)).join('')
    t.notMatch(out, /[\u0085\u2028\u2029\ufeff]/, `${name} is written escaped`)
    t.ok(isDeepStrictEqual(parseDocuments(out, 'test').documents, [{ [text]: text }]), `${name} reads back`)
  }
})

t.test('a merge key whose value is no mapping is an error of its document, not an exception', async (t) => {
  for (const reading of [parseDocuments, exactDocuments]) {
    const { documents, errors } = reading('x: 1\n---\nb:\n  <<: 1\n---\nz: 2\n', 'merge.yaml')
    t.strictSame(documents, [{ x: 1 }, { z: 2 }], `${reading.name}: the other documents are read`)
    // At the merge key itself: the yaml package says nothing of where.
    t.strictSame(errors, ['merge.yaml: Merge sources must be maps or map aliases at line 4, column 3'], reading.name)
  }
})

t.test('!!binary is the decoded text, as go-yaml gives it; text that is not padded base64 is an error', async (t) => {
  t.strictSame(exactDocuments('v: !!binary aGk=\n', 'b.yaml'), { documents: [{ v: 'hi' }], errors: [] })
  t.strictSame(exactDocuments('v: !!binary |\n  aGVsbG8g\n  d29ybGQ=\n', 'b.yaml').documents, [{ v: 'hello world' }], 'line breaks are skipped')
  // Bytes that are not UTF-8, as Go's JSON writes them: a U+FFFD for each byte that starts no valid sequence.
  const decoded: [string, string][] = [
    ['4oI=', '\ufffd\ufffd'],
    ['7aCA', '\ufffd\ufffd\ufffd'],
    ['wIA=', '\ufffd\ufffd'],
    ['4oKs', '\u20ac'],
    ['8J+YgA==', '\u{1f600}'],
  ]
  for (const [encoded, text] of decoded) t.strictSame(exactDocuments(`v: !!binary ${encoded}\n`, 'b.yaml').documents, [{ v: text }], encoded)
  for (const bad of ['aGk', '"aG k="', 'a===']) {
    t.match(exactDocuments(`v: !!binary ${bad}\n`, 'b.yaml').errors, [/^b\.yaml: !!binary value contains invalid base64 data at line 1/], bad)
  }
})

t.test('!!omap and !!set read as go-yaml reads those collections: a list of one-entry maps, a map of nulls', async (t) => {
  t.strictSame(exactDocuments('v: !!omap\n  - a: 1\n  - b: 2\n', 't').documents, [{ v: [{ a: 1 }, { b: 2 }] }])
  t.strictSame(exactDocuments('v: !!set\n  ? a\n  ? b\n', 't').documents, [{ v: { a: null, b: null } }])
})

t.test('a merge key on a list that holds something other than mappings: the error names that key', async (t) => {
  t.strictSame(exactDocuments('a: 1\nb:\n  c: {d: 1}\n  <<: [{e: 1}, 2]\n', 'list.yaml').errors, [
    'list.yaml: Merge sources must be maps or map aliases at line 4, column 3',
  ])
})
