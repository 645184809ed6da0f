//! Lenient serde types for OCI and Docker manifests.
//!
//! Registries hold manifests written by many tools; these types accept every field the
//! image-spec defines and ignore the rest, so that an odd vendor manifest is still classified
//! instead of rejected. Strict checks (digest, size, media type) belong to the registry client.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::media;

/// A content descriptor (image-spec `descriptor.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(default)]
    pub media_type: String,
    /// Digest of the referenced content, `algorithm:hex`.
    pub digest: String,
    /// Size in bytes of the referenced content.
    #[serde(default)]
    pub size: u64,
    /// Artifact type of the referenced manifest, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Platform, for index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Alternative locations (foreign layers); never followed by regscan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

/// Platform of an index entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`, `unknown` for attestations).
    #[serde(default)]
    pub architecture: String,
    /// Operating system (`linux`, `windows`, `unknown` for attestations).
    #[serde(default)]
    pub os: String,
    /// CPU variant (`v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// OS version (Windows).
    #[serde(default, rename = "os.version", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An image manifest (OCI or Docker schema 2); artifacts use the same shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Schema version, 2.
    #[serde(default)]
    pub schema_version: u32,
    /// Media type declared in the body (optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type (image-spec 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Config descriptor.
    pub config: Descriptor,
    /// Layers.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Subject (referrers API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Schema version, 2.
    #[serde(default)]
    pub schema_version: u32,
    /// Media type declared in the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type (image-spec 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Child manifests.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Subject (referrers API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A parsed manifest document: either a single manifest or an index.
// Both variants are a few hundred bytes and live briefly, one per fetched manifest: boxing
// would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestDoc {
    /// An image or artifact manifest.
    Manifest(ImageManifest),
    /// An image index or manifest list.
    Index(ImageIndex),
}

/// Why a manifest body could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The body is not JSON or lacks the required fields.
    #[error("manifest is not valid JSON of a known shape: {0}")]
    Json(#[from] serde_json::Error),
    /// The media type is not a manifest type regscan reads.
    #[error("unsupported manifest media type {0:?} (docker schema 1 and other formats are not read)")]
    MediaType(String),
}

impl ManifestDoc {
    /// Parse a manifest body. `content_type` is the registry's Content-Type, used when the body
    /// does not declare its own `mediaType` (allowed by OCI).
    pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Self, ManifestError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
            config: Option<serde_json::Value>,
            schema_version: Option<u32>,
        }
        let probe: Probe = serde_json::from_slice(body)?;
        let media_type = probe
            .media_type
            .clone()
            .or_else(|| content_type.map(|c| c.split(';').next().unwrap_or(c).trim().to_owned()));
        let is_index = match media_type.as_deref() {
            Some(media::OCI_INDEX | media::DOCKER_MANIFEST_LIST) => true,
            Some(media::OCI_MANIFEST | media::DOCKER_MANIFEST) => false,
            Some(other) if probe.schema_version == Some(1) || other.contains("v1+prettyjws") => {
                return Err(ManifestError::MediaType(other.to_owned()))
            }
            // Unknown or absent media type: decide by shape, as the image-spec allows.
            _ => probe.manifests.is_some() && probe.config.is_none(),
        };
        if probe.schema_version == Some(1) {
            return Err(ManifestError::MediaType(
                media_type.unwrap_or_else(|| "docker schema 1".into()),
            ));
        }
        Ok(if is_index {
            ManifestDoc::Index(serde_json::from_slice(body)?)
        } else {
            ManifestDoc::Manifest(serde_json::from_slice(body)?)
        })
    }

    /// The media type the body declares, if any.
    pub fn media_type(&self) -> Option<&str> {
        match self {
            ManifestDoc::Manifest(m) => m.media_type.as_deref(),
            ManifestDoc::Index(i) => i.media_type.as_deref(),
        }
    }
}

impl Descriptor {
    /// Whether this index entry is an attestation manifest rather than a runnable image
    /// (BuildKit's `unknown/unknown` platform or its `vnd.docker.reference.type` annotation).
    pub fn is_attestation_entry(&self) -> bool {
        self.annotations
            .get(media::ANNOTATION_DOCKER_REFERENCE_TYPE)
            .map(String::as_str)
            == Some(media::DOCKER_ATTESTATION_MANIFEST)
            || self
                .platform
                .as_ref()
                .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_oci_manifest_without_media_type_by_content_type() {
        let body = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aa","size":2},"layers":[]}"#;
        let doc = ManifestDoc::parse(body, Some("application/vnd.oci.image.manifest.v1+json")).unwrap();
        assert!(matches!(doc, ManifestDoc::Manifest(_)));
    }

    #[test]
    fn parses_index_by_shape() {
        let body = br#"{"schemaVersion":2,"manifests":[]}"#;
        let doc = ManifestDoc::parse(body, None).unwrap();
        assert!(matches!(doc, ManifestDoc::Index(_)));
    }

    #[test]
    fn refuses_schema1() {
        let body = br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#;
        let err =
            ManifestDoc::parse(body, Some("application/vnd.docker.distribution.manifest.v1+prettyjws")).unwrap_err();
        assert!(err.to_string().contains("schema 1") || err.to_string().contains("prettyjws"));
    }

    #[test]
    fn refuses_garbage() {
        assert!(ManifestDoc::parse(b"not json", None).is_err());
        assert!(ManifestDoc::parse(br#"{"schemaVersion":2}"#, Some(media::OCI_MANIFEST)).is_err());
    }
}
