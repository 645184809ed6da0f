-- Results: artifacts, tags, scans, findings, package inventories, the layer cache and advisories.
-- Timestamps are Unix milliseconds. JSON is stored as TEXT.

CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    registry TEXT NOT NULL,
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    manifest_media_type TEXT NOT NULL,
    artifact_type TEXT,
    kind TEXT NOT NULL,
    size BIGINT NOT NULL DEFAULT 0,
    -- For a child of a multi-platform index: the index digest and the child's platform.
    parent_digest TEXT,
    platform TEXT,
    latest_scan_id BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT,
    UNIQUE (registry, repository, digest)
);
CREATE INDEX artifacts_kind ON artifacts (kind);
CREATE INDEX artifacts_parent ON artifacts (registry, repository, parent_digest);

CREATE TABLE tags (
    registry TEXT NOT NULL,
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT,
    PRIMARY KEY (registry, repository, tag)
);
CREATE INDEX tags_digest ON tags (registry, repository, digest);

CREATE TABLE scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    artifact_id BIGINT NOT NULL REFERENCES artifacts (id),
    -- Empty for unsupported artifacts (no scanner ran).
    scanner TEXT NOT NULL,
    scanner_version TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    -- The advisory snapshot findings were matched against, if any.
    advisory_snapshot TEXT,
    -- The scan whose package inventory this scan used (itself, or the scan it re-matched).
    inventory_scan_id BIGINT,
    critical BIGINT NOT NULL DEFAULT 0,
    high BIGINT NOT NULL DEFAULT 0,
    medium BIGINT NOT NULL DEFAULT 0,
    low BIGINT NOT NULL DEFAULT 0,
    negligible BIGINT NOT NULL DEFAULT 0,
    unknown BIGINT NOT NULL DEFAULT 0,
    details TEXT NOT NULL DEFAULT '{}',
    worker TEXT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX scans_artifact ON scans (artifact_id, id);
-- At most one scan of an artifact runs at a time: the claim that keeps two workers apart.
CREATE UNIQUE INDEX scans_one_running ON scans (artifact_id) WHERE status = 'running';

CREATE TABLE findings (
    scan_id BIGINT NOT NULL REFERENCES scans (id),
    -- 'advisory' (matched from the inventory) or 'check' (found by the scanner itself).
    source TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    severity TEXT NOT NULL,
    severity_rank BIGINT NOT NULL,
    title TEXT NOT NULL,
    package TEXT,
    installed_version TEXT,
    fixed_version TEXT,
    location TEXT,
    refs TEXT NOT NULL DEFAULT '[]',
    remediation TEXT
);
CREATE INDEX findings_scan ON findings (scan_id);

CREATE TABLE packages (
    scan_id BIGINT NOT NULL REFERENCES scans (id),
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    source_name TEXT,
    source_version TEXT,
    path TEXT NOT NULL,
    layer TEXT
);
CREATE INDEX packages_scan ON packages (scan_id);
CREATE INDEX packages_key ON packages (ecosystem, name);
CREATE INDEX packages_source_key ON packages (ecosystem, source_name);

CREATE TABLE scan_cache (
    cache_key TEXT NOT NULL,
    analyzer_version TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (cache_key, analyzer_version)
);

CREATE TABLE advisories (
    id TEXT PRIMARY KEY,
    modified TEXT NOT NULL,
    withdrawn TEXT,
    raw TEXT NOT NULL,
    source TEXT NOT NULL,
    imported_at BIGINT NOT NULL
);

CREATE TABLE advisory_packages (
    advisory_id TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (advisory_id, ecosystem, name)
);
CREATE INDEX advisory_packages_key ON advisory_packages (ecosystem, name);

CREATE TABLE advisory_imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    records BIGINT NOT NULL,
    added BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    skipped BIGINT NOT NULL,
    snapshot TEXT NOT NULL,
    imported_at BIGINT NOT NULL
);
