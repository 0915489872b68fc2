import { pino } from 'pino'
import type { Logger as PinoLogger, LevelWithSilent } from 'pino'
import { prettyDestination, wantsPretty } from './log-pretty.js'

export type Logger = PinoLogger
export type LogLevel = LevelWithSilent

export interface LoggerInit {
  level?: LogLevel
  /** Node name, on every line. */
  name?: string
  /** File descriptor or path; default stderr so stdout stays clean for command output. */
  destination?: number | string
  /** auto (default): human lines when the destination is stderr on a terminal and not under systemd, else JSON. */
  format?: 'auto' | 'json' | 'pretty'
}

/** Structured JSON logs, one object per line; human lines on a terminal. */
export function createLogger(init: LoggerInit = {}): Logger {
  const options = {
    level: init.level ?? 'info',
    base: init.name != null ? { node: init.name } : {},
    timestamp: pino.stdTimeFunctions.isoTime,
  }
  const toStderr = init.destination == null || init.destination === 2
  if (toStderr && wantsPretty(init.format ?? 'auto', process.stderr, process.env)) {
    const color = process.stderr.isTTY === true && (process.env.NO_COLOR ?? '') === ''
    return pino(options, prettyDestination(process.stderr, color))
  }
  return pino(options, pino.destination({ dest: init.destination ?? 2, sync: false }))
}

export const silentLogger: Logger = pino({ level: 'silent' })
