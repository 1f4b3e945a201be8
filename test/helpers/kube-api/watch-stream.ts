// One watch on the wire: a 200 whose chunked body is newline-delimited JSON
// events, open until the client leaves, timeoutSeconds passes, the test ends
// it, or the test drops the connection.

import type { ServerResponse } from 'node:http'
import type { KubeObject } from '../../../src/types/k8s.ts'
import { apiVersionOf, type Cluster, type EventType, type KubeResource } from './cluster.ts'
import type { Predicate } from './selectors.ts'
import { tooOldResourceVersion } from './status.ts'

/** What the server keeps of an open watch, to end or drop it on a test's request. */
export interface OpenWatch {
  /** Closes the stream cleanly, as the server does when timeoutSeconds runs out. */
  end(): void
  /** Destroys the connection mid-stream. */
  drop(): void
}

export interface WatchRequest {
  resource: KubeResource
  version: string
  namespace: string | undefined
  accepts: Predicate
  /** The resourceVersion to resume after; '' or '0' start with the current state. */
  from: string
  bookmarks: boolean
  timeoutSeconds: number | undefined
}

/** Serves the watch; returns the code of an ERROR event that ended it at once (410), if one did. */
export function serveWatch(res: ServerResponse, cluster: Cluster, request: WatchRequest, open: Set<OpenWatch>): number | undefined {
  const apiVersion = apiVersionOf(request.resource.group, request.version)
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private' })
  res.flushHeaders()
  const write = (type: EventType, object: unknown): void => {
    if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify({ type, object })}\n`)
  }
  const send = (type: EventType, object: KubeObject): void => write(type, { ...object, apiVersion })

  let stop = (): void => {}
  let timer: NodeJS.Timeout | undefined
  const self: OpenWatch = {
    end: () => {
      cleanup()
      res.end()
    },
    drop: () => {
      cleanup()
      res.socket?.destroy()
    },
  }
  const cleanup = (): void => {
    stop()
    clearTimeout(timer)
    open.delete(self)
  }

  const started = cluster.watch(request.resource, request.from, {
    namespace: request.namespace,
    accepts: request.accepts,
    bookmarks: request.bookmarks,
    send,
    end: self.end,
  })
  if (!started.ok) {
    const expired = tooOldResourceVersion(request.from, started.oldest)
    write('ERROR', expired)
    res.end()
    return expired.code
  }
  stop = started.stop
  open.add(self)
  res.on('close', cleanup)
  if (request.timeoutSeconds !== undefined) timer = setTimeout(self.end, request.timeoutSeconds * 1000)
  return undefined
}
