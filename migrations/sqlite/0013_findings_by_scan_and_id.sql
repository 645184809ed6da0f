-- A scan's findings by advisory id: re-matching after an import deletes, and reads for the
-- summary rollups, the findings of a few changed ids in each of many scans. With the scan alone
-- indexed, that read every finding of every scan re-matched.
DROP INDEX findings_scan;
CREATE INDEX findings_scan ON findings (scan_id, finding_id);
