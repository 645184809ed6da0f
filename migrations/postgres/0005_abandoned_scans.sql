-- Scans of an artifact whose worker died mid-scan (its claim's lease expired and was taken
-- over). At two, the artifact is stored `failed` instead of being handed to a third worker.
ALTER TABLE artifacts ADD COLUMN abandoned_scans BIGINT NOT NULL DEFAULT 0;
