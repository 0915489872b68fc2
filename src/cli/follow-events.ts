import { setTimeout as sleep } from 'node:timers/promises'
import { MeshsyncError } from '../util/errors.js'
import type { ApiClient } from './api-client.js'

/** An event as the stream sends it (only the id matters here). */
export interface StreamedEvent {
  id: number
}

export interface FollowOptions {
  /** Reconnect when the node goes away (and wait for it at the start), resuming after the last event seen. */
  retry: boolean
  /** Where notes about reconnecting go (stderr). */
  note: (line: string) => void
  signal?: AbortSignal
  /** First and longest wait between attempts to reconnect. */
  backoffMs?: { first: number; max: number }
}

/** The node stopped (or its API went away) while `events -f` followed it. */
export class NodeGoneError extends MeshsyncError {
  constructor(message: string) {
    super('ERR_NODE_GONE', message)
  }
}

/**
 * Follows the node's server-sent event stream (`/events/stream?since=N`),
 * handing each event to `print`. When the stream breaks or ends (the node
 * stopped), throws a NodeGoneError that says so, or with `retry` waits for
 * the node to answer again and goes on after the last event it printed.
 */
export async function followEvents(client: ApiClient, params: URLSearchParams, print: (e: StreamedEvent) => void | Promise<void>, opts: FollowOptions): Promise<void> {
  const backoff = opts.backoffMs ?? { first: 500, max: 5000 }
  let since = Number(params.get('since') ?? '0')
  let waitMs = backoff.first
  let gone = false
  for (;;) {
    params.set('since', String(since))
    let res: Response
    try {
      res = await client.stream(`/events/stream?${params}`, opts.signal)
      if (!res.ok || res.body == null) throw new MeshsyncError('ERR_API', `GET /events/stream: HTTP ${res.status}`)
    } catch (err) {
      if (!opts.retry || (err as Error).name === 'AbortError') throw err
      if (!gone) opts.note(`meshsync: no node answers at ${client.base}; retrying (--retry)`)
      gone = true
      await sleep(waitMs, undefined, { signal: opts.signal })
      waitMs = Math.min(backoff.max, waitMs * 2)
      continue
    }
    if (gone) opts.note(`meshsync: reconnected to ${client.base}; events after #${since} follow`)
    gone = false
    waitMs = backoff.first
    let why: string
    try {
      for await (const e of sseEvents(res.body)) {
        await print(e)
        if (Number.isSafeInteger(e.id) && e.id > since) since = e.id
      }
      why = 'its event stream ended'
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err
      why = 'its event stream broke off'
    }
    const after = since > 0 ? ` after event #${since}` : ''
    if (!opts.retry) throw new NodeGoneError(`the node at ${client.base} went away (${why}${after}); is it stopping? follow with --retry to reconnect`)
    opts.note(`meshsync: the node at ${client.base} went away (${why}${after}); reconnecting (--retry)`)
    gone = true
    await sleep(waitMs, undefined, { signal: opts.signal })
  }
}

/** The `data:` objects of a server-sent event stream (one `data:` line an event, as GET /events/stream sends them). */
export async function* sseEvents<T = StreamedEvent>(body: ReadableStream<Uint8Array>): AsyncGenerator<T> {
  const decoder = new TextDecoder()
  let buf = ''
  const reader = body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return
    buf += decoder.decode(value, { stream: true })
    for (;;) {
      const i = buf.indexOf('\n\n')
      if (i < 0) break
      const block = buf.slice(0, i)
      buf = buf.slice(i + 2)
      const data = block.split('\n').find((l) => l.startsWith('data: '))
      if (data != null) yield JSON.parse(data.slice(6)) as T
    }
  }
}
