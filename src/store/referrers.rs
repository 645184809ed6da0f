//! Referrers: signatures, SBOMs and attestations linked to the artifact they describe.

use regscan_scanner_api::{ArtifactRef, Digest, Kind, Status};
use sqlx::Row;

use super::{Store, StoreError};
use crate::time::now_ms;

/// How a link was learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The referrer's manifest names the subject (OCI 1.1 `subject`).
    Subject,
    /// The registry's referrers API listed it.
    ReferrersApi,
    /// Cosign's tag scheme: `sha256-<hex>.sig|.att|.sbom`.
    Tag,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Subject => "subject",
            Via::ReferrersApi => "referrers-api",
            Via::Tag => "tag",
        }
    }
}

/// One referrer of a subject, as reports list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerRecord {
    /// The referrer's digest.
    pub digest: Digest,
    /// Its artifact type, when known.
    pub artifact_type: Option<String>,
    /// Its kind (the stored artifact's, else the relation learnt with the link).
    pub kind: Option<Kind>,
    /// The status of its latest scan; `None` when it is not stored yet.
    pub status: Option<Status>,
}

impl Store {
    /// Record that `referrer` (of the same repository) refers to `subject`. A link learnt again
    /// keeps the best knowledge: a known relation or artifact type is never replaced by an
    /// unknown one.
    pub async fn link_referrer(
        &self,
        subject: &ArtifactRef,
        referrer: &Digest,
        relation: Option<&Kind>,
        artifact_type: Option<&str>,
        via: Via,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO referrers (registry, repository, subject_digest, referrer_digest, relation, artifact_type, via, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (registry, repository, subject_digest, referrer_digest) DO UPDATE SET
                relation = COALESCE(excluded.relation, referrers.relation),
                artifact_type = COALESCE(excluded.artifact_type, referrers.artifact_type)",
        )
        .bind(&subject.registry)
        .bind(&subject.repository)
        .bind(subject.digest.as_str())
        .bind(referrer.as_str())
        .bind(relation.map(Kind::as_str))
        .bind(artifact_type)
        .bind(via.as_str())
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The referrers of `subject`, oldest link first.
    pub async fn referrers_of(&self, subject: &ArtifactRef) -> Result<Vec<ReferrerRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.referrer_digest, COALESCE(a.artifact_type, r.artifact_type) AS artifact_type,
                    COALESCE(a.kind, r.relation) AS kind, s.status
             FROM referrers r
             LEFT JOIN artifacts a ON a.registry = r.registry AND a.repository = r.repository AND a.digest = r.referrer_digest
             LEFT JOIN scans s ON s.id = a.latest_scan_id
             WHERE r.registry = $1 AND r.repository = $2 AND r.subject_digest = $3
             ORDER BY r.created_at, r.referrer_digest",
        )
        .bind(&subject.registry)
        .bind(&subject.repository)
        .bind(subject.digest.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let status: Option<String> = r.try_get("status")?;
                Ok(ReferrerRecord {
                    digest: super::results::stored_digest(r, "referrer_digest")?,
                    artifact_type: r.try_get("artifact_type")?,
                    kind: r.try_get::<Option<String>, _>("kind")?.map(Kind::new),
                    status: status.map(|s| s.parse()).transpose()?,
                })
            })
            .collect()
    }

    /// The subject `referrer` refers to, if a link is known.
    pub async fn subject_of(&self, referrer: &ArtifactRef) -> Result<Option<ArtifactRef>, StoreError> {
        let row = sqlx::query(
            "SELECT subject_digest FROM referrers WHERE registry = $1 AND repository = $2 AND referrer_digest = $3
             ORDER BY created_at LIMIT 1",
        )
        .bind(&referrer.registry)
        .bind(&referrer.repository)
        .bind(referrer.digest.as_str())
        .fetch_optional(self.pool())
        .await?;
        let subject = row
            .map(|r| super::results::stored_digest(&r, "subject_digest"))
            .transpose()?;
        Ok(subject.map(|d| referrer.with_digest(d)))
    }
}

/// The subject digest a cosign-scheme tag names (`sha256-<hex>.sig` → `sha256:<hex>`), and the
/// relation its suffix implies.
pub fn cosign_tag_subject(tag: &str) -> Option<(Digest, Kind)> {
    let (stem, suffix) = tag.rsplit_once('.')?;
    let relation = match suffix {
        "sig" => Kind::Signature,
        "att" => Kind::Attestation,
        "sbom" => Kind::Sbom,
        _ => return None,
    };
    let hex = stem.strip_prefix("sha256-")?;
    Some((Digest::parse(&format!("sha256:{hex}")).ok()?, relation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosign_tags_name_their_subject() {
        let hex = "a".repeat(64);
        assert_eq!(
            cosign_tag_subject(&format!("sha256-{hex}.sig")),
            Some((Digest::parse(&format!("sha256:{hex}")).unwrap(), Kind::Signature))
        );
        assert_eq!(cosign_tag_subject(&format!("sha256-{hex}.sbom")).unwrap().1, "sbom");
        assert_eq!(
            cosign_tag_subject(&format!("sha256-{hex}.att")).unwrap().1,
            "attestation"
        );
        assert_eq!(cosign_tag_subject(&format!("sha256-{hex}.tar")), None);
        assert_eq!(cosign_tag_subject("sha256-abc.sig"), None);
        assert_eq!(cosign_tag_subject(&format!("sha512-{hex}.sig")), None);
        assert_eq!(cosign_tag_subject(&format!("sha256-{}.sig", "A".repeat(64))), None);
        assert_eq!(cosign_tag_subject("1.0"), None);
    }
}
