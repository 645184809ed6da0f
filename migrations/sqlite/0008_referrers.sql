-- Which artifact refers to which: an OCI 1.1 `subject`, the registry's referrers API, or
-- cosign's tag scheme (`sha256-<hex>.sig|.att|.sbom`). Stored by digest, so either side may
-- arrive first. `relation` is the referrer's kind (signature, attestation, sbom, …) when known.
CREATE TABLE referrers (
    registry TEXT NOT NULL,
    repository TEXT NOT NULL,
    subject_digest TEXT NOT NULL,
    referrer_digest TEXT NOT NULL,
    relation TEXT,
    artifact_type TEXT,
    -- 'subject', 'referrers-api' or 'tag'.
    via TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (registry, repository, subject_digest, referrer_digest)
);
CREATE INDEX referrers_by_referrer ON referrers (registry, repository, referrer_digest);
CREATE INDEX referrers_by_relation ON referrers (relation, registry, repository, subject_digest);
