//! The cosign simple-signing payload (`application/vnd.dev.cosign.simplesigning.v1+json`): the
//! "critical" section names the signed manifest's digest, the signature type and the identity
//! (the repository the signer meant).
//!
//! ```json
//! {"critical": {"identity": {"docker-reference": "registry.example/app"},
//!               "image": {"docker-manifest-digest": "sha256:…"},
//!               "type": "cosign container image signature"},
//!  "optional": {…}}
//! ```

use serde::Deserialize;

/// The `critical.type` every cosign signature payload carries.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// What regscan reads from a simple-signing payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleSigning {
    /// `critical.image.docker-manifest-digest`: the digest that was signed.
    pub manifest_digest: String,
    /// `critical.identity.docker-reference`, when present.
    pub identity: Option<String>,
}

#[derive(Deserialize)]
struct Doc {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    #[serde(default)]
    identity: Option<Identity>,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference", default)]
    docker_reference: Option<String>,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// Parse a payload. The error completes "payload is not a cosign simple-signing document: …".
pub fn parse(payload: &[u8]) -> Result<SimpleSigning, String> {
    let doc: Doc = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    let c = doc.critical;
    if c.kind != SIGNATURE_TYPE {
        return Err(format!("critical.type is {:?}, not {SIGNATURE_TYPE:?}", c.kind));
    }
    let digest = c.image.docker_manifest_digest;
    if !is_digest(&digest) {
        return Err(format!(
            "critical.image.docker-manifest-digest {digest:?} is not a digest like sha256:<64 hex digits>"
        ));
    }
    Ok(SimpleSigning {
        manifest_digest: digest,
        identity: c.identity.and_then(|i| i.docker_reference).filter(|r| !r.is_empty()),
    })
}

fn is_digest(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let len = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == len && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn reads_digest_and_identity() {
        let p = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"r.example/app"}},"image":{{"docker-manifest-digest":"{D}"}},"type":"cosign container image signature"}},"optional":null}}"#
        );
        let s = parse(p.as_bytes()).unwrap();
        assert_eq!(s.manifest_digest, D);
        assert_eq!(s.identity.as_deref(), Some("r.example/app"));
    }

    #[test]
    fn refuses_other_types_bad_digests_and_non_json() {
        let p = format!(
            r#"{{"critical":{{"image":{{"docker-manifest-digest":"{D}"}},"type":"atomic container signature"}}}}"#
        );
        assert!(parse(p.as_bytes()).unwrap_err().contains("critical.type"));
        let p =
            r#"{"critical":{"image":{"docker-manifest-digest":"latest"},"type":"cosign container image signature"}}"#;
        assert!(parse(p.as_bytes()).unwrap_err().contains("latest"));
        assert!(parse(b"\xff not json").is_err());
        assert!(parse(b"{}").unwrap_err().contains("critical"));
    }
}
