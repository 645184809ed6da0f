//! Matching keys for the rpm distributions whose OSV ecosystems say more than an image declares:
//! Red Hat repository streams (`Red Hat:enterprise_linux:9::appstream`), modularity streams
//! (Red Hat, Rocky Linux, AlmaLinux) and the many SUSE products of one SUSE release
//! (`SUSE:Linux Enterprise Module for Basesystem 15 SP5`).
//!
//! Advisory entries are keyed by [`entry_ecosystem`] and packages are looked up under
//! [`package_ecosystems`], both over normalised ecosystems. The rules:
//!
//! - **Red Hat**: the repository stream after `::` is dropped, except the SAP streams (`sap`,
//!   `sap_hana`), so `Red Hat:enterprise_linux:9::baseos`, `…::appstream` and `…::crb` all
//!   key as `Red Hat:enterprise_linux:9`. Other products (`rhel_eus:9.2`, `rhel_aus:8.6`,
//!   `rhel_e4s:9.0`, `openshift:4.14`, …) keep their own key. A package of
//!   `Red Hat:enterprise_linux:9` is looked up there only; a package of a declared product
//!   (`Red Hat:rhel_eus:9.2`) there first, then under `Red Hat:enterprise_linux:9`; a declared
//!   SAP stream (`…::sap`) before its product.
//! - **Modularity** (Red Hat, Rocky Linux, AlmaLinux): an entry whose purl carries an `rpmmod`
//!   qualifier keys as `<product> module:<name>:<stream>`; one whose versions carry a
//!   `.module+`/`.module_` release but no `rpmmod` keys as `<product> module:*`. A package of
//!   `<product> module:<name>:<stream>` (the image scanner reads the rpm's `MODULARITYLABEL`)
//!   is looked up under its stream, then under `module:*`; a package with a module release but
//!   no known stream under `module:*` only; every other package under the plain product only.
//!   So a module rpm never meets a non-module entry and a non-module rpm never a module one.
//! - **SUSE**: every `SUSE:` product of one release keys as that release: `SUSE:15 SP5` for
//!   `Linux Enterprise Server 15 SP5`, `Linux Enterprise Module for Basesystem 15 SP5`,
//!   `… 15 SP5-LTSS`; `SUSE:Micro 5.5` for `Linux Enterprise Micro 5.5`; `SUSE:Linux Micro 6.0`
//!   for `Linux Micro 6.0`; `SUSE:16.0` for `Linux Enterprise Server 16.0`. Products with other
//!   version schemes (`SUSE Manager Server 4.3`) keep their own key.

use crate::ecosystem::base;
use crate::model::Affected;

/// What separates a product key from its module stream.
pub const MODULE_SEP: &str = " module:";

/// The module stream of entries whose stream is not known.
pub const ANY_STREAM: &str = "*";

/// Red Hat repository streams that only an image that declares them is matched against.
const DECLARED_ONLY_STREAMS: &[&str] = &["sap", "sap_hana"];

/// Whether an rpm release belongs to a modularity build (`.module+el8.9.0+…`, Rocky and Alma
/// also `.module_el8…`).
pub fn is_module_release(version: &str) -> bool {
    version.contains(".module+") || version.contains(".module_")
}

/// Whether the ecosystem's distribution is handled here.
fn handled(eco: &str) -> bool {
    matches!(base(eco), "Red Hat" | "Rocky Linux" | "AlmaLinux" | "SUSE")
}

/// `Red Hat:enterprise_linux:9::appstream` → (`Red Hat:enterprise_linux:9`, `Some("appstream")`).
fn split_stream(eco: &str) -> (&str, Option<&str>) {
    match eco.split_once("::") {
        Some((product, stream)) => (product, Some(stream).filter(|s| !s.is_empty())),
        None => (eco, None),
    }
}

/// The product key of a Red Hat ecosystem: the stream dropped unless it is declared-only.
fn red_hat_product(eco: &str) -> String {
    match split_stream(eco) {
        (product, Some(stream)) if DECLARED_ONLY_STREAMS.contains(&stream) => format!("{product}::{stream}"),
        (product, _) => product.to_owned(),
    }
}

/// The one module stream a summary names (`Moderate: php:7.4 security update` → `php:7.4`),
/// as Rocky Linux and AlmaLinux records give it; none when it names none or several.
fn summary_stream(summary: &str) -> Option<&str> {
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.' | b'+'))
    };
    let stream_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'))
    };
    let mut found: Option<&str> = None;
    for token in summary.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')') {
        let Some((name, stream)) = token.split_once(':') else {
            continue;
        };
        if !name_ok(name) || !stream_ok(stream) {
            continue;
        }
        match found {
            Some(f) if f != token => return None,
            _ => found = Some(token),
        }
    }
    found
}

/// `module:<name>:<stream>` of an entry: from the purl's `rpmmod` qualifier
/// (`nodejs:18:8090020231215135930:a75119d5` → `nodejs:18`); else, when a version of the entry
/// carries a module release, the one stream the record's summary names, or `*`; else none.
fn entry_module(affected: &Affected, summary: Option<&str>) -> Option<String> {
    let purl = affected.package.as_ref().and_then(|p| p.purl.as_deref()).unwrap_or("");
    let qualifiers = purl.split_once('?').map_or("", |(_, q)| q);
    let qualifiers = qualifiers.split('#').next().unwrap_or("");
    for q in qualifiers.split('&') {
        if let Some(v) = q.strip_prefix("rpmmod=") {
            let v = v.replace("%3A", ":").replace("%3a", ":");
            let mut parts = v.split(':');
            return match (parts.next(), parts.next()) {
                (Some(name), Some(stream)) if !name.is_empty() && !stream.is_empty() => {
                    Some(format!("{name}:{stream}"))
                }
                _ => Some(ANY_STREAM.to_owned()),
            };
        }
    }
    let module_version = affected
        .ranges
        .iter()
        .flat_map(|r| r.events.iter().map(|e| e.version()))
        .chain(affected.versions.iter().map(String::as_str))
        .any(is_module_release);
    module_version.then(|| summary.and_then(summary_stream).unwrap_or(ANY_STREAM).to_owned())
}

/// The release key of a SUSE product: `15 SP5`, `Micro 5.5`, `Linux Micro 6.0`, `16.0`; none
/// for products versioned otherwise.
fn suse_release(product: &str) -> Option<String> {
    // Support-phase suffixes name the same release: `15 SP5-LTSS`, `15 SP5-ESPOS`.
    let product = match product.rsplit_once('-') {
        Some((p, suffix)) if !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_alphabetic()) => p,
        _ => product,
    }
    .trim();
    let words: Vec<&str> = product.split_whitespace().collect();
    let numeric = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let digits = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit());
    let enterprise = product.contains("Linux Enterprise");
    match words.as_slice() {
        [.., "Micro", v] if numeric(v) => {
            let family = if product.contains("Enterprise Micro") {
                "Micro"
            } else {
                "Linux Micro"
            };
            Some(format!("{family} {v}"))
        }
        [.., major, sp] if enterprise && digits(major) && sp.strip_prefix("SP").is_some_and(digits) => {
            Some(format!("{major} {sp}"))
        }
        [.., v] if enterprise && numeric(v) => Some((*v).to_owned()),
        _ => None,
    }
}

/// The SUSE release key of a normalised `SUSE:` ecosystem, or the ecosystem itself.
fn suse_key(eco: &str) -> String {
    let product = eco.strip_prefix("SUSE:").unwrap_or("");
    match suse_release(product) {
        Some(release) => format!("SUSE:{release}"),
        None => eco.to_owned(),
    }
}

/// The ecosystem an advisory's `affected[]` entry is keyed under, given its normalised
/// ecosystem and the record's summary (see the module documentation).
pub fn entry_ecosystem(eco: &str, affected: &Affected, summary: Option<&str>) -> String {
    if !handled(eco) {
        return eco.to_owned();
    }
    let product = match base(eco) {
        "SUSE" => return suse_key(eco),
        "Red Hat" => red_hat_product(eco),
        _ => eco.to_owned(),
    };
    match entry_module(affected, summary) {
        Some(module) => format!("{product}{MODULE_SEP}{module}"),
        None => product,
    }
}

/// The ecosystems a package of a handled distribution is looked up under, most specific first;
/// `None` for other ecosystems. `version` is the installed version (its release tells a module
/// build).
pub fn package_ecosystems(eco: &str, version: &str) -> Option<Vec<String>> {
    if !handled(eco) {
        return None;
    }
    if base(eco) == "SUSE" {
        return Some(vec![suse_key(eco)]);
    }
    let (product, module) = match eco.split_once(MODULE_SEP) {
        Some((p, m)) => (p, Some(m).filter(|m| !m.is_empty())),
        None => (eco, None),
    };
    // Products, most specific first: the declared one (a SAP stream before its product), then
    // the main RHEL product of the same major release.
    let mut products: Vec<String> = Vec::new();
    if base(product) == "Red Hat" {
        let (declared, stream) = split_stream(product);
        if let Some(s) = stream.filter(|s| DECLARED_ONLY_STREAMS.contains(s)) {
            products.push(format!("{declared}::{s}"));
        }
        products.push(declared.to_owned());
        if let Some(main) = red_hat_main(declared) {
            if let Some(s) = stream.filter(|s| DECLARED_ONLY_STREAMS.contains(s)) {
                products.push(format!("{main}::{s}"));
            }
            products.push(main);
        }
    } else {
        products.push(product.to_owned());
    }
    let modules: Vec<&str> = match module {
        Some(ANY_STREAM) => vec![ANY_STREAM],
        Some(m) => vec![m, ANY_STREAM],
        None if is_module_release(version) => vec![ANY_STREAM],
        None => vec![],
    };
    let mut out = Vec::new();
    for p in products {
        if modules.is_empty() {
            out.push(p);
        } else {
            out.extend(modules.iter().map(|m| format!("{p}{MODULE_SEP}{m}")));
        }
    }
    Some(out)
}

/// The main RHEL product (`Red Hat:enterprise_linux:9`) of a Red Hat extended-support product
/// (`Red Hat:rhel_eus:9.2`, `rhel_aus`, `rhel_e4s`, `rhel_tus`, `rhel_els`); none otherwise.
fn red_hat_main(product: &str) -> Option<String> {
    let mut parts = product.split(':');
    let (_, name, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !matches!(name, "rhel_eus" | "rhel_aus" | "rhel_e4s" | "rhel_tus" | "rhel_els") {
        return None;
    }
    let major = version
        .split('.')
        .next()
        .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))?;
    Some(format!("Red Hat:enterprise_linux:{major}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(eco: &str, purl: Option<&str>, fixed: &str) -> Affected {
        let purl = purl.map(|p| format!(r#","purl":"{p}""#)).unwrap_or_default();
        serde_json::from_str(&format!(
            r#"{{"package":{{"ecosystem":"{eco}","name":"x"{purl}}},
                "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"{fixed}"}}]}}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn red_hat_entries() {
        let k = |eco: &str, purl: Option<&str>, fixed: &str| entry_ecosystem(eco, &entry(eco, purl, fixed), None);
        assert_eq!(
            k("Red Hat:enterprise_linux:9::appstream", None, "1:3.0.7-27.el9"),
            "Red Hat:enterprise_linux:9"
        );
        assert_eq!(
            k("Red Hat:enterprise_linux:9::crb", None, "1-1.el9"),
            "Red Hat:enterprise_linux:9"
        );
        assert_eq!(
            k("Red Hat:rhel_eus:9.2::baseos", None, "1-1.el9_2"),
            "Red Hat:rhel_eus:9.2"
        );
        assert_eq!(
            k("Red Hat:enterprise_linux:9::sap_hana", None, "1-1.el9"),
            "Red Hat:enterprise_linux:9::sap_hana"
        );
        assert_eq!(
            k(
                "Red Hat:enterprise_linux:8::appstream",
                Some("pkg:rpm/redhat/nodejs@18.19.0-1.module%2Bel8.9.0%2B20473%2Bc4e3d824?arch=src&rpmmod=nodejs:18:8090020231215135930:a75119d5"),
                "1:18.19.0-1.module+el8.9.0+20473+c4e3d824"
            ),
            "Red Hat:enterprise_linux:8 module:nodejs:18"
        );
        assert_eq!(
            k(
                "Red Hat:enterprise_linux:8::appstream",
                None,
                "1:18.19.0-1.module+el8.9.0+20473+c4e3d824"
            ),
            "Red Hat:enterprise_linux:8 module:*"
        );
        assert_eq!(
            k("Rocky Linux:8", None, "8.0.30-1.module+el8.8.0+1258+af5bf4ad"),
            "Rocky Linux:8 module:*"
        );
        assert_eq!(k("AlmaLinux:9", None, "1:3.0.7-27.el9"), "AlmaLinux:9");
        let php = entry("AlmaLinux:8", None, "7.4.19-4.module_el8.6.0+3238+624bf8b8");
        let summary = Some("Moderate: php:7.4 security update");
        assert_eq!(
            entry_ecosystem("AlmaLinux:8", &php, summary),
            "AlmaLinux:8 module:php:7.4"
        );
        let two = Some("Important: nodejs:18 and nodejs:20 security update");
        assert_eq!(entry_ecosystem("AlmaLinux:8", &php, two), "AlmaLinux:8 module:*");
        // A summary stream never makes a non-module entry a module one.
        let plain = entry("AlmaLinux:8", None, "7.4.19-4.el8");
        assert_eq!(entry_ecosystem("AlmaLinux:8", &plain, summary), "AlmaLinux:8");
        assert_eq!(k("Debian:12", None, "1.0-1"), "Debian:12");
    }

    #[test]
    fn suse_entries() {
        let k = |eco: &str| entry_ecosystem(eco, &entry(eco, None, "1-1"), None);
        for eco in [
            "SUSE:Linux Enterprise Server 15 SP5",
            "SUSE:Linux Enterprise Module for Basesystem 15 SP5",
            "SUSE:Linux Enterprise Server 15 SP5-LTSS",
            "SUSE:Linux Enterprise High Performance Computing 15 SP5-ESPOS",
            "SUSE:Linux Enterprise Server for SAP Applications 15 SP5",
        ] {
            assert_eq!(k(eco), "SUSE:15 SP5", "{eco}");
        }
        assert_eq!(k("SUSE:Linux Enterprise Server 5 SP7"), "SUSE:5 SP7");
        assert_eq!(k("SUSE:Linux Enterprise Server 15"), "SUSE:15");
        assert_eq!(k("SUSE:Linux Enterprise Server 16.0"), "SUSE:16.0");
        assert_eq!(k("SUSE:Linux Enterprise Micro 5.5"), "SUSE:Micro 5.5");
        assert_eq!(k("SUSE:Linux Micro 6.0"), "SUSE:Linux Micro 6.0");
        assert_eq!(k("SUSE:SUSE Manager Server 4.3"), "SUSE:SUSE Manager Server 4.3");
        assert_eq!(k("openSUSE:Leap 15.5"), "openSUSE:Leap 15.5");
    }

    #[test]
    fn package_lookups() {
        let l = |eco: &str, v: &str| package_ecosystems(eco, v).unwrap();
        assert_eq!(
            l("Red Hat:enterprise_linux:9", "3.0.7-24.el9"),
            ["Red Hat:enterprise_linux:9"]
        );
        assert_eq!(
            l("Red Hat:rhel_eus:9.2", "3.0.7-18.el9_2"),
            ["Red Hat:rhel_eus:9.2", "Red Hat:enterprise_linux:9"]
        );
        assert_eq!(
            l(
                "Red Hat:enterprise_linux:8 module:nodejs:18",
                "1:18.14.2-3.module+el8.8.0+18600+1a2b3c4d"
            ),
            [
                "Red Hat:enterprise_linux:8 module:nodejs:18",
                "Red Hat:enterprise_linux:8 module:*"
            ]
        );
        assert_eq!(
            l(
                "Red Hat:enterprise_linux:8",
                "1:18.14.2-3.module+el8.8.0+18600+1a2b3c4d"
            ),
            ["Red Hat:enterprise_linux:8 module:*"]
        );
        assert_eq!(
            l("Red Hat:enterprise_linux:9::sap", "1-1.el9"),
            ["Red Hat:enterprise_linux:9::sap", "Red Hat:enterprise_linux:9"]
        );
        assert_eq!(l("Rocky Linux:9", "1-1.el9"), ["Rocky Linux:9"]);
        assert_eq!(l("SUSE:Linux Enterprise Server 15 SP5", "1-1"), ["SUSE:15 SP5"]);
        assert_eq!(package_ecosystems("Debian:12", "1"), None);
        assert_eq!(package_ecosystems("openSUSE:Leap 15.5", "1"), None);
    }
}
