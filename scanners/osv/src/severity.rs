//! The severity of an advisory for one affected package.
//!
//! Order of sources, first that yields a known severity wins:
//! 1. CVSS vectors in `affected[i].severity`, then in the record's `severity` — a CVSS v3.x
//!    base score is preferred, then v4.0, then v2 (the qualitative scale regscan reports is
//!    CVSS v3's); the score goes through [`Severity::from_cvss_score`];
//! 2. severity words: `Ubuntu` (or untyped) entries of `severity[]`, then `severity` in
//!    `affected[i].ecosystem_specific`, `affected[i].database_specific` and the record's
//!    `database_specific` (GHSA `MODERATE`, Ubuntu `medium`, OSS-Fuzz `HIGH`);
//! 3. Debian's `ecosystem_specific.urgency` (`unimportant` → negligible, `low`, `medium`,
//!    `high`); `not yet assigned` and the like give nothing;
//! 4. else [`Severity::Unknown`].

use std::str::FromStr;

use regscan_scanner_api::Severity;

use crate::model::{Advisory, SeverityScore};

/// The base score of a CVSS vector of the given OSV severity type, if it parses.
pub fn cvss_score(kind: &str, vector: &str) -> Option<f64> {
    let vector = vector.trim();
    match kind {
        "CVSS_V3" => cvss::v3::Vector::from_str(vector).ok().map(|v| v.base_score().value()),
        "CVSS_V4" => cvss::v4::Vector::from_str(vector).ok().map(|v| v.score().value()),
        "CVSS_V2" => {
            let v = vector.strip_prefix("CVSS:2.0/").unwrap_or(vector);
            cvss::v2::Vector::from_str(v).ok().map(|v| v.score().value())
        }
        _ => None,
    }
}

fn from_cvss(scores: &[SeverityScore]) -> Option<Severity> {
    ["CVSS_V3", "CVSS_V4", "CVSS_V2"].iter().find_map(|kind| {
        scores
            .iter()
            .filter(|s| s.kind == *kind)
            .find_map(|s| cvss_score(kind, &s.score))
            .map(Severity::from_cvss_score)
    })
}

fn word(s: &str) -> Option<Severity> {
    let w: String = s
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphabetic() || *c == ' ')
        .collect();
    match w.trim().to_ascii_lowercase().as_str() {
        "unimportant" => Some(Severity::Negligible),
        other => Severity::from_str(other).ok().filter(|s| *s != Severity::Unknown),
    }
}

fn json_word(v: Option<&serde_json::Value>, key: &str) -> Option<Severity> {
    v?.get(key)?.as_str().and_then(word)
}

/// The severity of `adv` for its `affected[affected_index]` entry (an index out of range uses
/// the record-level sources only).
pub fn severity_of(adv: &Advisory, affected_index: usize) -> Severity {
    let affected = adv.affected.get(affected_index);
    let per_package = affected.map(|a| a.severity.as_slice()).unwrap_or_default();
    if let Some(s) = from_cvss(per_package).or_else(|| from_cvss(&adv.severity)) {
        return s;
    }
    let words = per_package
        .iter()
        .chain(&adv.severity)
        .filter(|s| s.kind.eq_ignore_ascii_case("Ubuntu") || s.kind.is_empty())
        .find_map(|s| word(&s.score))
        .or_else(|| json_word(affected.and_then(|a| a.ecosystem_specific.as_ref()), "severity"))
        .or_else(|| json_word(affected.and_then(|a| a.database_specific.as_ref()), "severity"))
        .or_else(|| json_word(adv.database_specific.as_ref(), "severity"))
        .or_else(|| json_word(affected.and_then(|a| a.ecosystem_specific.as_ref()), "urgency"));
    words.unwrap_or(Severity::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_advisory;

    fn adv(json: &str) -> Advisory {
        parse_advisory(json.as_bytes()).unwrap()
    }

    #[test]
    fn cvss_v3_scores() {
        // FIRST CVSS v3.1 specification examples / NVD calculator values.
        let s = cvss_score("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").unwrap();
        assert!((s - 9.8).abs() < 1e-9, "{s}");
        let s = cvss_score("CVSS_V3", "CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N").unwrap();
        assert!((s - 6.1).abs() < 1e-9, "{s}");
        assert!(cvss_score("CVSS_V3", "garbage").is_none());
    }

    #[test]
    fn cvss_v2_and_v4_scores() {
        let s = cvss_score("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P").unwrap();
        assert!((s - 7.5).abs() < 1e-9, "{s}");
        let s = cvss_score(
            "CVSS_V4",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        )
        .unwrap();
        assert!((s - 9.3).abs() < 1e-9, "{s}");
    }

    #[test]
    fn prefers_cvss_then_words() {
        let a = adv(
            r#"{"id":"A","modified":"m","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            "database_specific":{"severity":"LOW"},"affected":[{"package":{"ecosystem":"npm","name":"x"}}]}"#,
        );
        assert_eq!(severity_of(&a, 0), Severity::Critical);
        let a = adv(
            r#"{"id":"A","modified":"m","database_specific":{"severity":"MODERATE"},"affected":[{"package":{"ecosystem":"npm","name":"x"}}]}"#,
        );
        assert_eq!(severity_of(&a, 0), Severity::Medium);
        let a = adv(r#"{"id":"A","modified":"m","severity":[{"type":"Ubuntu","score":"medium"}]}"#);
        assert_eq!(severity_of(&a, 0), Severity::Medium);
        let a = adv(
            r#"{"id":"A","modified":"m","affected":[{"package":{"ecosystem":"Debian:11","name":"x"},"ecosystem_specific":{"urgency":"unimportant"}}]}"#,
        );
        assert_eq!(severity_of(&a, 0), Severity::Negligible);
        let a = adv(
            r#"{"id":"A","modified":"m","affected":[{"package":{"ecosystem":"Debian:11","name":"x"},"ecosystem_specific":{"urgency":"not yet assigned"}}]}"#,
        );
        assert_eq!(severity_of(&a, 0), Severity::Unknown);
    }

    #[test]
    fn per_package_severity_wins() {
        let a = adv(r#"{"id":"A","modified":"m","affected":[
            {"package":{"ecosystem":"npm","name":"x"},"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}]},
            {"package":{"ecosystem":"npm","name":"y"},"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}]}"#);
        assert_eq!(severity_of(&a, 0), Severity::Low);
        assert_eq!(severity_of(&a, 1), Severity::Critical);
        assert_eq!(severity_of(&a, 7), Severity::Unknown);
    }
}
