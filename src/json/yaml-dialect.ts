// The YAML dialect stepsplice reads: kubectl's (sigs.k8s.io/yaml over go-yaml
// v2), as near as the yaml package's options take it (docs/semantics.md says
// where it still differs). YAML 1.1, so `yes` is true;
// duplicate keys are errors; integers are read as BigInt, so none past 2^53
// is rounded (raw-number.ts keeps their digits); timestamps stay the text
// written. One home for it: every reader of documents reads the same.

import type { ScalarTag, Tags } from 'yaml'

export const timestampTag = 'tag:yaml.org,2002:timestamp'

/**
 * YAML 1.1 types `2001-12-14` as a timestamp, which the yaml package reads as
 * a Date: an object, which a param default then seemed to be, and which JSON
 * writes as `2001-12-14T00:00:00.000Z`. kubectl's decoder (go-yaml v2 into an
 * interface{}, sigs.k8s.io/yaml) keeps such a value as the text written, for
 * backward compatibility, tagged `!!timestamp` or not, and that text is what
 * the API server stores: so it is what we read too.
 */
function timestampsAsWritten(tags: Tags): Tags {
  const out: Tags = []
  for (const tag of tags) {
    if (!isTimestamp(tag)) {
      out.push(tag)
      continue
    }
    const test = tag.test
    // Plain scalars: the text, where the tag's pattern matches it.
    out.push({ ...tag, resolve: (text: string) => text })
    // `!!timestamp` written out: the same, and on text that is no timestamp an error, as go-yaml gives one. (The
    // yaml package takes an explicit tag's entry without a pattern at once; otherwise it falls back to its own.)
    out.push({
      ...tag,
      default: false,
      test: undefined,
      resolve: (text: string, onError: (message: string) => void) => {
        if (test?.test(text) !== true) onError(`${JSON.stringify(text)} is not a timestamp`)
        return text
      },
    })
  }
  return out
}

function isTimestamp(tag: Tags[number]): tag is ScalarTag {
  return typeof tag === 'object' && tag.tag === timestampTag && !('collection' in tag)
}

/** The yaml package's options for our dialect: documents.ts reads with them, and yaml-fast.ts follows them. */
export const exactOptions = { version: '1.1', prettyErrors: false, uniqueKeys: true, intAsBigInt: true, customTags: timestampsAsWritten } as const
