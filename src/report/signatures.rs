//! Cosign signatures seen from the artifact they sign.
//!
//! The `cosign` scanner verifies each signature in the sandbox and stores what it found in its
//! scan's `details.signatures` (`payload_digest`, `key`, `signature_valid`, `reason`). Here that
//! is read back for a subject: a signature counts as verified only when a configured key
//! verified it *and* its payload names this subject's digest.

use regscan_scanner_api::{ArtifactRef, Finding, Kind, Severity, Status};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};

/// One signature of an artifact, as its report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureRef {
    /// The signature artifact's digest.
    pub digest: String,
    /// The name of the configured key that verified it, else `null`.
    pub key: Option<String>,
    /// Verified with a configured key, over a payload naming this artifact.
    pub verified: bool,
    /// Why it is not verified.
    pub reason: Option<String>,
}

/// The signatures referring to `subject`, each judged against it.
pub async fn signatures_of(store: &Store, subject: &ArtifactRef) -> Result<Vec<SignatureRef>, StoreError> {
    let mut out = Vec::new();
    for r in store.referrers_of(subject).await? {
        if r.kind != Some(Kind::Signature) {
            continue;
        }
        let scan = match store.artifact(&subject.with_digest(r.digest.clone())).await? {
            Some(a) => match a.latest_scan_id {
                Some(id) => store.scan(id).await?,
                None => None,
            },
            None => None,
        };
        let Some(scan) = scan else {
            out.push(unverified(r.digest.as_str(), "the signature has not been scanned yet"));
            continue;
        };
        let entries = scan.details.get("signatures").and_then(|v| v.as_array());
        let Some(entries) = entries.filter(|e| !e.is_empty()) else {
            let why = match scan.status {
                Status::Unsupported => "no scanner verifies this signature type".to_owned(),
                Status::Failed => format!(
                    "the signature could not be read: {}",
                    scan.reason.as_deref().unwrap_or("unknown error")
                ),
                _ => "the signature holds no cosign signature layer".to_owned(),
            };
            out.push(unverified(r.digest.as_str(), &why));
            continue;
        };
        for e in entries {
            out.push(judge(r.digest.as_str(), subject.digest.as_str(), e));
        }
    }
    Ok(out)
}

fn unverified(digest: &str, reason: &str) -> SignatureRef {
    SignatureRef {
        digest: digest.to_owned(),
        key: None,
        verified: false,
        reason: Some(reason.to_owned()),
    }
}

/// One `details.signatures` entry of a signature scan, judged against `subject`.
fn judge(digest: &str, subject: &str, entry: &serde_json::Value) -> SignatureRef {
    let valid = entry.get("signature_valid").and_then(|v| v.as_bool()).unwrap_or(false);
    let key = entry.get("key").and_then(|v| v.as_str()).map(str::to_owned);
    let payload = entry.get("payload_digest").and_then(|v| v.as_str());
    let scanner_reason = entry.get("reason").and_then(|v| v.as_str()).map(str::to_owned);
    let (verified, reason) = match (valid, payload) {
        (true, Some(p)) if p == subject => (true, None),
        (true, Some(p)) => (false, Some(format!("the signed payload names {p}, not this artifact"))),
        (true, None) => (false, Some("the signed payload names no image digest".to_owned())),
        (false, _) => (
            false,
            scanner_reason.or_else(|| Some("no configured key verifies this signature".to_owned())),
        ),
    };
    SignatureRef {
        digest: digest.to_owned(),
        key: if verified { key } else { None },
        verified,
        reason,
    }
}

/// The `SIG-UNSIGNED` finding for an artifact no configured key has signed (with
/// `signatures.required`).
pub fn unsigned_finding(signatures: &[SignatureRef]) -> Option<Finding> {
    if signatures.iter().any(|s| s.verified) {
        return None;
    }
    let title = if signatures.is_empty() {
        "Artifact is not signed".to_owned()
    } else {
        format!(
            "Artifact has {} signature(s), none verified by a configured key",
            signatures.len()
        )
    };
    Some(
        Finding::new(SIG_UNSIGNED, Severity::High, title)
            .fix("Sign the artifact with cosign using a key listed in [[signatures.keys]]."),
    )
}

/// Id of the finding for artifacts no configured key has signed.
pub const SIG_UNSIGNED: &str = "SIG-UNSIGNED";

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SUBJECT: &str = "sha256:aaaa";

    #[test]
    fn a_signature_counts_only_when_valid_and_naming_this_subject() {
        let ok = judge(
            "sha256:s",
            SUBJECT,
            &json!({"signature_valid": true, "key": "release", "payload_digest": SUBJECT}),
        );
        assert!(ok.verified);
        assert_eq!(ok.key.as_deref(), Some("release"));
        let other = judge(
            "sha256:s",
            SUBJECT,
            &json!({"signature_valid": true, "key": "release", "payload_digest": "sha256:bbbb"}),
        );
        assert!(!other.verified);
        assert_eq!(other.key, None);
        assert!(other.reason.unwrap().contains("sha256:bbbb"));
        let bad = judge(
            "sha256:s",
            SUBJECT,
            &json!({"signature_valid": false, "key": null, "payload_digest": SUBJECT, "reason": "no configured key verifies this signature (tried: release)"}),
        );
        assert!(!bad.verified);
        assert!(bad.reason.unwrap().contains("tried: release"));
    }

    #[test]
    fn unsigned_only_without_a_verified_signature() {
        assert_eq!(unsigned_finding(&[]).unwrap().id, SIG_UNSIGNED);
        let v = SignatureRef {
            digest: "d".into(),
            key: Some("k".into()),
            verified: true,
            reason: None,
        };
        assert!(unsigned_finding(std::slice::from_ref(&v)).is_none());
        let u = SignatureRef {
            verified: false,
            key: None,
            ..v
        };
        assert!(unsigned_finding(&[u]).unwrap().title.contains("none verified"));
    }
}
