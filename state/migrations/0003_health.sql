-- How each system's client was doing at the end of the last pass: circuit
-- breaker, rate budget, daily quota (connectors.Health, as JSON), for
-- `tandem status`, which runs in another process.
CREATE TABLE system_health (
  system     TEXT PRIMARY KEY,
  health     TEXT NOT NULL,
  updated_at TEXT NOT NULL
) WITHOUT ROWID;
