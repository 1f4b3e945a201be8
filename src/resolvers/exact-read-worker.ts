// The exact YAML reading of one fetched file, on a thread of its own
// (document.ts#readFetched). It answers with the documents as JSON
// text, which keeps integers past 2^53 exact (raw numbers write their digits),
// and the errors.

import { parentPort, workerData } from 'node:worker_threads'
import { exactDocumentsAsWritten } from '../json/documents.ts'

const { text, source } = workerData as { text: string; source: string }
const read = exactDocumentsAsWritten(text, source)
parentPort?.postMessage({ json: JSON.stringify(read.documents), errors: read.errors })
