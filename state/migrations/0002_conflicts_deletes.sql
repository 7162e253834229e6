-- Conflicts: the pass that met them (one conflict per entity, field and
-- pass), when they were closed, and, for identity conflicts, the record
-- that was not merged, so `tandem resolve --link/--split` can merge it.
ALTER TABLE conflicts ADD COLUMN pass TEXT;
ALTER TABLE conflicts ADD COLUMN resolved_at TEXT;
ALTER TABLE conflicts ADD COLUMN system TEXT;
ALTER TABLE conflicts ADD COLUMN object TEXT;
ALTER TABLE conflicts ADD COLUMN external_id TEXT;
ALTER TABLE conflicts ADD COLUMN raw BLOB;
ALTER TABLE conflicts ADD COLUMN modified_at TEXT;
CREATE INDEX conflicts_by_entity ON conflicts (entity_id, kind, field, status);
CREATE INDEX conflicts_by_record ON conflicts (system, object, external_id, status);
CREATE INDEX conflicts_by_status ON conflicts (status, id);

-- A record deleted in its system: the link stays as a tombstone, so the
-- echo of a delete is recognised and nothing is written to it again.
ALTER TABLE links ADD COLUMN deleted_at TEXT;

-- An entity's delete: 'held' (quarantined until delete_after) or
-- 'deleted' (propagated: every live record of it is to be deleted).
-- deleted_by/deleted_at say which system deleted it, and when by its clock.
ALTER TABLE entities ADD COLUMN delete_state TEXT CHECK (delete_state IN ('held', 'deleted'));
ALTER TABLE entities ADD COLUMN delete_after TEXT;
ALTER TABLE entities ADD COLUMN deleted_by TEXT;
ALTER TABLE entities ADD COLUMN deleted_at TEXT;
ALTER TABLE entities ADD COLUMN delete_conflict INTEGER;
