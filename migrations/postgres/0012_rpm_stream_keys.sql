-- Advisory keys of the rpm distributions changed (Red Hat repository streams keyed by product,
-- SUSE products by release, modularity streams apart): the store re-keys records stored
-- before, once, when it opens, and then deletes this row.
CREATE TABLE advisory_rekey_pending (scheme TEXT PRIMARY KEY);
INSERT INTO advisory_rekey_pending (scheme) VALUES ('rpm-streams');
