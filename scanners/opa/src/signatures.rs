//! Checks of a bundle's `.signatures.json` the way OPA verifies it when loading a bundle.
//!
//! The file holds exactly one JWT whose payload lists every bundle file with its digest. The
//! scanner checks that list against the bundle (no unsigned file, no missing file, every digest
//! right, no weak digest algorithm) and, when keys are configured, the JWT's signature, key id and
//! scope. Without keys, the file list and digests are still checked and a note says the signer
//! was not verified.

use std::collections::{BTreeMap, BTreeSet};

use regscan_scanner_api::{Finding, Severity};
use serde::Deserialize;
use serde_json::json;

use crate::config::Verifier;
use crate::hash;
use crate::jws::Jws;

/// Path of the signatures file in a bundle.
pub const SIGNATURES_FILE: &str = ".signatures.json";

#[derive(Debug, Deserialize)]
struct SignaturesFile {
    #[serde(default)]
    signatures: Vec<String>,
    #[serde(default)]
    plugin: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Payload {
    #[serde(default)]
    files: Vec<FileEntry>,
    #[serde(default)]
    keyid: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    iat: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct FileEntry {
    name: String,
    #[serde(default)]
    hash: String,
    #[serde(default)]
    algorithm: String,
}

const LOC: &str = SIGNATURES_FILE;

fn sig_finding(id: &str, severity: Severity, title: String, fix: &str) -> Finding {
    Finding::new(id, severity, title).at(LOC).fix(fix)
}

/// Check the bundle's signatures. `files` excludes `.signatures.json` itself. Returns the
/// details object for the report; a `.signatures.json` that is not JSON is an error.
pub fn check(
    files: &BTreeMap<String, Vec<u8>>,
    signatures: Option<&[u8]>,
    verifier: Option<&Verifier>,
    findings: &mut Vec<Finding>,
) -> Result<serde_json::Value, String> {
    let Some(raw) = signatures else {
        findings.push(
            Finding::new(
                "OPA-SIG-MISSING",
                Severity::Negligible,
                "bundle is not signed (no .signatures.json)",
            )
            .fix("Sign the bundle with `opa build --signing-key …` and verify it in OPA's bundle config."),
        );
        return Ok(json!({"present": false}));
    };
    let parsed: SignaturesFile =
        serde_json::from_slice(raw).map_err(|e| format!("{SIGNATURES_FILE} is not valid: {e}"))?;
    let mut details = json!({"present": true, "tokens": parsed.signatures.len()});
    if let Some(plugin) = parsed.plugin.as_deref().filter(|p| !p.is_empty()) {
        details["plugin"] = json!(plugin);
    }
    if parsed.signatures.len() != 1 {
        findings.push(sig_finding(
            "OPA-SIG-INVALID",
            Severity::High,
            format!(
                "{SIGNATURES_FILE} holds {} JWTs; OPA requires exactly one",
                parsed.signatures.len()
            ),
            "Re-sign the bundle so the signatures file holds one JWT.",
        ));
        return Ok(details);
    }
    let jws = match Jws::decode(&parsed.signatures[0]) {
        Ok(j) => j,
        Err(e) => {
            findings.push(sig_finding(
                "OPA-SIG-INVALID",
                Severity::High,
                format!("{SIGNATURES_FILE}: {e}"),
                "Re-sign the bundle with `opa sign` or `opa build --signing-key`.",
            ));
            return Ok(details);
        }
    };
    let payload: Payload = match serde_json::from_slice(&jws.payload) {
        Ok(p) => p,
        Err(e) => {
            findings.push(sig_finding(
                "OPA-SIG-INVALID",
                Severity::High,
                format!("{SIGNATURES_FILE}: JWT payload is not a bundle signature: {e}"),
                "Re-sign the bundle with `opa sign` or `opa build --signing-key`.",
            ));
            return Ok(details);
        }
    };
    let alg = jws.alg().unwrap_or("").to_owned();
    details["alg"] = json!(alg);
    details["kid"] = json!(jws.kid().or(payload.keyid.as_deref()));
    details["scope"] = json!(payload.scope);
    details["iss"] = json!(payload.iss);
    details["iat"] = payload.iat.clone().unwrap_or(serde_json::Value::Null);
    details["files_signed"] = json!(payload.files.len());
    if alg.is_empty() || alg.eq_ignore_ascii_case("none") {
        findings.push(sig_finding(
            "OPA-SIG-JWT-ALG",
            Severity::Critical,
            format!("{SIGNATURES_FILE}: JWT is unsigned (alg {alg:?}); anyone could have written it"),
            "Sign the bundle with an RSA, ECDSA or HMAC key.",
        ));
    }
    details["verified"] = json!(verify_signer(&jws, &payload, verifier, findings));
    check_files(files, &payload.files, findings);
    Ok(details)
}

/// JWT signature, key id and scope. Returns whether the signer was verified (`None`: no keys).
fn verify_signer(
    jws: &Jws,
    payload: &Payload,
    verifier: Option<&Verifier>,
    findings: &mut Vec<Finding>,
) -> Option<bool> {
    let Some(v) = verifier else {
        findings.push(sig_finding(
            "OPA-SIG-UNVERIFIED",
            Severity::Negligible,
            "bundle signature present but no verification key is configured: file digests were checked, the signer was not".into(),
            "Configure the bundle's verification key in regscan's OPA scanner settings.",
        ));
        return None;
    };
    let key_id = v
        .key_id
        .clone()
        .or_else(|| jws.kid().map(str::to_owned))
        .or_else(|| payload.keyid.clone().filter(|k| !k.is_empty()));
    let Some(key_id) = key_id else {
        findings.push(sig_finding(
            "OPA-SIG-KID",
            Severity::High,
            format!("{SIGNATURES_FILE}: the JWT names no key id (no `kid` header or `keyid` claim)"),
            "Sign with a key id (`opa build --signing-key … --claims-file`), or set verification.key_id.",
        ));
        return Some(false);
    };
    let Some(key) = v.keys.get(&key_id) else {
        findings.push(sig_finding(
            "OPA-SIG-KID",
            Severity::High,
            format!("{SIGNATURES_FILE}: the JWT names key {key_id:?}, which is not a configured verification key"),
            "Check who signed this bundle; add the key to the verification config only if it is trusted.",
        ));
        return Some(false);
    };
    if let Err(e) = jws.verify(key) {
        findings.push(sig_finding(
            "OPA-SIG-JWT-INVALID",
            Severity::Critical,
            format!("{SIGNATURES_FILE}: {e} (key {key_id:?})"),
            "Do not deploy this bundle: its signature was not made by the trusted key.",
        ));
        return Some(false);
    }
    let expected = v.scope.clone().or_else(|| key.scope.clone()).unwrap_or_default();
    let found = payload.scope.clone().unwrap_or_default();
    if expected != found {
        findings.push(sig_finding(
            "OPA-SIG-SCOPE",
            Severity::High,
            format!("{SIGNATURES_FILE}: JWT scope {found:?} does not match the expected scope {expected:?}"),
            "Sign the bundle for the scope it is deployed to.",
        ));
        return Some(false);
    }
    Some(true)
}

/// The signed file list against the bundle.
fn check_files(files: &BTreeMap<String, Vec<u8>>, signed: &[FileEntry], findings: &mut Vec<Finding>) {
    let signed: BTreeMap<String, &FileEntry> = signed
        .iter()
        .map(|f| (f.name.trim_start_matches('/').to_owned(), f))
        .collect();
    let mut weak: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, content) in files {
        let Some(entry) = signed.get(path) else {
            findings.push(
                Finding::new(
                    "OPA-SIG-FILE-UNSIGNED",
                    Severity::High,
                    format!("{path} is in the bundle but not in its signature; it may have been added after signing"),
                )
                .at(path.clone())
                .fix("Do not deploy: re-sign the bundle from trusted sources, or remove the file."),
            );
            continue;
        };
        if hash::is_weak(&entry.algorithm) {
            weak.entry(entry.algorithm.clone()).or_default().push(path.clone());
        }
        let algorithm = if entry.algorithm.is_empty() {
            ""
        } else {
            entry.algorithm.as_str()
        };
        match hash::file_digest(algorithm, path, content) {
            Err(hash::HashError::Algorithm(a)) => findings.push(
                Finding::new(
                    "OPA-SIG-HASH-ALG",
                    Severity::High,
                    format!("{path}: signature uses hashing algorithm {a:?}, which OPA does not support; the file cannot be verified"),
                )
                .at(path.clone())
                .fix("Re-sign the bundle with SHA-256."),
            ),
            Err(e) => findings.push(
                Finding::new("OPA-SIG-HASH-MISMATCH", Severity::Critical, format!("{path}: {e}"))
                    .at(path.clone())
                    .fix("Do not deploy: the file does not match what was signed."),
            ),
            Ok(digest) => {
                let ok = hex::decode(entry.hash.trim()).map(|want| want == digest).unwrap_or(false);
                if !ok {
                    findings.push(
                        Finding::new(
                            "OPA-SIG-HASH-MISMATCH",
                            Severity::Critical,
                            format!("{path} does not match its signed {algorithm} digest: the file was changed after signing"),
                        )
                        .at(path.clone())
                        .fix("Do not deploy: the bundle was tampered with or re-packed without re-signing."),
                    );
                }
            }
        }
    }
    for (alg, paths) in weak {
        findings.push(
            Finding::new(
                "OPA-SIG-WEAK-HASH",
                Severity::Medium,
                format!(
                    "{} file(s) are signed with the weak digest {alg} (collisions are practical)",
                    paths.len()
                ),
            )
            .at(paths[0].clone())
            .fix("Re-sign the bundle with SHA-256 or stronger."),
        );
    }
    let present: BTreeSet<&String> = files.keys().collect();
    for name in signed.keys().filter(|n| !present.contains(n)) {
        findings.push(
            Finding::new(
                "OPA-SIG-FILE-MISSING",
                Severity::High,
                format!("{name} is in the bundle's signature but missing from the bundle; OPA refuses such a bundle"),
            )
            .at(name.clone())
            .fix("Rebuild the bundle with every signed file, or re-sign it."),
        );
    }
}
