-- Summary rollups (`GET /v1/summary`): what the latest scans of live artifacts add up to, kept
-- current on write so that the summary reads a few rows instead of every latest finding.
--
-- A live artifact counts through `artifacts.latest_scan_id` (when `deleted_at` IS NULL); the
-- triggers below move its contribution from the old scan to the new one whenever either column
-- changes, in the transaction that changes it. This relies on one rule the store keeps: the
-- findings and severity counts of a scan are final before an artifact points at it
-- (`finish_scan` detaches a claimed scan first), and are not changed while it does.

-- Per advisory id (findings about a package): live artifacts whose latest scan has it, and of
-- those, how many by their highest severity of it (so the top list's severity is the highest
-- column that is not zero). Rows that drop to zero are kept (one per id ever seen).
CREATE TABLE advisory_reach (
    finding_id TEXT PRIMARY KEY,
    artifacts BIGINT NOT NULL DEFAULT 0,
    critical BIGINT NOT NULL DEFAULT 0,
    high BIGINT NOT NULL DEFAULT 0,
    medium BIGINT NOT NULL DEFAULT 0,
    low BIGINT NOT NULL DEFAULT 0,
    negligible BIGINT NOT NULL DEFAULT 0,
    unknown BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX advisory_reach_artifacts ON advisory_reach (artifacts);

-- One row (id 1): findings about packages in the latest scans of live artifacts, how many have
-- a fixed version, how many artifacts have at least one such; and the findings per severity
-- (every finding, as the scans count them).
CREATE TABLE incident_totals (
    id BIGINT PRIMARY KEY,
    findings BIGINT NOT NULL DEFAULT 0,
    fixable BIGINT NOT NULL DEFAULT 0,
    fixable_artifacts BIGINT NOT NULL DEFAULT 0,
    critical BIGINT NOT NULL DEFAULT 0,
    high BIGINT NOT NULL DEFAULT 0,
    medium BIGINT NOT NULL DEFAULT 0,
    low BIGINT NOT NULL DEFAULT 0,
    negligible BIGINT NOT NULL DEFAULT 0,
    unknown BIGINT NOT NULL DEFAULT 0
);

-- "Most dangerous artifacts": latest scans in (critical, high) order, walked from the top.
CREATE INDEX scans_danger ON scans (critical, high, artifact_id);

-- The rollups of what is stored already are built by the store when it opens (row 0 asks for
-- that; see `Store::rebuild_incident_rollup`).
INSERT INTO incident_totals (id) VALUES (0);

-- The contribution of an artifact moves from scan o (its old latest, if it was live) to scan n
-- (its new latest, if it is live), as one delta per advisory id. The store inserts artifacts
-- without a latest scan and never deletes them (history is kept), so UPDATE is the one trigger;
-- `Store::rebuild_incident_rollup` recomputes everything after any other kind of write.
CREATE TRIGGER artifacts_rollup_update AFTER UPDATE OF latest_scan_id, deleted_at ON artifacts
WHEN (CASE WHEN OLD.deleted_at IS NULL THEN OLD.latest_scan_id END) IS NOT (CASE WHEN NEW.deleted_at IS NULL THEN NEW.latest_scan_id END)
BEGIN
    INSERT INTO advisory_reach (finding_id, artifacts, critical, high, medium, low, negligible, unknown)
    SELECT finding_id, SUM(d), SUM(CASE WHEN rank = 5 THEN d ELSE 0 END), SUM(CASE WHEN rank = 4 THEN d ELSE 0 END),
           SUM(CASE WHEN rank = 3 THEN d ELSE 0 END), SUM(CASE WHEN rank = 2 THEN d ELSE 0 END),
           SUM(CASE WHEN rank = 1 THEN d ELSE 0 END), SUM(CASE WHEN rank = 0 THEN d ELSE 0 END)
    FROM (SELECT finding_id, MAX(severity_rank) AS rank, -1 AS d FROM findings
          WHERE scan_id = (CASE WHEN OLD.deleted_at IS NULL THEN OLD.latest_scan_id END) AND package IS NOT NULL GROUP BY finding_id
          UNION ALL
          SELECT finding_id, MAX(severity_rank) AS rank, 1 AS d FROM findings
          WHERE scan_id = (CASE WHEN NEW.deleted_at IS NULL THEN NEW.latest_scan_id END) AND package IS NOT NULL GROUP BY finding_id) AS delta
    WHERE true GROUP BY finding_id ORDER BY finding_id
    ON CONFLICT (finding_id) DO UPDATE SET artifacts = advisory_reach.artifacts + excluded.artifacts,
        critical = advisory_reach.critical + excluded.critical, high = advisory_reach.high + excluded.high,
        medium = advisory_reach.medium + excluded.medium, low = advisory_reach.low + excluded.low,
        negligible = advisory_reach.negligible + excluded.negligible, unknown = advisory_reach.unknown + excluded.unknown;
    UPDATE incident_totals SET
        findings = incident_totals.findings + t.findings, fixable = incident_totals.fixable + t.fixable,
        fixable_artifacts = incident_totals.fixable_artifacts + t.fixable_artifacts,
        critical = incident_totals.critical + t.critical, high = incident_totals.high + t.high,
        medium = incident_totals.medium + t.medium, low = incident_totals.low + t.low,
        negligible = incident_totals.negligible + t.negligible, unknown = incident_totals.unknown + t.unknown
    FROM (SELECT COALESCE(SUM(c.d * (SELECT COUNT(*) FROM findings f WHERE f.scan_id = c.id AND f.package IS NOT NULL)), 0) AS findings,
                 COALESCE(SUM(c.d * (SELECT COUNT(*) FROM findings f WHERE f.scan_id = c.id AND f.package IS NOT NULL AND f.fixed_version <> '')), 0) AS fixable,
                 COALESCE(SUM(c.d * (CASE WHEN EXISTS (SELECT 1 FROM findings f WHERE f.scan_id = c.id AND f.package IS NOT NULL AND f.fixed_version <> '') THEN 1 ELSE 0 END)), 0) AS fixable_artifacts,
                 COALESCE(SUM(c.d * s.critical), 0) AS critical, COALESCE(SUM(c.d * s.high), 0) AS high,
                 COALESCE(SUM(c.d * s.medium), 0) AS medium, COALESCE(SUM(c.d * s.low), 0) AS low,
                 COALESCE(SUM(c.d * s.negligible), 0) AS negligible, COALESCE(SUM(c.d * s.unknown), 0) AS unknown
          FROM (SELECT (CASE WHEN OLD.deleted_at IS NULL THEN OLD.latest_scan_id END) AS id, -1 AS d UNION ALL SELECT (CASE WHEN NEW.deleted_at IS NULL THEN NEW.latest_scan_id END) AS id, 1 AS d) AS c
          LEFT JOIN scans s ON s.id = c.id) AS t
    WHERE incident_totals.id = 1;
END;
