//! The serde model of an OSV record (OSV schema 1.6, read leniently) and [`parse_advisory`].
//!
//! Unknown fields are ignored so that records written against a newer schema still load; the
//! fields matching depends on (`id`, `affected[].package`, `ranges[].events`) are checked, and
//! a record that breaks them is refused with an error that names the problem.

use serde::{Deserialize, Deserializer, Serialize};

use crate::OsvError;

/// Read `null` as an empty list: some exporters write `"aliases": null`.
fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// One OSV vulnerability record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    /// Schema version the record was written against (`"1.6.0"`), when stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    /// Record id (`GHSA-…`, `DSA-…`, `GO-…`, `PYSEC-…`).
    pub id: String,
    /// RFC 3339 time of the last change. Required by the schema; kept as text (vulndb writes
    /// `0001-01-01T00:00:00Z`, which is not a meaningful time).
    #[serde(default)]
    pub modified: String,
    /// RFC 3339 time of publication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// RFC 3339 time of withdrawal; a withdrawn record never matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// Other ids of the same vulnerability (CVE, GHSA).
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Ids of upstream vulnerabilities this record refers to (distribution advisories).
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub upstream: Vec<String>,
    /// Ids of related but distinct vulnerabilities.
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<String>,
    /// One-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Details, CommonMark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// Record-level severity scores.
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<SeverityScore>,
    /// Affected packages and versions.
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub affected: Vec<Affected>,
    /// Links.
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    /// Database-defined extra data (GHSA puts `severity` here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
}

/// One `severity[]` entry: a scoring method and its score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityScore {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, `Ubuntu`, … (empty when the record omits it, as some
    /// Ubuntu records do for their priority word).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The vector string (CVSS) or word (Ubuntu).
    pub score: String,
}

/// One `affected[]` entry: a package and the versions of it that are affected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// The package; absent in records that only carry GIT ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<AffectedPackage>,
    /// Per-package severity (when set, the record-level one must not be).
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<SeverityScore>,
    /// Affected version ranges.
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    /// Explicitly enumerated affected versions.
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Ecosystem-defined extra data (Ubuntu/OSS-Fuzz `severity`, Debian `urgency`, Go `imports`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem_specific: Option<serde_json::Value>,
    /// Database-defined extra data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
}

/// The package of an `affected[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedPackage {
    /// OSV ecosystem as the record spells it (`Debian:12`, `Ubuntu:22.04:LTS`, `PyPI`).
    pub ecosystem: String,
    /// Package name (the source package for OS ecosystems).
    pub name: String,
    /// Package URL without version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
}

/// One `ranges[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// `SEMVER`, `ECOSYSTEM` or `GIT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Repository URL (GIT ranges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// The timeline of the range.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub events: Vec<Event>,
    /// Database-defined extra data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
}

impl Range {
    /// Whether versions are compared in this range (`SEMVER` or `ECOSYSTEM`); `GIT` ranges and
    /// unknown types need data regscan does not have.
    pub fn is_version_range(&self) -> bool {
        matches!(self.kind.as_str(), "SEMVER" | "ECOSYSTEM")
    }
}

/// One event of a range: exactly one of the four kinds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The vulnerability was introduced in this version (`"0"`: before every version).
    Introduced(String),
    /// The vulnerability was fixed in this version.
    Fixed(String),
    /// The last version known to be affected.
    LastAffected(String),
    /// An upper limit on the range (`"*"`: infinity).
    Limit(String),
}

impl Event {
    /// The version the event names.
    pub fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
}

/// One `references[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// `ADVISORY`, `FIX`, `WEB`, `PACKAGE`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The URL.
    pub url: String,
}

impl Advisory {
    /// Whether the record has been withdrawn.
    pub fn is_withdrawn(&self) -> bool {
        self.withdrawn.as_deref().is_some_and(|w| !w.trim().is_empty())
    }

    /// A one-line title: the summary, else the first non-empty line of the details, else the id.
    pub fn title(&self) -> String {
        if let Some(s) = self.summary.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            return s.to_owned();
        }
        if let Some(line) = self
            .details
            .as_deref()
            .and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty()))
        {
            return line.to_owned();
        }
        self.id.clone()
    }

    fn validate(&self) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err("field `id` is empty".into());
        }
        for (i, a) in self.affected.iter().enumerate() {
            if let Some(p) = &a.package {
                if p.ecosystem.trim().is_empty() {
                    return Err(format!("affected[{i}].package.ecosystem is empty"));
                }
                if p.name.trim().is_empty() {
                    return Err(format!("affected[{i}].package.name is empty"));
                }
            }
            for (j, r) in a.ranges.iter().enumerate() {
                if r.kind.trim().is_empty() {
                    return Err(format!("affected[{i}].ranges[{j}].type is empty"));
                }
                if let Some(e) = r.events.iter().find(|e| e.version().is_empty()) {
                    return Err(format!(
                        "affected[{i}].ranges[{j}] has an event with an empty version ({e:?})"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Parse one OSV record from JSON.
///
/// The error names the problem: the JSON position and field for malformed input, or the record
/// id and the rule broken for a record that parses but cannot be used.
pub fn parse_advisory(json: &[u8]) -> Result<Advisory, OsvError> {
    let adv: Advisory = serde_json::from_slice(json).map_err(|source| OsvError::Json { source })?;
    adv.validate().map_err(|problem| OsvError::Invalid {
        id: adv.id.clone(),
        problem,
    })?;
    Ok(adv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_minimal_record() {
        let adv = parse_advisory(br#"{"id":"X-1","modified":"2024-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(adv.id, "X-1");
        assert!(adv.affected.is_empty());
        assert_eq!(adv.title(), "X-1");
    }

    #[test]
    fn title_falls_back_to_details_first_line() {
        let adv = parse_advisory(br#"{"id":"X-1","modified":"m","details":"\n  first line\nsecond"}"#).unwrap();
        assert_eq!(adv.title(), "first line");
    }

    #[test]
    fn refuses_missing_id_naming_the_field() {
        let err = parse_advisory(br#"{"modified":"m"}"#).unwrap_err().to_string();
        assert!(err.contains("`id`"), "{err}");
    }

    #[test]
    fn refuses_event_with_two_kinds() {
        let rec = br#"{"id":"X","modified":"m","affected":[{"package":{"ecosystem":"npm","name":"a"},
            "ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1.0.0"}]}]}]}"#;
        assert!(parse_advisory(rec).is_err());
    }

    #[test]
    fn refuses_unknown_event_kind_and_empty_name() {
        let rec = br#"{"id":"X","modified":"m","affected":[{"package":{"ecosystem":"npm","name":"a"},
            "ranges":[{"type":"SEMVER","events":[{"broken":"1"}]}]}]}"#;
        let err = parse_advisory(rec).unwrap_err().to_string();
        assert!(err.contains("broken"), "{err}");
        let rec = br#"{"id":"X","modified":"m","affected":[{"package":{"ecosystem":"npm","name":""}}]}"#;
        let err = parse_advisory(rec).unwrap_err().to_string();
        assert!(err.contains("affected[0].package.name") && err.contains('X'), "{err}");
    }

    #[test]
    fn refuses_non_json() {
        let err = parse_advisory(b"\xff\xfe garbage").unwrap_err();
        assert!(matches!(err, OsvError::Json { .. }));
    }

    #[test]
    fn round_trips_through_serde() {
        let rec = br#"{"id":"X","modified":"m","withdrawn":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},
            "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"last_affected":"1.0.0"},{"limit":"*"}]}]}]}"#;
        let adv = parse_advisory(rec).unwrap();
        assert!(adv.is_withdrawn());
        let again = parse_advisory(&serde_json::to_vec(&adv).unwrap()).unwrap();
        assert_eq!(adv, again);
        assert_eq!(adv.affected[0].ranges[0].events[1], Event::LastAffected("1.0.0".into()));
    }
}
