/**
 * Human log lines for a terminal: pino writes one JSON object per line to
 * this stream, which prints `12:01:02.345 INFO  node: message key=value ...`.
 * Used only when stderr is a TTY and not under systemd (see createLogger);
 * pipes, files and the journal keep the JSON lines.
 */

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '90' },
  20: { name: 'DEBUG', color: '36' },
  30: { name: 'INFO ', color: '32' },
  40: { name: 'WARN ', color: '33' },
  50: { name: 'ERROR', color: '31' },
  60: { name: 'FATAL', color: '35' },
}
/** Fields every line has; printed in their own places, not as key=value. */
const PLACED = new Set(['level', 'time', 'msg', 'node'])

/** One JSON log line as one human line (no newline). Lines that are not JSON objects pass through. */
export function prettyLine(json: string, color: boolean): string {
  let o: Record<string, unknown>
  try {
    const parsed: unknown = JSON.parse(json)
    if (parsed == null || typeof parsed !== 'object' || Array.isArray(parsed)) return json.trimEnd()
    o = parsed as Record<string, unknown>
  } catch {
    return json.trimEnd()
  }
  const paint = (code: string, s: string): string => (color ? `\x1b[${code}m${s}\x1b[0m` : s)
  const lvl = LEVELS[Number(o.level)] ?? { name: String(o.level).toUpperCase().padEnd(5), color: '0' }
  const time = typeof o.time === 'string' ? (o.time.match(/T(\d\d:\d\d:\d\d(?:\.\d+)?)/)?.[1] ?? o.time) : typeof o.time === 'number' ? new Date(o.time).toISOString().slice(11, 23) : ''
  const fields = Object.entries(o)
    .filter(([k]) => !PLACED.has(k))
    .map(([k, v]) => `${paint('2', `${k}=`)}${fieldValue(v)}`)
  const who = o.node != null ? `${paint('1', String(o.node))}: ` : ''
  return [paint('2', time), paint(lvl.color, lvl.name), `${who}${String(o.msg ?? '')}`, ...fields].filter((s) => s !== '').join(' ')
}

function fieldValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)
  return JSON.stringify(v) ?? String(v)
}

/** A pino destination that writes human lines to `out` (stderr). */
export function prettyDestination(out: { write(s: string): unknown }, color: boolean): { write(chunk: string): void } {
  let partial = ''
  return {
    write(chunk: string): void {
      partial += chunk
      for (;;) {
        const i = partial.indexOf('\n')
        if (i < 0) break
        const line = partial.slice(0, i)
        partial = partial.slice(i + 1)
        if (line !== '') out.write(`${prettyLine(line, color)}\n`)
      }
    },
  }
}

/**
 * Whether logs to stderr should be human lines: only on a terminal, and not
 * under systemd (JOURNAL_STREAM is set for a service whose output goes to the
 * journal, which wants one JSON object a line).
 */
export function wantsPretty(format: 'auto' | 'json' | 'pretty', stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (format !== 'auto') return format === 'pretty'
  return stream.isTTY === true && (env.JOURNAL_STREAM == null || env.JOURNAL_STREAM === '')
}
