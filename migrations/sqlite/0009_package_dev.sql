-- A development-only dependency (lockfile `dev`, `devDependencies`, test scope): inventoried,
-- not matched against advisories. 0 or 1.
ALTER TABLE packages ADD COLUMN dev INTEGER NOT NULL DEFAULT 0;
