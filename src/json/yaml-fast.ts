// A faster reading of YAML for the common document, exact or not at all.
//
// The yaml package reads our dialect (YAML 1.1, unique keys, integers kept
// exact) but builds a full document tree first: a catalog of 10,000
// StepActions spent three of its four seconds there. js-yaml constructs
// values straight from parser events, about ten times faster. Its dialect
// differs, so it is used only where the two cannot disagree:
//   - every plain scalar is typed by the yaml package's own YAML 1.1 tags,
//     tried in its order on the same text, and resolved by them (null,
//     booleans, integers as BigInt, floats, timestamps as the text written);
//     a scalar its merge key `<<` claims gives up;
//   - non-string or `__proto__` keys, duplicate keys, any error give up, and
//     so does whatever the text or the parser's events show the two read
//     differently (textOnlyExactReads, eventsBothRead: tags, anchors,
//     aliases, directives, top-level scalars, some escapes and line ends).
// Giving up costs nothing but the time spent: the caller reads the text with
// the yaml package, which also words every error. Tests hold the two
// readings equal on every YAML text the project ships and on generated ones.

import {
  constructFromEvents,
  defineMappingTag,
  defineScalarTag,
  EVENT_ID,
  type Event,
  FAILSAFE_SCHEMA,
  NOT_RESOLVED,
  parseEvents,
  SCALAR_STYLE,
  type Schema as FastSchema,
  type ScalarTagDefinition,
  type TagDefinition,
} from 'js-yaml'
import { isScalar, parseDocument } from 'yaml'
import { integerValue } from './raw-number.ts'
import { exactOptions, timestampTag } from './yaml-dialect.ts'

class GiveUp extends Error {}

/** The yaml package's tags for plain scalars, in its order, as its composer tries them. */
interface PlainTag {
  tag: string
  test: RegExp
  resolve: (value: string, onError: (message: string) => void, options: typeof exactOptions) => unknown
}

const resolvable = new Set(['tag:yaml.org,2002:null', 'tag:yaml.org,2002:bool', 'tag:yaml.org,2002:int', 'tag:yaml.org,2002:float', timestampTag])

function plainTags(): PlainTag[] {
  // The schema of a document read with exactly the options the exact reading uses.
  const tags = parseDocument('', exactOptions).schema.tags as unknown as {
    tag: string
    default?: boolean | 'key'
    test?: RegExp
    resolve?: PlainTag['resolve']
  }[]
  const out: PlainTag[] = []
  for (const t of tags) {
    // A tag that applies only to keys (`<<`) still claims the text: giving up there is exact too.
    if (t.default === undefined || t.default === false || t.test === undefined || t.resolve === undefined) continue
    out.push({ tag: t.tag, test: t.test, resolve: t.resolve })
  }
  return out
}

function plainScalarTag(tags: readonly PlainTag[]): ScalarTagDefinition<unknown> {
  const giveUp = (message: string): never => {
    throw new GiveUp(message)
  }
  return defineScalarTag<unknown>('tag:stepsplice.dev,2026:plain', {
    implicit: true,
    implicitFirstChars: null,
    resolve(source) {
      const tag = tags.find((t) => t.test.test(source))
      if (tag === undefined) return NOT_RESOLVED
      if (!resolvable.has(tag.tag)) giveUp(`${tag.tag} scalar`)
      const resolved = tag.resolve(source, giveUp, exactOptions)
      const value = isScalar(resolved) ? resolved.value : resolved
      return typeof value === 'bigint' ? integerValue(value) : value
    },
    identify: () => false,
  })
}

/** Plain objects whose keys are strings other than `__proto__`, as the exact reading builds them. */
const stringKeyedMap = defineMappingTag<Record<string, unknown>>('tag:yaml.org,2002:map', {
  create: () => ({}),
  addPair(carrier, key, value) {
    if (typeof key !== 'string' || key === '__proto__') return 'a key the fast reading leaves to the exact one'
    carrier[key] = value
    return ''
  },
  has: (carrier, key) => typeof key === 'string' && Object.hasOwn(carrier, key),
  keys: (result) => Object.keys(result),
  get: (result, key) => (typeof key === 'string' ? result[key] : undefined),
  identify: () => false,
})

export class FastYaml {
  readonly #schema: FastSchema

  constructor() {
    const tags: TagDefinition[] = [plainScalarTag(plainTags()), stringKeyedMap]
    this.#schema = FAILSAFE_SCHEMA.withTags(...tags)
  }

  /** The documents of `text` as the exact reading gives them, or undefined where it alone can say. */
  documents(text: string): unknown[] | undefined {
    if (textOnlyExactReads(text)) return undefined
    try {
      const events = parseEvents(text, {})
      if (!eventsBothRead(text, events)) return undefined
      return constructFromEvents(events, { source: text, schema: this.#schema, maxAliases: 0 })
    } catch {
      return undefined
    }
  }
}

/**
 * What the two readings were found to read differently, or only the exact
 * one to refuse (a differential of 700,000 generated texts), seen in the
 * text: a `\r` that does not end a CRLF line, a byte-order mark (the yaml
 * package refuses one before a block list), a line of more than 1024
 * characters (an implicit key longer than YAML allows), a `---` after
 * indentation, a `...` with content after it, a line that starts with a
 * tab, a `%` where a plain scalar would start (a directive at a line's start;
 * after indentation or an indicator, the yaml package refuses it while js-yaml
 * read `  %a` as an empty document).
 */
function textOnlyExactReads(text: string): boolean {
  if (/\r(?!\n)/.test(text) || text.includes('\uFEFF')) return true
  if (/^(?:[ \t]+---|\.\.\.[ \t]*[^\s#]|\t)/m.test(text)) return true
  if (/(?:^|[-:,[{?])[ \t]*%/m.test(text)) return true
  for (let start = 0, end = text.indexOf('\n'); start < text.length; start = end + 1, end = text.indexOf('\n', start)) {
    if ((end < 0 ? text.length : end) - start > 1024) return true
    if (end < 0) break
  }
  return false
}

/**
 * The same, seen in the parser's events: a document whose root is not a
 * mapping or a list (nor empty), any tag or anchor, and a double-quoted
 * scalar with an escaped line break or a `\U` escape.
 */
function eventsBothRead(text: string, events: readonly Event[]): boolean {
  let root = false
  for (const e of events) {
    if (e.type === EVENT_ID.DOCUMENT) {
      if (e.directives.length > 0) return false
      root = true
      continue
    }
    if (e.type === EVENT_ID.POP) continue
    if (e.type === EVENT_ID.ALIAS) return false
    if (e.anchorStart !== -1 || e.tagStart !== -1) return false
    if (e.type === EVENT_ID.SCALAR) {
      if (root && !(e.style === SCALAR_STYLE.PLAIN && e.valueStart === e.valueEnd)) return false
      if (e.style === SCALAR_STYLE.DOUBLE_QUOTED && /\\(?:\r|\n|U)/.test(text.slice(e.valueStart, e.valueEnd))) return false
    }
    root = false
  }
  return true
}
