//! Reading a Helm provenance file (`.prov`): a PGP clear-signed message whose body lists the
//! chart archive's SHA-256 under `files:`. The digest is compared with the chart layer; the PGP
//! signature is not verified (that needs the publisher's keyring, which a registry scan lacks).

use sha2::Digest as _;

use crate::checks::Provenance;

/// Inspect a provenance file against the chart archive bytes.
pub fn inspect(prov: &[u8], chart_tgz: &[u8]) -> Provenance {
    let text = String::from_utf8_lossy(prov);
    let signed = text.contains("-----BEGIN PGP SIGNED MESSAGE-----") && text.contains("-----BEGIN PGP SIGNATURE-----");
    let body = text.split("-----BEGIN PGP SIGNATURE-----").next().unwrap_or("");
    let mut listed: Vec<String> = Vec::new();
    let mut in_files = false;
    for line in body.lines() {
        if line.starts_with("files:") {
            in_files = true;
            continue;
        }
        if in_files {
            if !line.starts_with(' ') && !line.starts_with('\t') {
                in_files = false;
                continue;
            }
            if let Some((_, digest)) = line.trim().split_once(':') {
                let d = digest.trim().trim_matches(|c| c == '"' || c == '\'');
                if let Some(hexpart) = d.strip_prefix("sha256:") {
                    listed.push(hexpart.to_ascii_lowercase());
                }
            }
        }
    }
    let actual = hex::encode(sha2::Sha256::digest(chart_tgz));
    let digest_matches = if listed.is_empty() {
        None
    } else {
        Some(listed.contains(&actual))
    };
    Provenance {
        present: true,
        digest_matches,
        signed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prov(digest: &str) -> String {
        format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\napiVersion: v2\nname: demo\nversion: 0.1.0\n\n...\nfiles:\n  demo-0.1.0.tgz: sha256:{digest}\n-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n"
        )
    }

    #[test]
    fn matches_the_chart_digest() {
        let chart = b"chart bytes";
        let good = hex::encode(sha2::Sha256::digest(chart));
        let p = inspect(prov(&good).as_bytes(), chart);
        assert_eq!(
            p,
            Provenance {
                present: true,
                digest_matches: Some(true),
                signed: true
            }
        );
        let bad = inspect(prov(&"0".repeat(64)).as_bytes(), chart);
        assert_eq!(bad.digest_matches, Some(false));
        assert_eq!(inspect(b"garbage", chart).digest_matches, None);
    }
}
