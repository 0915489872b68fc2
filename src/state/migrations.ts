/**
 * Schema versions, in order. Never edit a released migration: add a new one.
 */
export const MIGRATIONS: string[] = [
  // 1: foundation — local catalog, peers and what they hold, events
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );

  -- the local catalog: one row per file under the data dir
  CREATE TABLE files (
    path          TEXT PRIMARY KEY,          -- relative, '/'-separated
    size          INTEGER NOT NULL,
    mtime_ms      REAL NOT NULL,             -- local stat, to notice changes without rehashing
    ino           INTEGER NOT NULL,
    entry_mtime_ms INTEGER NOT NULL DEFAULT 0, -- the manifest entry's mtime (the origin's)
    kind          TEXT NOT NULL,
    state         TEXT NOT NULL,             -- pending | ready | invalid
    sha256        BLOB,                      -- of the bytes served (the snapshot for a live SQLite db)
    chunk_size    INTEGER,
    chunk_hashes  BLOB,                      -- 32 bytes per chunk
    chunk_root    BLOB,
    facts         TEXT,                      -- JSON from kind validation
    origin        TEXT NOT NULL,             -- peer ID of the node that produced it
    version       INTEGER NOT NULL,          -- per (origin, path), rises with each new content
    snapshot      TEXT,                      -- internal file served instead of path (live SQLite)
    info_hash     BLOB,
    promoted      INTEGER NOT NULL DEFAULT 0,
    first_seen_ms INTEGER NOT NULL,
    changed_ms    INTEGER NOT NULL,          -- when size/mtime last changed (stability)
    ready_ms      INTEGER,                   -- when it was announced
    reason        TEXT                       -- why invalid
  );
  CREATE INDEX files_sha ON files(sha256);

  CREATE TABLE peers (
    peer_id         TEXT PRIMARY KEY,
    name            TEXT,
    health          TEXT,                    -- JSON of the last health message
    health_seq      INTEGER NOT NULL DEFAULT 0,
    last_seen_ms    INTEGER,
    state           TEXT NOT NULL,           -- up | suspect | down
    state_since_ms  INTEGER NOT NULL,
    manifest_seq    INTEGER NOT NULL DEFAULT 0,
    first_seen_ms   INTEGER NOT NULL
  );

  -- what each peer holds, from its manifest gossip and anti-entropy
  CREATE TABLE peer_files (
    peer_id    TEXT NOT NULL REFERENCES peers(peer_id) ON DELETE CASCADE,
    path       TEXT NOT NULL,
    sha256     BLOB NOT NULL,
    size       INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    origin     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    mtime_ms   REAL NOT NULL,
    chunk_root BLOB NOT NULL,
    info_hash  BLOB,
    promoted   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (peer_id, path)
  );
  CREATE INDEX peer_files_sha ON peer_files(sha256);

  CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms INTEGER NOT NULL,
    type    TEXT NOT NULL,
    peer    TEXT,
    sha256  TEXT,
    path    TEXT,
    data    TEXT
  );
  CREATE INDEX events_time ON events(time_ms);
  `,
]
