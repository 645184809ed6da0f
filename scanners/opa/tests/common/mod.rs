//! Test helpers: bundles built in memory, an in-memory blob source, JWT signing with test keys.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use regscan_scanner_api::media;
use regscan_scanner_api::{
    Descriptor, ImageManifest, ScanContext, ScanError, ScanOutput, Scanner, Severity, TypeEntry,
};
use regscan_scanner_opa::{OpaConfig, OpaScanner};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};

/// A tar entry kind for [`tarball_with`].
pub enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
}

/// A gzip-compressed tarball; names are written raw so `/x` and `../x` survive.
pub fn tarball(files: &[(&str, &[u8])]) -> Vec<u8> {
    let entries: Vec<Entry> = files.iter().map(|(p, c)| Entry::File(p, c)).collect();
    tarball_with(&entries)
}

pub fn tarball_with(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        let (name, data): (&str, &[u8]) = match e {
            Entry::File(p, c) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(c.len() as u64);
                (p, c)
            }
            Entry::Symlink(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_link_name(target).unwrap();
                (p, &[])
            }
        };
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&b.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

#[allow(unused_imports)] // not every test binary uses both
pub use regscan_scanner_api::testing::{MemBlobs, NoCache};

/// An artifact under test: a manifest and its blobs.
pub struct Artifact {
    pub manifest: ImageManifest,
    pub blobs: MemBlobs,
}

impl Artifact {
    pub fn new(config_media_type: &str) -> Self {
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config: Descriptor {
                media_type: config_media_type.into(),
                digest: format!("sha256:{}", hex::encode(Sha256::digest(b"{}"))),
                size: 2,
                ..Default::default()
            },
            ..Default::default()
        };
        Artifact {
            manifest,
            blobs: MemBlobs::default(),
        }
    }

    pub fn layer(mut self, media_type: &str, data: Vec<u8>, title: Option<&str>) -> Self {
        let mut d = self.blobs.add(media_type, data);
        if let Some(t) = title {
            d.annotations.insert("org.opencontainers.image.title".into(), t.into());
        }
        self.manifest.layers.push(d);
        self
    }

    /// An OPA artifact with one bundle tarball layer.
    pub fn bundle(files: &[(&str, &[u8])]) -> Self {
        Artifact::new(media::OPA_CONFIG).layer(media::OPA_BUNDLE_LAYER, tarball(files), None)
    }

    pub async fn scan_with(&self, config: OpaConfig) -> Result<ScanOutput, ScanError> {
        let scanner = OpaScanner::new(config).expect("valid config");
        let entry = TypeEntry::scanned(media::OPA_CONFIG, "opa", "OPA policy bundle", "opa");
        let artifact_type = self.manifest.config.media_type.clone();
        let ctx = ScanContext {
            reference: "127.0.0.1:5000/policies/authz@sha256:00",
            manifest: &self.manifest,
            artifact_type: &artifact_type,
            entry: &entry,
            blobs: &self.blobs,
            cache: &NoCache,
        };
        scanner.scan(&ctx).await
    }

    /// Run the scanner's content sniffing on this artifact, as the pipeline does for a manifest
    /// the type table routed elsewhere: `None` when the manifest's shape is not one to sniff.
    pub async fn sniff(&self) -> Option<bool> {
        let scanner = OpaScanner::new(OpaConfig::default()).expect("valid config");
        let artifact_type = self.manifest.config.media_type.clone();
        let layer = scanner.sniff_layer(&self.manifest, &artifact_type)?;
        let entry = TypeEntry::scanned(media::OCI_CONFIG, "image", "Container image", "image");
        let ctx = ScanContext {
            reference: "127.0.0.1:5000/policies/authz@sha256:00",
            manifest: &self.manifest,
            artifact_type: &artifact_type,
            entry: &entry,
            blobs: &self.blobs,
            cache: &NoCache,
        };
        Some(scanner.sniff(&ctx, &layer).await.expect("sniff reads the layer"))
    }

    pub async fn scan(&self) -> Result<ScanOutput, ScanError> {
        self.scan_with(OpaConfig::default()).await
    }
}

/// Ids of the findings, sorted, without duplicates.
pub fn ids(out: &ScanOutput) -> Vec<&str> {
    let mut v: Vec<&str> = out.findings.iter().map(|f| f.id.as_str()).collect();
    v.sort();
    v.dedup();
    v
}

/// Ids of findings above negligible.
pub fn serious_ids(out: &ScanOutput) -> Vec<&str> {
    let mut v: Vec<&str> = out
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Negligible)
        .map(|f| f.id.as_str())
        .collect();
    v.sort();
    v.dedup();
    v
}

pub fn finding<'a>(out: &'a ScanOutput, id: &str) -> &'a regscan_scanner_api::Finding {
    out.findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no {id} in {:#?}", out.findings))
}

/// The `files` claim OPA signs: SHA-256 over the raw bytes. Test bundles write their structured
/// files in canonical form (compact, keys sorted), where raw and canonical digests agree.
pub fn file_claims(files: &[(&str, &[u8])], algorithm: &str) -> serde_json::Value {
    let list: Vec<serde_json::Value> = files
        .iter()
        .filter(|(p, _)| !p.ends_with(".signatures.json"))
        .map(|(p, c)| {
            let hash = match algorithm {
                "MD5" => hex::encode(md5::Md5::digest(c)),
                "SHA-1" => hex::encode(sha1::Sha1::digest(c)),
                _ => hex::encode(Sha256::digest(c)),
            };
            serde_json::json!({"name": p.trim_start_matches('/'), "hash": hash, "algorithm": algorithm})
        })
        .collect();
    serde_json::Value::Array(list)
}

fn b64(s: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

pub fn hs256(secret: &[u8], header: serde_json::Value, payload: serde_json::Value) -> String {
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap();
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&mac.finalize().into_bytes()))
}

pub fn rs256(key: &RsaPrivateKey, header: serde_json::Value, payload: serde_json::Value) -> String {
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone());
    let sig = signer.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&sig.to_bytes()))
}

/// A 2048-bit RSA test key, generated once per test binary.
pub fn rsa_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap())
}

pub fn rsa_public_pem(key: &RsaPrivateKey) -> String {
    key.to_public_key().to_public_key_pem(LineEnding::LF).unwrap()
}

pub fn signatures_file(token: &str) -> Vec<u8> {
    serde_json::json!({"signatures": [token]}).to_string().into_bytes()
}

/// Config with one HS256 key.
pub fn hs256_config(id: &str, secret: &str, scope: Option<&str>) -> OpaConfig {
    let mut v = serde_json::json!({"verification": {"keys": {id: {"algorithm": "HS256", "key": secret}}}});
    if let Some(s) = scope {
        v["verification"]["scope"] = s.into();
    }
    serde_json::from_value(v).unwrap()
}

/// A clean bundle's files (structured files already canonical).
pub fn clean_files() -> BTreeMap<&'static str, Vec<u8>> {
    let mut m = BTreeMap::new();
    m.insert("/.manifest", br#"{"revision":"r1","roots":["authz"]}"#.to_vec());
    m.insert(
        "/authz/policy.rego",
        b"package authz\n\ndefault allow := false\n\nallow if {\n\tinput.user in data.authz.admins\n}\n".to_vec(),
    );
    m.insert("/authz/data.json", br#"{"admins":["alice","bob"]}"#.to_vec());
    m
}

pub fn as_slices<'a>(m: &'a BTreeMap<&'a str, Vec<u8>>) -> Vec<(&'a str, &'a [u8])> {
    m.iter().map(|(k, v)| (*k, v.as_slice())).collect()
}
