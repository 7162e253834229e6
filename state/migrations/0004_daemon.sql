-- The inbox: webhook events, verified and stored before they are answered,
-- merged later by the same pipeline as polled changes. An event id is stored
-- once per system, so a delivery sent again adds nothing.
CREATE TABLE inbox (
  id          INTEGER PRIMARY KEY,
  system      TEXT NOT NULL,
  object      TEXT NOT NULL,
  event_id    TEXT NOT NULL,
  record_id   TEXT NOT NULL,
  deleted     INTEGER NOT NULL DEFAULT 0,
  occurred_at TEXT,
  delivery    TEXT NOT NULL,
  received_at TEXT NOT NULL,
  done_at     TEXT
);
CREATE UNIQUE INDEX inbox_once ON inbox (system, event_id);
CREATE INDEX inbox_pending ON inbox (system, object, id) WHERE done_at IS NULL;

-- Deliveries accepted, by the hash of their signature: the same signed
-- request sent again is a replay and is refused.
CREATE TABLE deliveries (
  system      TEXT NOT NULL,
  signature   TEXT NOT NULL,
  received_at TEXT NOT NULL,
  PRIMARY KEY (system, signature)
) WITHOUT ROWID;

-- Backfills: one-off full reads (or reads since a time) with their own
-- cursor, so they resume where they stopped and leave the incremental
-- cursor alone. `tandem backfill` asks (requested); whoever runs it marks
-- it running, then done, failed or cancelled.
CREATE TABLE backfills (
  id          INTEGER PRIMARY KEY,
  entity      TEXT NOT NULL,
  system      TEXT NOT NULL,
  object      TEXT NOT NULL,
  since       TEXT NOT NULL DEFAULT '',
  status      TEXT NOT NULL CHECK (status IN ('requested', 'running', 'done', 'failed', 'cancelled')),
  cursor      TEXT NOT NULL DEFAULT '',
  read        INTEGER NOT NULL DEFAULT 0,
  pages       INTEGER NOT NULL DEFAULT 0,
  error       TEXT,
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);
CREATE INDEX backfills_open ON backfills (status, id);

-- What kind of run a row is (sync, reconcile, backfill, webhook) and, for a
-- reconciliation sweep, how many records it found out of step.
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'sync';
ALTER TABLE runs ADD COLUMN drift INTEGER;

-- The last reconciliation sweep that saw each linked record: a linked
-- record a full read did not see is missing (deleted without a trace).
ALTER TABLE links ADD COLUMN swept TEXT;

-- The entities being deleted, for the quarantine's release: looked up at
-- every drain of the outbox, which must not read every entity.
CREATE INDEX entities_deleting ON entities (entity, delete_state, delete_after) WHERE delete_state IS NOT NULL;
