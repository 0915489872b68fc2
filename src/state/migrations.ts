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
  // 2: transfers (the resume map) and quarantine
  `
  CREATE TABLE transfers (
    sha256          TEXT PRIMARY KEY,
    path            TEXT NOT NULL,            -- where it lands (relative)
    size            INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    origin          TEXT NOT NULL,
    version         INTEGER NOT NULL,
    entry_mtime_ms  INTEGER NOT NULL,
    chunk_root      TEXT NOT NULL,
    info_hash       TEXT,
    promoted        INTEGER NOT NULL DEFAULT 0,
    chunk_size      INTEGER NOT NULL,
    chunk_hashes    BLOB,                     -- from the metadata, checked against chunk_root
    have            BLOB,                     -- bitfield of chunks verified and written to staging
    staging         TEXT NOT NULL,            -- file name in the staging folder
    priority        TEXT NOT NULL,
    reason          TEXT NOT NULL,            -- manual | replica | repair | broadcast | evacuation
    state           TEXT NOT NULL,            -- queued | active | waiting | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    preferred_peer  TEXT,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
  );

  CREATE TABLE quarantine (
    id              TEXT PRIMARY KEY,
    time_ms         INTEGER NOT NULL,
    path            TEXT NOT NULL,            -- original name (relative)
    stored          TEXT NOT NULL,            -- file name in the quarantine folder
    sha256          TEXT,                     -- what the bytes hash to
    expected_sha256 TEXT,                     -- what the manifest said
    size            INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    reason          TEXT NOT NULL,
    source_peer     TEXT,
    found_at        TEXT NOT NULL,            -- source (a node checking its own file) | receiver
    state           TEXT NOT NULL             -- held | released | purged
  );

  -- content an operator released from quarantine: not validated again
  CREATE TABLE released (
    sha256  TEXT PRIMARY KEY,
    time_ms INTEGER NOT NULL
  );
  `,
  // 3: SQLite consolidation (src/merge/): which source versions went into which target
  `
  CREATE TABLE merge_sources (
    merge         TEXT NOT NULL,            -- merges.<name>
    target        TEXT NOT NULL,            -- relative path of the target
    sha256        TEXT NOT NULL,            -- the source version merged
    source_path   TEXT NOT NULL,
    origin        TEXT NOT NULL,
    version       INTEGER NOT NULL,
    state         TEXT NOT NULL,            -- merged | invalid | failed
    rows_added    INTEGER NOT NULL DEFAULT 0,
    rows_updated  INTEGER NOT NULL DEFAULT 0,
    conflicts     INTEGER NOT NULL DEFAULT 0,
    tables        TEXT,                     -- JSON: per table rows added, source rows, up to which rowid
    reason        TEXT,
    time_ms       INTEGER NOT NULL,
    PRIMARY KEY (merge, target, sha256)
  );
  CREATE TABLE merge_targets (
    merge         TEXT NOT NULL,
    target        TEXT NOT NULL,
    mode          TEXT NOT NULL,            -- build | converge
    rows_total    INTEGER NOT NULL,
    tables        TEXT NOT NULL,            -- JSON: rows per table
    content_hash  TEXT NOT NULL,            -- SHA-256 of the rows in key order
    count_ok      INTEGER NOT NULL,         -- the last row-count check passed
    sources       INTEGER NOT NULL,
    time_ms       INTEGER NOT NULL,
    PRIMARY KEY (merge, target)
  );
  `,
  // 4: backup sinks — verified sink copies (src/sinks/store.ts)
  `
  CREATE TABLE sink_copies (
    sink         TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    size         INTEGER NOT NULL,
    state        TEXT NOT NULL,             -- verified | failed
    uploaded_ms  INTEGER NOT NULL,          -- when this node uploaded it, or first saw it there
    verified_ms  INTEGER NOT NULL,          -- last time size and stored checksum were read back and matched (0: never)
    rehashed_ms  INTEGER NOT NULL DEFAULT 0, -- last time the bytes were downloaded and re-hashed
    reason       TEXT,                      -- why failed
    PRIMARY KEY (sink, sha256)
  );
  CREATE INDEX sink_copies_sha ON sink_copies(sha256);
  CREATE TABLE sink_index (
    sink    TEXT NOT NULL,
    path    TEXT NOT NULL,
    version INTEGER NOT NULL,
    sha256  TEXT NOT NULL,
    PRIMARY KEY (sink, path, version)
  );
  `,
]
