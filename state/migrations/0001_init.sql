-- Cursors: where each (system, object) resumes pulling.
CREATE TABLE cursors (
  system     TEXT NOT NULL,
  object     TEXT NOT NULL,
  cursor     TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (system, object)
) WITHOUT ROWID;

-- Entities and their golden records (JSON: field -> {v, t, s}).
CREATE TABLE entities (
  id         TEXT PRIMARY KEY,
  entity     TEXT NOT NULL,
  golden     TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

-- Links with their snapshots: what Tandem last saw in, or wrote to, the record.
CREATE TABLE links (
  system      TEXT NOT NULL,
  object      TEXT NOT NULL,
  external_id TEXT NOT NULL,
  entity_id   TEXT NOT NULL REFERENCES entities (id),
  snapshot    TEXT NOT NULL,
  hash        TEXT NOT NULL,
  raw         BLOB,
  modified_at TEXT,
  updated_at  TEXT NOT NULL,
  PRIMARY KEY (system, object, external_id)
);
CREATE UNIQUE INDEX links_by_entity ON links (entity_id, system, object);

-- Normalised match-key values of each entity's golden record.
CREATE TABLE match_keys (
  entity    TEXT NOT NULL,
  name      TEXT NOT NULL,
  value     TEXT NOT NULL,
  entity_id TEXT NOT NULL REFERENCES entities (id),
  PRIMARY KEY (entity, name, value, entity_id)
);
CREATE INDEX match_keys_by_entity ON match_keys (entity_id);

-- The outbox: "bring this entity's record in this system up to date".
-- The write itself is computed when it is pushed, from the golden record
-- and the snapshot, so repeating it is harmless.
CREATE TABLE outbox (
  id         INTEGER PRIMARY KEY,
  entity     TEXT NOT NULL,
  entity_id  TEXT NOT NULL REFERENCES entities (id),
  system     TEXT NOT NULL,
  object     TEXT NOT NULL,
  status     TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'dead')),
  attempts   INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX outbox_one_pending ON outbox (entity_id, system, object) WHERE status = 'pending';
CREATE INDEX outbox_by_system ON outbox (system, object, status, id);

-- Records that could not be read (bad payload, mapping error), kept whole.
CREATE TABLE dead_letters (
  id          INTEGER PRIMARY KEY,
  system      TEXT NOT NULL,
  object      TEXT NOT NULL,
  external_id TEXT NOT NULL,
  raw         BLOB,
  reason      TEXT NOT NULL,
  created_at  TEXT NOT NULL
);

-- Every decision about disagreeing systems, automatic or held.
CREATE TABLE conflicts (
  id         INTEGER PRIMARY KEY,
  entity     TEXT NOT NULL,
  entity_id  TEXT,
  kind       TEXT NOT NULL,
  field      TEXT,
  base       TEXT,
  sides      TEXT NOT NULL,
  policy     TEXT NOT NULL,
  status     TEXT NOT NULL,
  decided    TEXT,
  created_at TEXT NOT NULL
);

-- One row per pass over one (system, object).
CREATE TABLE runs (
  id          INTEGER PRIMARY KEY,
  pass        TEXT NOT NULL,
  entity      TEXT NOT NULL,
  system      TEXT NOT NULL,
  object      TEXT NOT NULL,
  started_at  TEXT NOT NULL,
  finished_at TEXT NOT NULL,
  pulled      INTEGER NOT NULL,
  written     INTEGER NOT NULL,
  failed      INTEGER NOT NULL,
  error       TEXT
);
CREATE INDEX runs_by_system ON runs (system, object, id);
