-- Advisories at the size of all of osv.dev.
--
-- Records whose aliases and CVSS score are still to be derived (indexed = 0): a partial index,
-- empty once they are, so that opening the store finds none without reading the whole table.
-- (SQLite also rebuilds its key index and aliases as WITHOUT ROWID tables; PostgreSQL's heap
-- tables have no rowid B-tree to save.)
CREATE INDEX advisories_unindexed ON advisories (id) WHERE indexed = 0;
