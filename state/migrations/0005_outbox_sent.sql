-- Writes in flight (issue 11, case 4): the canonical values an intent's
-- write sets, recorded on its outbox row just before the write is sent and
-- kept until the write is confirmed (the row is then removed) or set aside
-- (dead: cleared). JSON: field -> the values sent for it while the row was
-- pending. A read of the record that shows one of them is Tandem's own
-- write coming back, whose answer was lost (a crash, a dropped
-- connection), not an edit made in that system.
ALTER TABLE outbox ADD COLUMN sent TEXT;
