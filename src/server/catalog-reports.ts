// The log's side of broken definitions (resolution/reports.ts): one warning
// per file that does not parse or holds an invalid StepAction, and per
// invalid StepAction in the cluster, when it is read; one line when it is
// fixed or gone. The catalog tells each once, so a re-scan that finds the
// same broken file logs nothing again.

import type { Logger } from 'pino'
import type { DefinitionReport, ReportChange, ReportListener } from '../resolution/reports.ts'

/** Lines one change logs at most; a catalog of a thousand broken files says the rest in one line. */
const maxLines = 100

const messages: Record<DefinitionReport['kind'], string> = {
  unparsable: 'catalog file does not parse',
  unreadable: 'catalog file cannot be read',
  invalid: 'catalog StepAction is invalid',
}

function fields(report: DefinitionReport): Record<string, unknown> {
  return {
    source: report.source,
    ...(report.file === undefined ? {} : { file: report.file }),
    ...(report.namespace === undefined ? {} : { namespace: report.namespace }),
    ...(report.name === undefined ? {} : { name: report.name }),
    ...(report.definitions === undefined ? {} : { definitions: report.definitions }),
  }
}

/** Logs what a catalog reports; for Catalog.watchBroken. */
export function logBrokenDefinitions(logger: Logger): ReportListener {
  return (change: ReportChange) => {
    for (const report of change.reported.slice(0, maxLines)) logger.warn({ ...fields(report), errors: report.errors }, messages[report.kind])
    for (const report of change.cleared.slice(0, maxLines)) logger.info(fields(report), 'catalog definition fixed or gone')
    const more = Math.max(0, change.reported.length - maxLines) + Math.max(0, change.cleared.length - maxLines)
    if (more > 0) logger.warn({ more }, `and ${more} more catalog definitions reported or cleared`)
  }
}
