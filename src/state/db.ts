import Database from 'better-sqlite3'
import type { Database as Db } from 'better-sqlite3'
import { IncompatibleError } from '../util/errors.js'
import { VERSION } from '../node/version.js'
import { MIGRATIONS } from './migrations.js'

export type { Db }

/**
 * Opens the node's state database (WAL, foreign keys on) and brings its schema
 * up to date. Migrations run in order, each in its own transaction, and
 * `PRAGMA user_version` records the last one applied, so a crash halfway
 * through leaves the database at a whole version.
 */
export function openStateDb(path: string): Db {
  const db = new Database(path)
  try {
    refuseNewer(db)
  } catch (err) {
    db.close()
    throw err
  }
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  db.pragma('busy_timeout = 5000')
  migrate(db)
  return db
}

/** A database from a newer meshsync is refused before anything is written to it (not even the journal mode). */
function refuseNewer(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number
  if (current > MIGRATIONS.length) {
    throw new IncompatibleError(
      `${db.name}: state database is at schema version ${current}, written by a newer meshsync; meshsync ${VERSION} knows versions up to ${MIGRATIONS.length}. Refusing to open it (nothing changed): install the newer meshsync again`,
    )
  }
}

export function migrate(db: Db): void {
  refuseNewer(db)
  const current = db.pragma('user_version', { simple: true }) as number
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!)
      db.pragma(`user_version = ${v + 1}`)
    })()
  }
}

/**
 * Runs `fn` in a transaction that is on disk when it returns (synchronous =
 * FULL for this commit): for state an acknowledgement depends on.
 */
export function durably<T>(db: Db, fn: () => T): T {
  db.pragma('synchronous = FULL')
  try {
    return db.transaction(fn)()
  } finally {
    db.pragma('synchronous = NORMAL')
  }
}
