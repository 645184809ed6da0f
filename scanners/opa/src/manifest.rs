//! The bundle's `.manifest` file and the root-path rules OPA applies with it.
//!
//! Roots are `/`-separated path prefixes of `data` a bundle owns; the empty root (the default when
//! the manifest declares none) owns everything. Two roots overlap when one is a prefix of the
//! other, segment by segment.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rego::Dialect;

/// The parts of `.manifest` the scanner reads. Unknown fields are ignored, as OPA does.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct BundleManifest {
    /// Bundle revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Declared roots; `None` means the default `[""]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roots: Option<Vec<String>>,
    /// Wasm module resolvers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wasm: Vec<WasmResolver>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Rego version of the bundle's modules (0 or 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rego_version: Option<i64>,
    /// Per-file Rego versions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub file_rego_versions: BTreeMap<String, i64>,
}

/// One `wasm` entry of the manifest.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WasmResolver {
    /// Entrypoint the module implements (`authz/allow`).
    #[serde(default)]
    pub entrypoint: String,
    /// Path of the module in the bundle (`/policy.wasm`).
    #[serde(default)]
    pub module: String,
}

impl BundleManifest {
    /// Parse `.manifest` content.
    pub fn parse(content: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(content).map_err(|e| e.to_string())
    }

    /// The effective roots, split into segments.
    pub fn root_segments(&self) -> Vec<(String, Vec<String>)> {
        match &self.roots {
            None => vec![(String::new(), Vec::new())],
            Some(r) => r.iter().map(|root| (root.clone(), segments(root))).collect(),
        }
    }

    /// The dialect declared for `path`, by `file_rego_versions` then `rego_version`; v1 by
    /// default (OPA 1.x). Returns `None` for an unknown version number.
    pub fn dialect_for(&self, path: &str) -> Option<Dialect> {
        let v = self
            .file_rego_versions
            .iter()
            .find(|(k, _)| k.trim_start_matches('/') == path)
            .map(|(_, v)| *v)
            .or(self.rego_version)
            .unwrap_or(1);
        match v {
            0 => Some(Dialect::V0),
            1 => Some(Dialect::V1),
            _ => None,
        }
    }
}

/// Split a root or data path into segments, ignoring empty ones.
pub fn segments(path: &str) -> Vec<String> {
    path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Whether `prefix` is a segment-wise prefix of `path`.
pub fn is_prefix(prefix: &[String], path: &[String]) -> bool {
    prefix.len() <= path.len() && prefix.iter().zip(path).all(|(a, b)| a == b)
}

/// Pairs of declared roots that overlap.
pub fn overlapping_roots(roots: &[(String, Vec<String>)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, (a, sa)) in roots.iter().enumerate() {
        for (b, sb) in &roots[i + 1..] {
            if is_prefix(sa, sb) || is_prefix(sb, sa) {
                out.push((a.clone(), b.clone()));
            }
        }
    }
    out
}

/// Whether some root contains `path`.
pub fn within_roots(roots: &[(String, Vec<String>)], path: &[String]) -> bool {
    roots.iter().any(|(_, r)| is_prefix(r, path))
}

/// Paths in a data document at `base` that lie outside every root. Descends only where a root
/// lies deeper, as OPA does; stops after `max` paths.
pub fn data_outside_roots(
    roots: &[(String, Vec<String>)],
    base: &[String],
    value: &serde_json::Value,
    max: usize,
) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    walk_data(roots, base.to_vec(), value, max, &mut out);
    out
}

fn walk_data(
    roots: &[(String, Vec<String>)],
    path: Vec<String>,
    value: &serde_json::Value,
    max: usize,
    out: &mut Vec<Vec<String>>,
) {
    if out.len() >= max || within_roots(roots, &path) {
        return;
    }
    let root_below = roots.iter().any(|(_, r)| is_prefix(&path, r));
    match value.as_object() {
        Some(obj) if root_below => {
            for (k, v) in obj {
                let mut p = path.clone();
                p.push(k.clone());
                walk_data(roots, p, v, max, out);
            }
        }
        _ => out.push(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roots(r: &[&str]) -> Vec<(String, Vec<String>)> {
        r.iter().map(|s| (s.to_string(), segments(s))).collect()
    }

    #[test]
    fn overlap_is_segment_wise() {
        assert_eq!(
            overlapping_roots(&roots(&["a", "a/b"])),
            [("a".to_string(), "a/b".to_string())]
        );
        assert!(overlapping_roots(&roots(&["a", "ab"])).is_empty());
        assert_eq!(overlapping_roots(&roots(&["", "x"])).len(), 1);
    }

    #[test]
    fn data_outside_roots_descends_only_toward_roots() {
        let r = roots(&["authz", "lib/common"]);
        let v = json!({"authz": {"x": 1}, "lib": {"common": {}, "other": 2}, "stray": true});
        let mut out = data_outside_roots(&r, &[], &v, 10);
        out.sort();
        assert_eq!(
            out,
            vec![vec!["lib".to_string(), "other".to_string()], vec!["stray".to_string()]]
        );
        assert!(data_outside_roots(&roots(&[""]), &[], &v, 10).is_empty());
    }

    #[test]
    fn manifest_parses_and_declares_dialects() {
        let m = BundleManifest::parse(
            br#"{"revision":"r1","roots":["a"],"rego_version":0,"file_rego_versions":{"/a/new.rego":1},"extra":1}"#,
        )
        .unwrap();
        assert_eq!(m.dialect_for("a/old.rego"), Some(Dialect::V0));
        assert_eq!(m.dialect_for("a/new.rego"), Some(Dialect::V1));
        assert_eq!(BundleManifest::default().dialect_for("x.rego"), Some(Dialect::V1));
        assert!(BundleManifest::parse(br#"{"revision": 5}"#).is_err());
    }
}
