//! The advisory index and the OSV schema's evaluation algorithm.
//!
//! [`AdvisoryIndex::new`] keys every `affected[]` entry by (normalised ecosystem, normalised
//! package name) and sorts the events of each `SEMVER`/`ECOSYSTEM` range once, under the
//! ecosystem's ordering. Matching a package is then a few hash lookups and comparisons:
//!
//! - a version listed in `versions` is affected (exact string match);
//! - a range is evaluated as the schema's `IncludedInRanges`: only before a `limit` (if any);
//!   walking the sorted events, `introduced` (`"0"` = before everything) at or below the version
//!   turns it vulnerable, `fixed` at or below turns it safe, `last_affected` below turns it safe;
//! - `GIT` ranges are skipped (they need the repository), never hiding a version range beside them;
//! - withdrawn records and entries without a package never match;
//! - events whose version the ordering cannot read are left out of their range, and a range is
//!   not evaluated for an installed version the ordering cannot read.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use regscan_scanner_api::{Finding, Package};

use crate::ecosystem::{base, family, names_source_package, normalize_ecosystem, normalize_name, Family};
use crate::model::{Advisory, Event};
use crate::severity::severity_of;
use crate::streams::{entry_ecosystem, package_ecosystems};
use crate::version::{compare_in, compare_semver};

/// How versions of one range are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// `SEMVER` ranges: SemVer precedence, falling back on the ecosystem's ordering.
    Semver(Family),
    /// `ECOSYSTEM` ranges.
    Ecosystem(Family),
}

impl Order {
    fn cmp(self, a: &str, b: &str) -> Option<Ordering> {
        match self {
            Order::Semver(f) => compare_semver(a, b).or_else(|| compare_in(f, a, b)),
            Order::Ecosystem(f) => compare_in(f, a, b),
        }
    }
}

/// A range prepared for evaluation: events sorted, unreadable ones left out.
#[derive(Debug, Clone)]
struct PreparedRange {
    order: Order,
    events: Vec<Event>,
    limits: Vec<String>,
}

/// A lookup key: (normalised ecosystem, normalised package name).
pub type Key = (String, String);

/// One `affected[]` entry of an advisory, prepared for matching (its ranges' events sorted once
/// under the ecosystem's ordering). Made by [`prepare_advisory`]; cheap to clone (the record is
/// shared).
#[derive(Debug, Clone)]
pub struct PreparedEntry {
    advisory: Arc<Advisory>,
    affected: usize,
    ranges: Vec<PreparedRange>,
}

impl PreparedEntry {
    /// The advisory this entry belongs to.
    pub fn advisory(&self) -> &Arc<Advisory> {
        &self.advisory
    }
}

/// Where matching finds the prepared entries of a key: the in-memory [`AdvisoryIndex`], or the
/// entries a caller fetched for one scan's keys (a `HashMap<Key, Vec<PreparedEntry>>`).
///
/// Entries under a key must be in record order, and a record's entries in `affected[]` order, as
/// [`prepare_advisory`] returns them.
pub trait EntrySource {
    /// The entries under `key` (empty when none).
    fn entries(&self, key: &Key) -> &[PreparedEntry];
}

impl EntrySource for HashMap<Key, Vec<PreparedEntry>> {
    fn entries(&self, key: &Key) -> &[PreparedEntry] {
        self.get(key).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// An in-memory index of advisories keyed by (normalised ecosystem, normalised package name).
#[derive(Debug, Default)]
pub struct AdvisoryIndex {
    advisories: Vec<Arc<Advisory>>,
    by_key: HashMap<Key, Vec<PreparedEntry>>,
}

impl EntrySource for AdvisoryIndex {
    fn entries(&self, key: &Key) -> &[PreparedEntry] {
        self.by_key.entries(key)
    }
}

/// The keyed, prepared `affected[]` entries of one record, in `affected[]` order. A withdrawn
/// record and entries without a package give none.
pub fn prepare_advisory(adv: &Arc<Advisory>) -> Vec<(Key, PreparedEntry)> {
    let mut out = Vec::new();
    if adv.is_withdrawn() {
        return out;
    }
    for (fi, affected) in adv.affected.iter().enumerate() {
        let Some(pkg) = &affected.package else { continue };
        let eco = normalize_ecosystem(&pkg.ecosystem);
        let fam = family(&eco);
        let ranges = affected
            .ranges
            .iter()
            .filter_map(|r| match r.kind.as_str() {
                "SEMVER" => Some(prepare(Order::Semver(fam), &r.events)),
                "ECOSYSTEM" => Some(prepare(Order::Ecosystem(fam), &r.events)),
                _ => None, // GIT and unknown range types cannot be evaluated here
            })
            .collect();
        let key = (
            entry_ecosystem(&eco, affected, adv.summary.as_deref()),
            normalize_name(&eco, &pkg.name),
        );
        out.push((
            key,
            PreparedEntry {
                advisory: adv.clone(),
                affected: fi,
                ranges,
            },
        ));
    }
    out
}

/// Sort key of an event among others at the same version: introduced, last_affected, fixed.
fn kind_rank(e: &Event) -> u8 {
    match e {
        Event::Introduced(_) => 0,
        Event::LastAffected(_) => 1,
        Event::Fixed(_) => 2,
        Event::Limit(_) => 3,
    }
}

fn cmp_events(order: Order, a: &Event, b: &Event) -> Ordering {
    let zero = |e: &Event| matches!(e, Event::Introduced(v) if v == "0");
    let by_version = match (zero(a), zero(b)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => order.cmp(a.version(), b.version()).unwrap_or(Ordering::Equal),
    };
    by_version.then_with(|| kind_rank(a).cmp(&kind_rank(b)))
}

/// Sort by binary insertion: never panics, even if an ordering were not total.
fn sort_events(order: Order, events: Vec<Event>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::with_capacity(events.len());
    for e in events {
        let at = out.partition_point(|x| cmp_events(order, x, &e) != Ordering::Greater);
        out.insert(at, e);
    }
    out
}

fn prepare(order: Order, events: &[Event]) -> PreparedRange {
    let mut limits = Vec::new();
    let mut kept = Vec::new();
    for e in events {
        match e {
            Event::Limit(v) => limits.push(v.clone()),
            Event::Introduced(v) if v == "0" => kept.push(e.clone()),
            other if order.cmp(other.version(), other.version()).is_some() => kept.push(other.clone()),
            _ => {}
        }
    }
    PreparedRange {
        order,
        events: sort_events(order, kept),
        limits,
    }
}

impl PreparedRange {
    /// Whether `v` is before one of the range's limits (always, with no limit).
    fn before_limits(&self, v: &str) -> bool {
        self.limits.is_empty()
            || self
                .limits
                .iter()
                .any(|l| l.contains('*') || self.order.cmp(v, l) == Some(Ordering::Less))
    }

    /// The schema's evaluation of one range; `None` if `v` cannot be read in this ordering.
    fn affects(&self, v: &str) -> Option<bool> {
        self.order.cmp(v, v)?;
        if !self.before_limits(v) {
            return Some(false);
        }
        let mut vulnerable = false;
        for e in &self.events {
            match e {
                Event::Introduced(x) if x == "0" => vulnerable = true,
                Event::Introduced(x) => {
                    if matches!(self.order.cmp(v, x), Some(Ordering::Greater | Ordering::Equal)) {
                        vulnerable = true;
                    }
                }
                Event::Fixed(x) => {
                    if matches!(self.order.cmp(v, x), Some(Ordering::Greater | Ordering::Equal)) {
                        vulnerable = false;
                    }
                }
                Event::LastAffected(x) => {
                    if self.order.cmp(v, x) == Some(Ordering::Greater) {
                        vulnerable = false;
                    }
                }
                Event::Limit(_) => {}
            }
        }
        Some(vulnerable)
    }

    /// The lowest `fixed` event above `v`.
    fn first_fix_above(&self, v: &str) -> Option<&str> {
        self.events.iter().find_map(|e| match e {
            Event::Fixed(x) if self.order.cmp(x, v) == Some(Ordering::Greater) => Some(x.as_str()),
            _ => None,
        })
    }
}

/// The outcome of matching one package against one indexed entry.
struct Hit {
    fixed: Option<String>,
}

impl PreparedEntry {
    fn check(&self, version: &str) -> Option<Hit> {
        let affected = &self.advisory.affected[self.affected];
        for r in &self.ranges {
            if r.affects(version) == Some(true) {
                return Some(Hit {
                    fixed: r.first_fix_above(version).map(str::to_owned),
                });
            }
        }
        if affected.versions.iter().any(|x| x == version) {
            let fixed = self
                .ranges
                .iter()
                .find_map(|r| r.first_fix_above(version))
                .map(str::to_owned);
            return Some(Hit { fixed });
        }
        None
    }
}

impl AdvisoryIndex {
    /// Build the index. Withdrawn records are kept (for [`AdvisoryIndex::len`]) but never match.
    pub fn new(advisories: impl IntoIterator<Item = Advisory>) -> Self {
        let advisories: Vec<Arc<Advisory>> = advisories.into_iter().map(Arc::new).collect();
        let mut by_key: HashMap<Key, Vec<PreparedEntry>> = HashMap::new();
        for adv in &advisories {
            for (key, entry) in prepare_advisory(adv) {
                by_key.entry(key).or_default().push(entry);
            }
        }
        AdvisoryIndex { advisories, by_key }
    }

    /// Number of advisories held (withdrawn ones included).
    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    /// Whether the index holds no advisory.
    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    /// The (normalised ecosystem, normalised name) keys an advisory touches, sorted and
    /// deduplicated: the packages whose stored findings must be re-matched when it changes.
    pub fn affected_keys(adv: &Advisory) -> Vec<(String, String)> {
        let keys: BTreeSet<(String, String)> = adv
            .affected
            .iter()
            .filter_map(|a| Some((a, a.package.as_ref()?)))
            .map(|(a, p)| {
                let eco = normalize_ecosystem(&p.ecosystem);
                let name = normalize_name(&eco, &p.name);
                (entry_ecosystem(&eco, a, adv.summary.as_deref()), name)
            })
            .collect();
        keys.into_iter().collect()
    }

    /// The ecosystems to look a package up under, most specific first: the ecosystem itself,
    /// the bare distribution for OS ecosystems (`Debian:12` → `Debian`), and for Ubuntu the
    /// Pro (ESM) stream last.
    fn lookup_ecosystems(eco: &str, version: &str) -> Vec<String> {
        if let Some(streams) = package_ecosystems(eco, version) {
            return streams;
        }
        let mut out = vec![eco.to_owned()];
        let b = base(eco);
        if b != eco && names_source_package(eco) {
            out.push(b.to_owned());
        }
        if b == "Ubuntu" {
            if let Some(rel) = eco.strip_prefix("Ubuntu:").filter(|r| !r.starts_with("Pro:")) {
                out.push(format!("Ubuntu:Pro:{rel}"));
            }
        }
        out
    }

    /// The (ecosystem, name, version) lookups for a package, most specific first. OS packages
    /// (Debian, Ubuntu, Alpine, rpm distributions) are looked up by `source_name` (else `name`)
    /// at `source_version` (else `version`); Red Hat also by the binary name.
    fn lookups(pkg: &Package) -> Vec<(String, String, &str)> {
        let eco = normalize_ecosystem(&pkg.ecosystem);
        let mut names = vec![(pkg.name.as_str(), pkg.version.as_str())];
        if names_source_package(&eco) {
            let src = pkg.source_name.as_deref().filter(|s| !s.is_empty());
            let src_version = pkg
                .source_version
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or(&pkg.version);
            let by_source = (src.unwrap_or(&pkg.name), src_version);
            // Red Hat, Rocky, Alma and SUSE records may name binary RPMs as well as source RPMs.
            let binary_too = matches!(
                base(&eco),
                "Red Hat" | "Rocky Linux" | "AlmaLinux" | "SUSE" | "openSUSE"
            );
            names = if binary_too && by_source.0 != pkg.name {
                vec![by_source, names[0]]
            } else {
                vec![by_source]
            };
        }
        let mut out = Vec::new();
        for lookup_eco in Self::lookup_ecosystems(&eco, &pkg.version) {
            for &(name, version) in &names {
                out.push((lookup_eco.clone(), normalize_name(&lookup_eco, name), version));
            }
        }
        out
    }

    /// The (normalised ecosystem, normalised name) keys a package is looked up under, most
    /// specific first. A stored finding set needs re-matching when an advisory whose
    /// [`AdvisoryIndex::affected_keys`] intersect these keys changes.
    pub fn package_keys(pkg: &Package) -> Vec<(String, String)> {
        let mut keys: Vec<(String, String)> = Vec::new();
        for (eco, name, _) in Self::lookups(pkg) {
            if !keys.iter().any(|(e, n)| *e == eco && *n == name) {
                keys.push((eco, name));
            }
        }
        keys
    }

    /// Match one installed package: one finding per advisory id, from the most specific
    /// ecosystem that matches (see [`AdvisoryIndex::package_keys`]).
    ///
    /// An advisory that names the package under a more specific ecosystem is decided there: if
    /// `Ubuntu:22.04` says the installed version is fixed, its `Ubuntu:Pro:22.04` entry is not
    /// consulted.
    pub fn match_package(&self, pkg: &Package) -> Vec<Finding> {
        match_package_in(self, pkg)
    }

    /// All advisories held, in the order given to [`AdvisoryIndex::new`].
    pub fn advisories(&self) -> &[Arc<Advisory>] {
        &self.advisories
    }

    /// Match many packages; findings sorted by package, id, location and version, duplicates
    /// removed.
    pub fn match_packages(&self, pkgs: &[Package]) -> Vec<Finding> {
        match_packages_in(self, pkgs)
    }
}

/// [`AdvisoryIndex::match_package`] against any [`EntrySource`].
pub fn match_package_in<S: EntrySource + ?Sized>(source: &S, pkg: &Package) -> Vec<Finding> {
    // Ids decided at an earlier (more specific) ecosystem level, and at the current one.
    let mut decided: BTreeSet<&str> = BTreeSet::new();
    let mut level: BTreeSet<&str> = BTreeSet::new();
    let mut matched: BTreeSet<&str> = BTreeSet::new();
    let mut current_eco = String::new();
    let mut out = Vec::new();
    for (eco, name, version) in AdvisoryIndex::lookups(pkg) {
        if eco != current_eco {
            decided.append(&mut level);
            current_eco.clone_from(&eco);
        }
        let entries = source.entries(&(eco, name));
        for entry in entries {
            let adv = &entry.advisory;
            let id = adv.id.as_str();
            if decided.contains(id) || matched.contains(id) {
                continue;
            }
            level.insert(id);
            if let Some(hit) = entry.check(version) {
                matched.insert(id);
                out.push(finding(adv, entry.affected, pkg, hit));
            }
        }
    }
    out
}

/// [`AdvisoryIndex::match_packages`] against any [`EntrySource`].
pub fn match_packages_in<S: EntrySource + ?Sized>(source: &S, pkgs: &[Package]) -> Vec<Finding> {
    // Development-only dependencies are inventoried, not matched: they are not what runs.
    let mut out: Vec<Finding> = pkgs
        .iter()
        .filter(|p| !p.dev)
        .flat_map(|p| match_package_in(source, p))
        .collect();
    order_findings(&mut out);
    out
}

/// Put the findings of many packages in [`match_packages_in`]'s order (by package, id,
/// location and version) and drop duplicates: packages matched one by one with
/// [`match_package_in`], their findings concatenated in package order, then ordered here, give
/// what `match_packages_in` gives.
pub fn order_findings(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        (&a.package, &a.id, &a.location, &a.installed_version).cmp(&(
            &b.package,
            &b.id,
            &b.location,
            &b.installed_version,
        ))
    });
    findings.dedup();
}

fn finding(adv: &Advisory, affected: usize, pkg: &Package, hit: Hit) -> Finding {
    let mut refs: Vec<String> = Vec::new();
    for r in adv
        .aliases
        .iter()
        .chain(&adv.upstream)
        .chain(adv.references.iter().map(|r| &r.url))
    {
        if !r.is_empty() && r != &adv.id && !refs.contains(r) {
            refs.push(r.clone());
        }
    }
    let mut f = Finding::new(adv.id.clone(), severity_of(adv, affected), adv.title()).on(pkg.name.clone());
    f.installed_version = Some(pkg.version.clone());
    f.fixed_version = hit.fixed;
    f.location = Some(pkg.path.clone());
    f.references = refs;
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(json: &str) -> Vec<Event> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn sorts_unsorted_events() {
        let r = prepare(
            Order::Ecosystem(Family::Dpkg),
            &ev(r#"[{"fixed":"2.0-1"},{"introduced":"1.5-1"},{"introduced":"0"},{"fixed":"1.0-1"}]"#),
        );
        let versions: Vec<&str> = r.events.iter().map(Event::version).collect();
        assert_eq!(versions, ["0", "1.0-1", "1.5-1", "2.0-1"]);
        assert_eq!(r.affects("0.9-1"), Some(true));
        assert_eq!(r.affects("1.2-1"), Some(false));
        assert_eq!(r.affects("1.5-1"), Some(true));
        assert_eq!(r.affects("2.0-1"), Some(false));
        assert_eq!(r.first_fix_above("1.6-1"), Some("2.0-1"));
    }

    #[test]
    fn unreadable_events_are_dropped_and_unreadable_installed_is_none() {
        let r = prepare(
            Order::Ecosystem(Family::Apk),
            &ev(r#"[{"introduced":"0"},{"fixed":"not!valid"}]"#),
        );
        assert_eq!(r.events.len(), 1);
        assert_eq!(r.affects("garbage"), None);
    }

    #[test]
    fn lookup_order() {
        assert_eq!(
            AdvisoryIndex::lookup_ecosystems("Debian:12", "1"),
            ["Debian:12", "Debian"]
        );
        assert_eq!(
            AdvisoryIndex::lookup_ecosystems("Ubuntu:22.04", "1"),
            ["Ubuntu:22.04", "Ubuntu", "Ubuntu:Pro:22.04"]
        );
        assert_eq!(AdvisoryIndex::lookup_ecosystems("PyPI", "1"), ["PyPI"]);
    }

    #[test]
    fn package_keys_use_source_names() {
        let p = Package {
            ecosystem: "Ubuntu:22.04".into(),
            name: "libssl3".into(),
            version: "3.0.2-0ubuntu1.10".into(),
            source_name: Some("openssl".into()),
            source_version: None,
            path: "var/lib/dpkg/status".into(),
            layer: None,
            dev: false,
        };
        let keys = AdvisoryIndex::package_keys(&p);
        let want: Vec<(String, String)> = ["Ubuntu:22.04", "Ubuntu", "Ubuntu:Pro:22.04"]
            .iter()
            .map(|e| (e.to_string(), "openssl".to_string()))
            .collect();
        assert_eq!(keys, want);
        let p = Package {
            ecosystem: "PyPI".into(),
            name: "Flask_Cors".into(),
            source_name: None,
            ..p
        };
        assert_eq!(
            AdvisoryIndex::package_keys(&p),
            [("PyPI".to_string(), "flask-cors".to_string())]
        );
    }
}
