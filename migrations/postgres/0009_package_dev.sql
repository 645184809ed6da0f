-- A development-only dependency (lockfile `dev`, `devDependencies`, test scope): inventoried,
-- not matched against advisories. 0 or 1 (BIGINT: what the Any driver decodes on both backends).
ALTER TABLE packages ADD COLUMN dev BIGINT NOT NULL DEFAULT 0;
