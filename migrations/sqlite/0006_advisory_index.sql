-- Advisories looked up per scan in the database, and re-matching by index.
--
-- package_keys: the normalised (ecosystem, name) keys each stored inventory is matched under
-- (its packages' own and source-package keys, as advisory_packages names them), so that an
-- import finds the artifacts it affects by joining its changed keys with these, without reading
-- every inventory. Filled when a scan stores its packages; inventories stored before this
-- migration are filled once by the store when it opens (package_keys_backfill records that).
CREATE TABLE package_keys (
    scan_id BIGINT NOT NULL,
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (scan_id, ecosystem, name)
);
CREATE INDEX package_keys_key ON package_keys (ecosystem, name);
CREATE TABLE package_keys_backfill (
    done_at BIGINT NOT NULL
);
-- From a scan to the artifact it is the latest of. (From an inventory scan to the scans that use
-- it: scans_inventory, created by 0004.)
CREATE INDEX artifacts_latest_scan ON artifacts (latest_scan_id);
