//! The artifact type table and type resolution.
//!
//! Resolution is a pure function of the manifest: `artifactType`, else `config.mediaType` for a
//! manifest; `artifactType`, else the `org.opencontainers.artifactType` annotation, else a
//! multi-platform index for an index. The table then maps the media type to a kind, a title and
//! (maybe) a scanner. A type with no scanner is **unsupported** and says so, naming the media type.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::manifest::{Descriptor, ImageIndex, ImageManifest, ManifestDoc};
use crate::media;
use crate::report::Kind;

/// One row of the type table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeEntry {
    /// The media type (`artifactType` or config media type).
    pub media_type: String,
    /// The kind it maps to.
    pub kind: Kind,
    /// A title for people ("Helm chart").
    pub title: String,
    /// The scanner that handles it; `None` means known but unsupported.
    #[serde(default)]
    pub scanner: Option<String>,
}

impl TypeEntry {
    /// A row handled by `scanner`.
    pub fn scanned(media_type: &str, kind: &str, title: &str, scanner: &str) -> Self {
        TypeEntry {
            media_type: media_type.into(),
            kind: Kind::new(kind),
            title: title.into(),
            scanner: Some(scanner.into()),
        }
    }

    /// A known row that no scanner handles.
    pub fn known(media_type: &str, kind: &str, title: &str) -> Self {
        TypeEntry {
            media_type: media_type.into(),
            kind: Kind::new(kind),
            title: title.into(),
            scanner: None,
        }
    }
}

/// Why a type table could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TypeTableError {
    /// Two scanners claim one media type.
    #[error("media type {media_type} is claimed by two scanners: {first} and {second}")]
    Conflict {
        /// The media type.
        media_type: String,
        /// The scanner registered first.
        first: String,
        /// The scanner registered second.
        second: String,
    },
    /// A configured row names a scanner that does not exist.
    #[error("type table entry for {media_type} names scanner {scanner:?}, which does not exist (known: {known})")]
    UnknownScanner {
        /// The media type.
        media_type: String,
        /// The scanner named.
        scanner: String,
        /// The scanners that exist.
        known: String,
    },
}

/// Well-known artifact types that no built-in scanner handles. They get a kind and a title so the
/// report says what the artifact is, and status `unsupported`. A scanner's row for the same media
/// type replaces the one here when the table is built (the SBOM JSON rows: scanner `sbom`).
pub fn known_unsupported() -> Vec<TypeEntry> {
    let k = TypeEntry::known;
    // `media::COSIGN_SIMPLESIGNING` is not here: the `cosign` scanner accepts it.
    vec![
        k(
            "application/vnd.dev.cosign.artifact.sig.v1+json",
            "signature",
            "Cosign signature (OCI 1.1 referrer)",
        ),
        k(
            "application/vnd.dev.sigstore.bundle.v0.3+json",
            "signature",
            "Sigstore bundle",
        ),
        k(
            "application/vnd.dev.sigstore.bundle+json;version=0.3",
            "signature",
            "Sigstore bundle",
        ),
        k(
            "application/vnd.cncf.notary.signature",
            "signature",
            "Notation signature",
        ),
        k(
            "application/vnd.cncf.notary.v2.signature",
            "signature",
            "Notary v2 signature",
        ),
        k(media::DSSE_ENVELOPE, "attestation", "DSSE attestation"),
        k(media::IN_TOTO, "attestation", "in-toto attestation"),
        k(
            "application/vnd.dev.cosign.attestation.v1+json",
            "attestation",
            "Cosign attestation",
        ),
        // The `sbom` scanner claims the JSON forms (its rows replace these four when the table is
        // built); they stay here for their titles, which the web pages read from this list.
        k("application/spdx+json", "sbom", "SPDX SBOM (JSON)"),
        k("text/spdx+json", "sbom", "SPDX SBOM (JSON, cosign attach)"),
        k("application/vnd.cyclonedx+json", "sbom", "CycloneDX SBOM (JSON)"),
        k("application/vnd.cyclonedx", "sbom", "CycloneDX SBOM (cosign attach)"),
        k("text/spdx", "sbom", "SPDX SBOM (tag-value)"),
        k("application/spdx+xml", "sbom", "SPDX SBOM (XML)"),
        k("application/vnd.cyclonedx+xml", "sbom", "CycloneDX SBOM (XML)"),
        k("application/vnd.syft+json", "sbom", "Syft SBOM"),
        k("text/spdx+xml", "sbom", "SPDX SBOM (XML, cosign attach)"),
        k(
            "application/vnd.dev.cosign.artifact.sbom.v1+json",
            "sbom",
            "Cosign-attached SBOM (OCI 1.1 referrer)",
        ),
        k("application/vnd.wasm.config.v0+json", "wasm", "WebAssembly module"),
        k("application/vnd.wasm.config.v1+json", "wasm", "WebAssembly module"),
        k(
            "application/vnd.module.wasm.config.v1+json",
            "wasm",
            "WebAssembly module (wasm-to-oci)",
        ),
        k(
            "application/vnd.bytecodealliance.wasm.component.config.v0+json",
            "wasm",
            "WebAssembly component",
        ),
        k("application/vnd.cncf.flux.config.v1+json", "flux", "Flux artifact"),
        k(
            "application/vnd.cdf.tekton.catalog.v1beta1+yaml",
            "tekton",
            "Tekton bundle",
        ),
        k(
            "application/vnd.docker.ai.model.config.v0.1+json",
            "ml-model",
            "AI model (Docker Model Runner)",
        ),
        k(
            "application/vnd.kitops.modelkit.config.v1+json",
            "ml-model",
            "AI model (KitOps ModelKit)",
        ),
        k(
            "application/vnd.cncf.falco.rulesfile.config.v1+json",
            "falco",
            "Falco rules file",
        ),
        k(
            "application/vnd.cncf.falco.plugin.config.v1+json",
            "falco",
            "Falco plugin",
        ),
        k(
            "application/vnd.cncf.kyverno.config.v1+json",
            "kyverno",
            "Kyverno policy",
        ),
        k("application/vnd.cnab.config.v1+json", "cnab", "CNAB bundle"),
        k("application/vnd.cnab.manifest.v1", "cnab", "CNAB bundle"),
        k(
            "application/vnd.sylabs.sif.config.v1+json",
            "sif",
            "Singularity image (SIF)",
        ),
        k(
            "application/vnd.docker.plugin.v1+json",
            "plugin",
            "Docker engine plugin",
        ),
        k(
            "application/vnd.buildkit.cacheconfig.v0",
            "cache",
            "BuildKit build cache",
        ),
        k(
            "application/vnd.unknown.config.v1+json",
            "unknown",
            "ORAS artifact with no type (ORAS default config)",
        ),
        k(
            "application/vnd.unknown.artifact.v1",
            "unknown",
            "ORAS artifact with no type (ORAS default artifact type)",
        ),
        k(
            media::OCI_EMPTY,
            "unknown",
            "Artifact with an empty config and no artifactType",
        ),
    ]
}

/// The type table: media type → kind, title, scanner.
#[derive(Debug, Clone, Default)]
pub struct TypeTable {
    entries: BTreeMap<String, TypeEntry>,
}

impl TypeTable {
    /// Build the table from what the scanners accept, the well-known unsupported types and the
    /// user's rows (which may override any built-in row). `scanners` are the names of the
    /// registered scanners, against which user rows are checked.
    pub fn build(
        accepted: impl IntoIterator<Item = TypeEntry>,
        user: impl IntoIterator<Item = TypeEntry>,
        scanners: &[&str],
    ) -> Result<Self, TypeTableError> {
        let mut entries: BTreeMap<String, TypeEntry> = known_unsupported()
            .into_iter()
            .map(|e| (e.media_type.clone(), e))
            .collect();
        let mut claimed: BTreeMap<String, String> = BTreeMap::new();
        for e in accepted {
            let scanner = e.scanner.clone().unwrap_or_default();
            if let Some(first) = claimed.insert(e.media_type.clone(), scanner.clone()) {
                return Err(TypeTableError::Conflict {
                    media_type: e.media_type,
                    first,
                    second: scanner,
                });
            }
            entries.insert(e.media_type.clone(), e);
        }
        for e in user {
            if let Some(s) = &e.scanner {
                if !scanners.contains(&s.as_str()) {
                    return Err(TypeTableError::UnknownScanner {
                        media_type: e.media_type,
                        scanner: s.clone(),
                        known: scanners.join(", "),
                    });
                }
            }
            entries.insert(e.media_type.clone(), e);
        }
        Ok(TypeTable { entries })
    }

    /// The row for a media type. Parameters (`; version=…`) are tried with and without.
    pub fn lookup(&self, media_type: &str) -> Option<&TypeEntry> {
        self.entries.get(media_type).or_else(|| {
            let base = media_type.split(';').next()?.trim();
            self.entries.get(base)
        })
    }

    /// All rows, ordered by media type.
    pub fn entries(&self) -> impl Iterator<Item = &TypeEntry> {
        self.entries.values()
    }

    /// Resolve a parsed manifest.
    pub fn resolve(&self, doc: &ManifestDoc) -> Resolution {
        match doc {
            ManifestDoc::Manifest(m) => self.resolve_manifest(m),
            ManifestDoc::Index(i) => self.resolve_index(i),
        }
    }

    fn resolve_manifest(&self, m: &ImageManifest) -> Resolution {
        let declared = m
            .artifact_type
            .as_deref()
            .filter(|t| !t.is_empty())
            .unwrap_or(&m.config.media_type)
            .to_owned();
        if let Some(r) = self.resolve_by_layers(m, &declared) {
            return r;
        }
        match self.lookup(&declared) {
            Some(entry) if entry.scanner.is_some() => Resolution::Scan {
                artifact_type: declared,
                entry: entry.clone(),
            },
            Some(entry) => {
                let reason = if declared == media::OCI_EMPTY {
                    format!("manifest has the empty config ({declared}) and no artifactType; nothing says what it holds, and no scanner handles it")
                } else {
                    format!("no scanner handles media type {declared} ({})", entry.title)
                };
                Resolution::unsupported(declared, entry.kind.clone(), reason)
            }
            None if declared.is_empty() => Resolution::unsupported(
                declared,
                Kind::Unknown,
                "manifest declares neither artifactType nor config.mediaType; no scanner handles it".into(),
            ),
            None => {
                let reason = format!("media type {declared} is not in the type table; no scanner handles it");
                Resolution::unsupported(declared, Kind::Unknown, reason)
            }
        }
    }

    /// What the layers say when the declared type does not: `None` to resolve by the declared
    /// type.
    ///
    /// - in-toto statements and DSSE envelopes whose layer annotation names a predicate type
    ///   (`in-toto.io/predicate-type` from BuildKit, `predicateType` from cosign) that has a row
    ///   `<layer type>; predicateType=<predicate>` handled by a scanner go to that scanner
    ///   (an SBOM attestation), when the manifest is image-shaped or declares an attestation or
    ///   nothing in particular (kind `unknown`);
    /// - image-shaped manifests whose layers all carry one known non-image type (cosign
    ///   signatures, DSSE/in-toto attestations, SBOMs attached the legacy cosign way, Tekton
    ///   bundles…) are that type, not an image: scanned when a scanner handles the layer type,
    ///   else unsupported;
    /// - artifacts whose declared type no scanner handles, of kind `unknown` (ORAS defaults, the
    ///   empty config) or of the layers' own kind (cosign's OCI 1.1 SBOM referrer), with layers
    ///   that all carry one type a scanner handles, go to that scanner.
    fn resolve_by_layers(&self, m: &ImageManifest, declared: &str) -> Option<Resolution> {
        let first = &m.layers.first()?.media_type;
        let image_shaped = is_image_config(declared);
        let declared_entry = self.lookup(declared);
        let wrapper_kind = declared_entry.map_or(&Kind::Unknown, |e| &e.kind);
        if declared_entry.is_some_and(|e| e.scanner.is_some()) && !image_shaped {
            return None;
        }
        if image_shaped || matches!(wrapper_kind, Kind::Attestation | Kind::Unknown) {
            if let Some(r) = self.resolve_by_predicate(m) {
                return Some(r);
            }
        }
        if !m.layers.iter().all(|l| &l.media_type == first) {
            return None;
        }
        let entry = self.lookup(first).filter(|e| e.kind != Kind::Image)?;
        match &entry.scanner {
            Some(_) if image_shaped || *wrapper_kind == Kind::Unknown || *wrapper_kind == entry.kind => {
                Some(Resolution::Scan {
                    artifact_type: first.clone(),
                    entry: entry.clone(),
                })
            }
            None if image_shaped => Some(Resolution::unsupported(
                first.clone(),
                entry.kind.clone(),
                format!(
                    "image-shaped manifest whose layers are {} ({first}); no scanner handles {}",
                    entry.title, entry.kind
                ),
            )),
            _ => None,
        }
    }

    /// An in-toto/DSSE manifest routed by its layers' predicate type annotations.
    fn resolve_by_predicate(&self, m: &ImageManifest) -> Option<Resolution> {
        let base = |t: &str| t.split(';').next().unwrap_or("").trim().to_owned();
        let wrapped = |t: &str| matches!(base(t).as_str(), media::IN_TOTO | media::DSSE_ENVELOPE);
        if !m.layers.iter().all(|l| wrapped(&l.media_type)) {
            return None;
        }
        m.layers.iter().find_map(|l| {
            let predicate = l
                .annotations
                .get(media::ANNOTATION_INTOTO_PREDICATE_TYPE)
                .or_else(|| l.annotations.get(media::ANNOTATION_COSIGN_PREDICATE_TYPE))?;
            let key = predicate_media_type(&base(&l.media_type), predicate);
            let entry = self.entries.get(&key).filter(|e| e.scanner.is_some())?;
            Some(Resolution::Scan {
                artifact_type: key,
                entry: entry.clone(),
            })
        })
    }

    fn resolve_index(&self, i: &ImageIndex) -> Resolution {
        let declared = i
            .artifact_type
            .clone()
            .filter(|t| !t.is_empty())
            .or_else(|| i.annotations.get(media::ANNOTATION_ARTIFACT_TYPE).cloned());
        if let Some(t) = declared {
            let (kind, title) = match self.lookup(&t) {
                Some(e) => (e.kind.clone(), e.title.clone()),
                None => (Kind::Unknown, "not in the type table".to_owned()),
            };
            return Resolution::unsupported(
                t.clone(),
                kind,
                format!("index of artifact type {t} ({title}); no scanner handles index artifacts of this type"),
            );
        }
        let children = i
            .manifests
            .iter()
            .map(|d| IndexChild {
                descriptor: d.clone(),
                attestation: d.is_attestation_entry(),
            })
            .collect();
        Resolution::Index { children }
    }
}

/// The type table key of an in-toto statement or DSSE envelope (`media_type`) carrying a
/// `predicate` type: `application/vnd.in-toto+json; predicateType=https://spdx.dev/Document`. A
/// scanner claims attestations of one predicate type with a row of this key; manifests reach it
/// through their layers' predicate type annotations.
pub fn predicate_media_type(media_type: &str, predicate: &str) -> String {
    format!("{media_type}; predicateType={}", predicate.trim())
}

fn is_image_config(t: &str) -> bool {
    t == media::OCI_CONFIG || t == media::DOCKER_CONFIG
}

/// One entry of a multi-platform index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexChild {
    /// The child's descriptor (digest, platform).
    pub descriptor: Descriptor,
    /// Whether it is an attestation manifest rather than a platform image.
    pub attestation: bool,
}

/// The outcome of resolving a manifest's type.
#[allow(clippy::large_enum_variant)] // one per manifest, short-lived
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Route to `entry.scanner`.
    Scan {
        /// The resolved artifact type.
        artifact_type: String,
        /// The table row. A scanner's [`sniff`](crate::Scanner::sniff) hook may still claim
        /// the artifact by its content (an OPA bundle pushed as a one-layer image).
        entry: TypeEntry,
    },
    /// No scanner handles it.
    Unsupported {
        /// The media type that made it so.
        artifact_type: String,
        /// Kind from the table, or `unknown`.
        kind: Kind,
        /// Words a person can act on, naming the media type.
        reason: String,
    },
    /// A multi-platform index: each child is resolved and scanned on its own.
    Index {
        /// The children.
        children: Vec<IndexChild>,
    },
}

impl Resolution {
    fn unsupported(artifact_type: String, kind: Kind, reason: String) -> Self {
        Resolution::Unsupported {
            artifact_type,
            kind,
            reason,
        }
    }

    /// The kind this resolution reports.
    pub fn kind(&self) -> Kind {
        match self {
            Resolution::Scan { entry, .. } => entry.kind.clone(),
            Resolution::Unsupported { kind, .. } => kind.clone(),
            Resolution::Index { .. } => Kind::Index,
        }
    }
}

#[cfg(test)]
mod tests;
