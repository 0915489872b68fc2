/**
 * Typed errors. Every error the node raises on purpose has a stable `code`
 * that the API and CLI print and that tests match on.
 */
export class MeshsyncError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** A configuration value is missing, of the wrong type, or contradicts another. */
export class ConfigError extends MeshsyncError {
  /** Dotted path of the offending key, e.g. `policies.models.excludeHosts`. */
  readonly key: string
  constructor(key: string, message: string) {
    super('ERR_CONFIG', `${key}: ${message}`)
    this.key = key
  }
}

/** A message from a peer broke the protocol: bad schema, size, path or sequence. */
export class InvalidMessageError extends MeshsyncError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_MESSAGE', message, options)
  }
}

/** A file failed kind validation or its checksum. */
export class ValidationError extends MeshsyncError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_VALIDATION', message, options)
  }
}

/** A path from config or a peer is unsafe (absolute, '..', NUL, symlink...). */
export class UnsafePathError extends MeshsyncError {
  constructor(message: string) {
    super('ERR_UNSAFE_PATH', message)
  }
}

export class NotFoundError extends MeshsyncError {
  constructor(message: string) {
    super('ERR_NOT_FOUND', message)
  }
}

export class BusyError extends MeshsyncError {
  constructor(message: string) {
    super('ERR_BUSY', message)
  }
}

export class OverLimitError extends MeshsyncError {
  constructor(message: string) {
    super('ERR_OVER_LIMIT', message)
  }
}

export class InternalError extends MeshsyncError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INTERNAL', message, options)
  }
}

export class TimeoutError extends MeshsyncError {
  constructor(message: string) {
    super('ERR_TIMEOUT', message)
  }
}

export class StalledError extends MeshsyncError {
  constructor(message: string) {
    super('ERR_STALLED', message)
  }
}

/** A transfer was called off because it is no longer wanted (not an error of the peer or the data). */
export class CancelledError extends MeshsyncError {
  constructor(message: string) {
    super('ERR_CANCELLED', message)
  }
}

/** The disk has no room for a transfer (checked before it starts, or the filesystem said so while it ran). */
export class NoSpaceError extends MeshsyncError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_NO_SPACE', message, options)
  }
}

/**
 * fsync of a staging file failed (EIO, say). The page cache may still show
 * bytes that never reached the disk and never will (PostgreSQL's
 * "fsyncgate"): the staged file is dropped and fetched again, never resumed
 * from, and the fsync is not retried.
 */
export class FsyncError extends MeshsyncError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_FSYNC', message, options)
  }
}

/** A peer's circuit breaker is open: it is skipped until the breaker half-opens. */
export class CircuitOpenError extends MeshsyncError {
  constructor(message: string) {
    super('ERR_CIRCUIT_OPEN', message)
  }
}

/**
 * The remote ended or reset a stream at a message boundary while a message was
 * still expected: the peer went away or called the exchange off, which is no
 * protocol violation (a message cut off part-way is an InvalidMessageError).
 */
export class StreamEndedError extends MeshsyncError {
  constructor(message: string) {
    super('ERR_STREAM_ENDED', message)
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

export function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as { code?: string }).code === 'ABORT_ERR')
}

/**
 * This build cannot work with what it found: a state database written by a
 * newer meshsync, or a cluster that requires a protocol version it does not
 * speak. The CLI exits with EXIT_INCOMPATIBLE (78, EX_CONFIG), which the
 * systemd unit does not restart on.
 */
export class IncompatibleError extends MeshsyncError {
  constructor(message: string) {
    super('ERR_INCOMPATIBLE', message)
  }
}
export const EXIT_INCOMPATIBLE = 78
