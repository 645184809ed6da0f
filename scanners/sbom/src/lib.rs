//! regscan's SBOM scanner.
//!
//! [`SbomScanner`] reads SBOMs pushed to a registry: SPDX 2.2/2.3 JSON and CycloneDX 1.4–1.6
//! JSON, as artifacts of their own (`artifactType` or layer media type `application/spdx+json`,
//! `text/spdx+json`, `application/vnd.cyclonedx+json`, `application/vnd.cyclonedx`), attached
//! the legacy cosign way (an image config and one SBOM layer), or as in-toto attestations whose
//! predicate is an SBOM (BuildKit's `in-toto.io/predicate-type` and cosign's `predicateType`
//! layer annotations; the statement bare, in a DSSE envelope or in a Sigstore bundle).
//!
//! Every package's purl becomes a [`Package`] with the OSV ecosystem, name and version the
//! pipeline's advisory matcher looks up (module `purl`), so an SBOM's packages are matched like
//! an image's. Packages without a purl are kept with their name and version and no ecosystem.
//! The scanner invents no findings: what it reports comes from the advisories matched later.
//!
//! Reading is bounded by [`SbomConfig`] (module `parse` says how).
#![forbid(unsafe_code)]

mod parse;
pub mod purl;

use std::collections::BTreeMap;

use async_trait::async_trait;
use regscan_scanner_api::types::predicate_media_type;
use regscan_scanner_api::{media, Descriptor, Limits, Package, ScanContext, ScanError, ScanOutput, Scanner, TypeEntry};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use parse::{is_cyclonedx_predicate, is_spdx_predicate};

/// The scanner name, and the kind of what it scans.
pub const SBOM_SCANNER_NAME: &str = "sbom";

/// Version of the analysis; bumped whenever what is read or how purls map changes.
pub const SBOM_SCANNER_VERSION: &str = "1.0.0";

/// SBOM media types read as JSON documents, with their titles.
pub const SBOM_MEDIA_TYPES: &[(&str, &str)] = &[
    ("application/spdx+json", "SPDX SBOM (JSON)"),
    ("text/spdx+json", "SPDX SBOM (JSON, cosign attach)"),
    ("application/vnd.cyclonedx+json", "CycloneDX SBOM (JSON)"),
    ("application/vnd.cyclonedx", "CycloneDX SBOM (cosign attach)"),
];

/// in-toto predicate types whose predicate is an SBOM, with their titles.
pub const SBOM_PREDICATES: &[(&str, &str)] = &[
    ("https://spdx.dev/Document", "SPDX"),
    ("https://spdx.dev/Document/v2.2", "SPDX 2.2"),
    ("https://spdx.dev/Document/v2.3", "SPDX 2.3"),
    ("https://cyclonedx.org/bom", "CycloneDX"),
    ("https://cyclonedx.org/bom/v1.4", "CycloneDX 1.4"),
    ("https://cyclonedx.org/bom/v1.5", "CycloneDX 1.5"),
    ("https://cyclonedx.org/bom/v1.6", "CycloneDX 1.6"),
];

/// Configuration of the SBOM scanner (`[scanners.sbom]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SbomConfig {
    /// Largest SBOM document (layer, or config blob) read, in bytes. Default 64 MiB.
    pub max_document_bytes: u64,
    /// Most SBOM documents (layers) read from one artifact. Default 16.
    pub max_documents: usize,
    /// Most array entries kept from one document: packages, components, external references,
    /// properties and tools together. Default 1,000,000.
    pub max_entries: usize,
    /// Most packages from one artifact, all documents together. Default 200,000.
    pub max_packages: usize,
    /// Deepest nesting of CycloneDX components (top-level components are depth 1). Default 32.
    pub max_depth: usize,
}

impl Default for SbomConfig {
    fn default() -> Self {
        SbomConfig {
            max_document_bytes: 64 << 20,
            max_documents: 16,
            max_entries: 1_000_000,
            max_packages: 200_000,
            max_depth: 32,
        }
    }
}

/// Scans SBOM artifacts.
#[derive(Debug, Clone, Default)]
pub struct SbomScanner {
    config: SbomConfig,
}

impl SbomScanner {
    /// Build the scanner.
    pub fn new(config: SbomConfig) -> Self {
        SbomScanner { config }
    }
}

fn base(media_type: &str) -> &str {
    media_type.split(';').next().unwrap_or(media_type).trim()
}

fn is_sbom_type(media_type: &str) -> bool {
    let b = base(media_type);
    SBOM_MEDIA_TYPES.iter().any(|(t, _)| *t == b)
}

fn is_wrapper_type(media_type: &str) -> bool {
    matches!(base(media_type), media::IN_TOTO | media::DSSE_ENVELOPE)
}

fn is_sbom_predicate(p: &str) -> bool {
    is_spdx_predicate(p) || is_cyclonedx_predicate(p)
}

/// A layer's predicate type annotation (BuildKit's or cosign's).
fn predicate_annotation(d: &Descriptor) -> Option<&str> {
    d.annotations
        .get(media::ANNOTATION_INTOTO_PREDICATE_TYPE)
        .or_else(|| d.annotations.get(media::ANNOTATION_COSIGN_PREDICATE_TYPE))
        .map(String::as_str)
}

/// Where a document is, for people: the layer's file name annotation, else its digest.
fn doc_location(d: &Descriptor) -> String {
    d.annotations
        .get("org.opencontainers.image.title")
        .filter(|t| !t.is_empty())
        .cloned()
        .unwrap_or_else(|| d.digest.clone())
}

impl SbomScanner {
    /// The blobs to read, and the layers passed over with why.
    fn select(&self, ctx: &ScanContext<'_>) -> Result<(Vec<Descriptor>, Vec<String>), ScanError> {
        let m = ctx.manifest;
        let mut picked = Vec::new();
        let mut skipped = Vec::new();
        for l in &m.layers {
            if is_sbom_type(&l.media_type) {
                picked.push(l.clone());
            } else if is_wrapper_type(&l.media_type) {
                match predicate_annotation(l) {
                    Some(p) if !is_sbom_predicate(p) => {
                        skipped.push(format!("{}: in-toto predicate {p} is not an SBOM", l.digest))
                    }
                    _ => picked.push(l.clone()),
                }
            }
        }
        // `oras attach --artifact-type application/spdx+json` gives the file ORAS's default
        // layer type: when the artifact type says SBOM, its layers are read for what they hold.
        if picked.is_empty() && (is_sbom_type(ctx.artifact_type) || is_sbom_type(&m.config.media_type)) {
            picked = m
                .layers
                .iter()
                .filter(|l| !media::is_foreign_layer(&l.media_type))
                .cloned()
                .collect();
        }
        if picked.is_empty() && is_sbom_type(&m.config.media_type) && m.config.size > 2 {
            picked.push(m.config.clone());
        }
        if picked.is_empty() {
            let types: Vec<&str> = m.layers.iter().map(|l| l.media_type.as_str()).collect();
            return Err(ScanError::Invalid(format!(
                "{}: no layer holds an SBOM (artifact type {}, layers [{}])",
                ctx.reference,
                ctx.artifact_type,
                types.join(", ")
            )));
        }
        if picked.len() > self.config.max_documents {
            return Err(ScanError::Limit(format!(
                "{} SBOM documents, over the limit of {} (max_documents)",
                picked.len(),
                self.config.max_documents
            )));
        }
        Ok((picked, skipped))
    }
}

#[async_trait]
impl Scanner for SbomScanner {
    fn name(&self) -> &'static str {
        SBOM_SCANNER_NAME
    }

    fn version(&self) -> &'static str {
        SBOM_SCANNER_VERSION
    }

    fn accepts(&self) -> Vec<TypeEntry> {
        let mut rows: Vec<TypeEntry> = SBOM_MEDIA_TYPES
            .iter()
            .map(|(t, title)| TypeEntry::scanned(t, SBOM_SCANNER_NAME, title, SBOM_SCANNER_NAME))
            .collect();
        for (wrapper, how) in [
            (media::IN_TOTO, "in-toto attestation"),
            (media::DSSE_ENVELOPE, "DSSE attestation"),
        ] {
            for (p, format) in SBOM_PREDICATES {
                rows.push(TypeEntry::scanned(
                    &predicate_media_type(wrapper, p),
                    SBOM_SCANNER_NAME,
                    &format!("{format} SBOM ({how})"),
                    SBOM_SCANNER_NAME,
                ));
            }
        }
        rows
    }

    fn limits(&self) -> Limits {
        Limits {
            max_blob_bytes: self.config.max_document_bytes,
            ..Limits::default()
        }
    }

    async fn scan(&self, ctx: &ScanContext<'_>) -> Result<ScanOutput, ScanError> {
        let (picked, mut notes) = self.select(ctx)?;
        let limits = parse::ParseLimits {
            max_entries: self.config.max_entries,
            max_depth: self.config.max_depth,
        };
        let mut packages = Vec::new();
        let mut documents = Vec::new();
        for desc in &picked {
            let bytes = ctx
                .read_blob(desc, self.config.max_document_bytes, "SBOM document")
                .await?;
            let location = doc_location(desc);
            let parsed = tokio::task::spawn_blocking(move || parse::parse(&bytes, &limits))
                .await
                .map_err(|e| ScanError::Internal(format!("parsing {location}: {e}")))?;
            let location = doc_location(desc);
            let doc = match parsed {
                Ok(parse::Parsed::Sbom(doc)) => doc,
                Ok(parse::Parsed::OtherPredicate(p)) => {
                    notes.push(format!("{location}: in-toto predicate {p} is not an SBOM"));
                    continue;
                }
                Err(parse::ParseError::Limit(m)) => return Err(ScanError::Limit(format!("{location}: {m}"))),
                Err(parse::ParseError::Invalid(m)) => return Err(ScanError::Invalid(format!("{location}: {m}"))),
            };
            if packages.len() + doc.entries.len() > self.config.max_packages {
                return Err(ScanError::Limit(format!(
                    "{location}: more than {} packages in the artifact (max_packages)",
                    self.config.max_packages
                )));
            }
            documents.push(document_details(&doc, &location, desc));
            packages.extend(doc.entries.iter().map(|e| package_of(e, &location, desc)));
        }
        if documents.is_empty() {
            return Err(ScanError::Invalid(format!(
                "{}: no SBOM document ({})",
                ctx.reference,
                notes.join("; ")
            )));
        }
        let matchable = packages.iter().filter(|p| is_matchable(p)).count();
        let mut ecosystems: BTreeMap<&str, u64> = BTreeMap::new();
        for p in &packages {
            *ecosystems.entry(p.ecosystem.as_str()).or_default() += 1;
        }
        if matchable == 0 {
            notes.push(
                "no package has a purl of an ecosystem regscan matches advisories in; nothing was matched".into(),
            );
        }
        let mut details = serde_json::Map::new();
        details.insert("documents".into(), Value::Array(documents));
        details.insert("packages".into(), packages.len().into());
        details.insert("matchable".into(), matchable.into());
        details.insert("ecosystems".into(), json!(ecosystems));
        if !notes.is_empty() {
            details.insert("notes".into(), json!(notes));
        }
        Ok(ScanOutput {
            findings: Vec::new(),
            packages,
            details,
        })
    }
}

/// Whether the matcher can look a package up: it has an OSV ecosystem and a version.
fn is_matchable(p: &Package) -> bool {
    !p.version.is_empty() && !matches!(p.ecosystem.as_str(), "" | "dpkg" | "apk" | "rpm")
}

fn document_details(doc: &parse::Document, location: &str, desc: &Descriptor) -> Value {
    let with_purl = doc.entries.iter().filter(|e| e.purl.is_some()).count();
    json!({
        "location": location,
        "digest": desc.digest,
        "format": doc.format,
        "spec_version": doc.spec_version,
        "name": doc.name,
        "id": doc.id,
        "tools": doc.tools,
        "wrappers": doc.wrappers,
        "predicate_type": doc.predicate_type,
        "operating_systems": doc.operating_systems,
        "components": doc.entries.len(),
        "with_purl": with_purl,
    })
}

/// The package of one entry: from its purl when it has a readable one, else its declared name
/// and version with no ecosystem.
fn package_of(e: &parse::Entry, location: &str, desc: &Descriptor) -> Package {
    let mapped = e
        .purl
        .as_deref()
        .and_then(|p| purl::Purl::parse(p).ok())
        .map(|p| purl::map(&p));
    let mut pkg = Package {
        ecosystem: String::new(),
        name: e.name.clone(),
        version: e.version.clone(),
        source_name: None,
        source_version: None,
        path: format!("{location}#{}", e.element),
        layer: Some(desc.digest.clone()),
        dev: false,
    };
    if let Some(m) = mapped {
        pkg.ecosystem = m.ecosystem;
        pkg.name = m.name;
        if !m.version.is_empty() {
            pkg.version = m.version;
        }
        pkg.source_name = m.source_name;
        pkg.source_version = m.source_version;
    }
    if pkg.source_name.is_none() {
        if let Some((n, v)) = &e.source {
            if n != &pkg.name {
                pkg.source_name = Some(n.clone());
            }
            pkg.source_version = v.clone().filter(|v| v != &pkg.version);
            if pkg.source_version.is_some() && pkg.source_name.is_none() {
                pkg.source_name = Some(n.clone());
            }
        }
    }
    pkg
}
