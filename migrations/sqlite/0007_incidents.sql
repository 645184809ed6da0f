-- Cross-artifact queries (incident response: `GET /v1/vulnerabilities`, `GET /v1/packages`).
--
-- Every other id an advisory is known by (its `aliases` and `upstream`), so that asking for a
-- CVE finds the Debian or GHSA record that names it; and the advisory's highest CVSS base score
-- (times ten, so it stays an integer). Both are derived from `raw` when a record is imported;
-- `indexed` = 0 marks records stored before this migration, which the store derives on open.
CREATE TABLE advisory_aliases (
    alias TEXT NOT NULL,
    advisory_id TEXT NOT NULL,
    PRIMARY KEY (alias, advisory_id)
);
CREATE INDEX advisory_aliases_advisory ON advisory_aliases (advisory_id);
ALTER TABLE advisories ADD COLUMN cvss_x10 BIGINT;
ALTER TABLE advisories ADD COLUMN indexed BIGINT NOT NULL DEFAULT 0;

-- "The newest scan of each artifact": findings and inventories are reached from the artifact's
-- latest scan, so that old scans' rows are skipped by an index lookup, never scanned.
-- (artifacts_latest_scan comes with 0006, scans_inventory with 0004.)
-- Findings by advisory id and by package; inventories by package name. The columns are in the
-- order the queries page in, so a page is an index walk that stops at the limit.
CREATE INDEX findings_id ON findings (finding_id, package, scan_id);
CREATE INDEX findings_package ON findings (package, scan_id);
CREATE INDEX packages_name ON packages (name, ecosystem, version, scan_id);
