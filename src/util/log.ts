import { pino } from 'pino'
import type { Logger as PinoLogger, LevelWithSilent } from 'pino'

export type Logger = PinoLogger
export type LogLevel = LevelWithSilent

export interface LoggerInit {
  level?: LogLevel
  /** Node name, on every line. */
  name?: string
  /** File descriptor or path; default stderr so stdout stays clean for command output. */
  destination?: number | string
}

/** Structured JSON logs, one object per line. */
export function createLogger(init: LoggerInit = {}): Logger {
  return pino(
    {
      level: init.level ?? 'info',
      base: init.name != null ? { node: init.name } : {},
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: init.destination ?? 2, sync: false }),
  )
}

export const silentLogger: Logger = pino({ level: 'silent' })
