-- The audit trail (issue 17, item 10): every decision a person makes
-- through Tandem (resolve a conflict, retry or discard a dead letter, force
-- a pass past the mass-delete guard): who, when, what. Rows are only ever
-- added; `tandem audit` reads them.
CREATE TABLE audit (
  id      INTEGER PRIMARY KEY,
  at      TEXT NOT NULL,
  actor   TEXT NOT NULL,
  action  TEXT NOT NULL,
  subject TEXT NOT NULL,
  detail  TEXT NOT NULL DEFAULT ''
);
