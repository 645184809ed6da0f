-- Advisories at the size of all of osv.dev.
--
-- Records whose aliases and CVSS score are still to be derived (indexed = 0): a partial index,
-- empty once they are, so that opening the store finds none without reading the whole table.
CREATE INDEX advisories_unindexed ON advisories (id) WHERE indexed = 0;

-- The key index and the aliases as WITHOUT ROWID tables: one B-tree each for the primary key
-- instead of a rowid table beside it (an import writes every row of them), and the secondary
-- index covers its lookups (it holds the primary key).
CREATE TABLE advisory_packages_new (
    advisory_id TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (advisory_id, ecosystem, name)
) WITHOUT ROWID;
INSERT INTO advisory_packages_new (advisory_id, ecosystem, name)
    SELECT advisory_id, ecosystem, name FROM advisory_packages;
DROP TABLE advisory_packages;
ALTER TABLE advisory_packages_new RENAME TO advisory_packages;
CREATE INDEX advisory_packages_key ON advisory_packages (ecosystem, name);

CREATE TABLE advisory_aliases_new (
    alias TEXT NOT NULL,
    advisory_id TEXT NOT NULL,
    PRIMARY KEY (alias, advisory_id)
) WITHOUT ROWID;
INSERT INTO advisory_aliases_new (alias, advisory_id) SELECT alias, advisory_id FROM advisory_aliases;
DROP TABLE advisory_aliases;
ALTER TABLE advisory_aliases_new RENAME TO advisory_aliases;
CREATE INDEX advisory_aliases_advisory ON advisory_aliases (advisory_id);
