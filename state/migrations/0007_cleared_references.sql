-- The references a delete cleared (conflicts of policy 'reference'), by
-- the referring entity and field: a delete of a record others point to
-- reads them on every plan, and without this it read the whole table.
CREATE INDEX conflicts_cleared_references ON conflicts (entity, field, id) WHERE policy = 'reference';
