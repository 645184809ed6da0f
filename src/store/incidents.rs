//! Cross-artifact queries for incident response: which stored artifacts an advisory affects now
//! (`GET /v1/vulnerabilities`, `regscan vulns`), where a package is installed
//! (`GET /v1/packages`, `regscan packages`), and the top lists of `GET /v1/summary`.
//!
//! "Now" means the newest scan of each live artifact: rows are reached through
//! `artifacts.latest_scan_id` (findings) and that scan's `inventory_scan_id` (packages), and
//! deleted artifacts are left out. Pages are keyset-paginated over (item key, artifact) pairs,
//! so an item whose artifacts do not fit continues on the next page; the cursor is opaque.

use std::collections::{BTreeMap, BTreeSet};

use regscan_scanner_api::{Package, Severity, Summary};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Store, StoreError};

pub mod matchers;
mod types;

pub use matchers::{PurlKey, VersionPredicate};
pub use types::*;

/// Filters of [`Store::vulnerabilities`]. Empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct VulnFilter {
    /// Advisory ids; each also finds the records that list it as an alias (and its own aliases).
    pub ids: Vec<String>,
    /// Package name, exact.
    pub package: Option<String>,
    /// At or above this severity.
    pub min_severity: Option<Severity>,
    /// Lowest CVSS base score of the advisory (only advisories with a stored score match).
    pub cvss_min: Option<f64>,
    /// Highest CVSS base score of the advisory.
    pub cvss_max: Option<f64>,
    /// Repository prefix.
    pub repository: Option<String>,
    /// Artifact kind, exact.
    pub kind: Option<String>,
    /// Cursor from a previous page.
    pub before: Option<String>,
    /// Page size in (advisory, artifact) pairs (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// Filters of [`Store::packages_in_use`]. `names` (or `purl`) is required.
#[derive(Debug, Clone, Default)]
pub struct PackageFilter {
    /// Package name, exact.
    pub name: Option<String>,
    /// Versions.
    pub version: Option<VersionPredicate>,
    /// Ecosystem: exact (`Debian:12`) or its base (`Debian`).
    pub ecosystem: Option<String>,
    /// A package URL.
    pub purl: Option<PurlKey>,
    /// Repository prefix.
    pub repository: Option<String>,
    /// Artifact kind, exact.
    pub kind: Option<String>,
    /// Cursor from a previous page.
    pub before: Option<String>,
    /// Page size in (package, artifact) pairs (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// Errors of the filters themselves (the API answers 400).
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter is wrong; the message names it.
    #[error("{0}")]
    BadParameter(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for QueryError {
    fn from(e: sqlx::Error) -> Self {
        QueryError::Store(e.into())
    }
}

enum Arg {
    Text(String),
    Int(i64),
}

/// A WHERE clause under construction: `?` in each clause becomes the next `$n`.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Where {
    fn push(&mut self, clause: &str, args: Vec<Arg>) {
        let mut out = String::with_capacity(clause.len() + 8);
        let mut args = args.into_iter();
        for c in clause.chars() {
            if c == '?' {
                self.args.push(args.next().expect("as many args as placeholders"));
                out.push_str(&format!("${}", self.args.len()));
            } else {
                out.push(c);
            }
        }
        self.clauses.push(out);
    }

    fn push_in(&mut self, column: &str, values: &[String]) {
        let marks = vec!["?"; values.len()].join(", ");
        self.push(
            &format!("{column} IN ({marks})"),
            values.iter().map(|v| Arg::Text(v.clone())).collect(),
        );
    }

    fn sql(&self) -> String {
        self.clauses.join(" AND ")
    }

    fn bind<'q>(
        &'q self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for a in &self.args {
            q = match a {
                Arg::Text(t) => q.bind(t.as_str()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

fn like_prefix(s: &str) -> String {
    let escaped = s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("{escaped}%")
}

fn limit_of(l: Option<u32>) -> i64 {
    l.unwrap_or(100).clamp(1, 1000) as i64
}

fn artifact_ref(r: &AnyRow) -> Result<ArtifactRef, sqlx::Error> {
    let registry: String = r.try_get("a_registry")?;
    let repository: String = r.try_get("a_repository")?;
    let digest: String = r.try_get("a_digest")?;
    Ok(ArtifactRef {
        reference: format!("{registry}/{repository}@{digest}"),
        digest,
        registry,
        repository,
        kind: r.try_get("a_kind")?,
        parent_digest: r.try_get("a_parent")?,
        platform: r.try_get("a_platform")?,
    })
}

const ARTIFACT_COLS: &str = "a.id AS aid, a.registry AS a_registry, a.repository AS a_repository, a.digest AS a_digest, a.kind AS a_kind, a.parent_digest AS a_parent, a.platform AS a_platform";

impl Store {
    /// ` NULLS FIRST` where the backend sorts NULLs last (PostgreSQL), so both order rows alike.
    fn nulls_first(&self) -> &'static str {
        match self.backend {
            super::Backend::Sqlite => "",
            super::Backend::Postgres => " NULLS FIRST",
        }
    }

    /// `ids` with every alias resolved: the asked records' own aliases, and every stored record
    /// that lists one of those as an alias or upstream id.
    pub async fn resolve_advisory_ids(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        let mut set: BTreeSet<String> = ids
            .iter()
            .map(|i| i.trim().to_owned())
            .filter(|i| !i.is_empty())
            .collect();
        set.extend(
            ids.iter()
                .map(|i| i.trim().to_ascii_uppercase())
                .filter(|i| !i.is_empty()),
        );
        if set.is_empty() {
            return Ok(Vec::new());
        }
        for (select, column) in [("alias", "advisory_id"), ("advisory_id", "alias")] {
            let values: Vec<String> = set.iter().cloned().collect();
            let mut w = Where::default();
            w.push_in(column, &values);
            let sql = format!("SELECT DISTINCT {select} AS v FROM advisory_aliases WHERE {}", w.sql());
            let rows = w.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
            for r in rows {
                set.insert(r.try_get("v")?);
            }
        }
        Ok(set.into_iter().collect())
    }

    /// Advisories with the live artifacts whose latest scan has a finding of them.
    pub async fn vulnerabilities(&self, f: &VulnFilter) -> Result<VulnPage, QueryError> {
        let mut w = Where::default();
        w.push("a.deleted_at IS NULL", vec![]);
        if !f.ids.is_empty() {
            let ids = self.resolve_advisory_ids(&f.ids).await?;
            w.push_in("f.finding_id", &ids);
        }
        if let Some(p) = &f.package {
            w.push("f.package = ?", vec![Arg::Text(p.clone())]);
        }
        if let Some(s) = f.min_severity {
            w.push("f.severity_rank >= ?", vec![Arg::Int(s.rank() as i64)]);
        }
        if f.cvss_min.is_some() || f.cvss_max.is_some() {
            let lo = (f.cvss_min.unwrap_or(0.0) * 10.0).round() as i64;
            let hi = (f.cvss_max.unwrap_or(10.0) * 10.0).round() as i64;
            w.push(
                "EXISTS (SELECT 1 FROM advisories adv WHERE adv.id = f.finding_id AND adv.cvss_x10 >= ? AND adv.cvss_x10 <= ?)",
                vec![Arg::Int(lo), Arg::Int(hi)],
            );
        }
        if let Some(r) = &f.repository {
            w.push("a.repository LIKE ? ESCAPE '\\'", vec![Arg::Text(like_prefix(r))]);
        }
        if let Some(k) = &f.kind {
            w.push("a.kind = ?", vec![Arg::Text(k.clone())]);
        }
        let broad = f.ids.is_empty() && f.package.is_none() && f.repository.is_none();
        let detail_where = w.sql();
        let detail_args = w.args.len();
        if let Some(c) = &f.before {
            let (k, sid) =
                matchers::decode_cursor(c, 2).map_err(|e| QueryError::BadParameter(format!("before: {e}")))?;
            w.push(
                "(f.finding_id > ? OR (f.finding_id = ? AND (COALESCE(f.package, '') > ? OR (COALESCE(f.package, '') = ? AND f.scan_id > ?))))",
                vec![
                    Arg::Text(k[0].clone()),
                    Arg::Text(k[0].clone()),
                    Arg::Text(k[1].clone()),
                    Arg::Text(k[1].clone()),
                    Arg::Int(sid),
                ],
            );
        }
        let limit = limit_of(f.limit);
        // Rows in the order of the `findings_id` index (finding_id, package, scan_id), so the
        // database walks the index and stops at the limit instead of sorting every match. A
        // package found twice in one scan gives two rows of one pair; they are merged below.
        let sql = format!(
            "SELECT f.finding_id AS fid, COALESCE(f.package, '') AS pkg, f.scan_id AS sid, a.id AS aid
             FROM findings f{} JOIN artifacts a ON a.latest_scan_id = f.scan_id
             WHERE {} ORDER BY f.finding_id, f.package{}, f.scan_id LIMIT {}",
            // Without a selective filter, SQLite's planner scans every artifact and sorts all
            // their findings; walking the index in page order stops after one page.
            if self.backend == super::Backend::Sqlite && broad {
                " INDEXED BY findings_id"
            } else {
                ""
            },
            w.sql(),
            self.nulls_first(),
            limit + 1
        );
        let rows = w.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        let more = rows.len() as i64 > limit;
        let mut keys: Vec<(String, String, i64, i64)> = Vec::new();
        for r in rows.iter().take(limit as usize) {
            let k: (String, String, i64, i64) = (
                r.try_get("fid")?,
                r.try_get("pkg")?,
                r.try_get("sid")?,
                r.try_get("aid")?,
            );
            if keys.last() != Some(&k) {
                keys.push(k);
            }
        }
        let next_cursor = more
            .then(|| {
                keys.last()
                    .map(|(id, p, sid, _)| matchers::encode_cursor(&[id, p], *sid))
            })
            .flatten();
        if keys.is_empty() {
            return Ok(VulnPage {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        // The rows of the page's pairs, reached from the artifacts (CROSS JOIN keeps SQLite's
        // join order: by artifact id, then the scan's findings).
        let mut d = Where {
            clauses: vec![detail_where],
            args: w.args.into_iter().take(detail_args).collect(),
        };
        let ids: Vec<String> = keys
            .iter()
            .map(|k| k.0.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let aids: Vec<i64> = keys.iter().map(|k| k.3).collect::<BTreeSet<_>>().into_iter().collect();
        d.push_in("f.finding_id", &ids);
        d.push(
            &format!("a.id IN ({})", vec!["?"; aids.len()].join(", ")),
            aids.iter().map(|a| Arg::Int(*a)).collect(),
        );
        let sql = format!(
            "SELECT f.finding_id AS fid, COALESCE(f.package, '') AS pkg, f.package AS package, f.severity AS severity, f.severity_rank AS rank,
                    f.title AS title, f.installed_version AS installed, f.fixed_version AS fixed, f.location AS location, {ARTIFACT_COLS}
             FROM artifacts a CROSS JOIN findings f
             WHERE f.scan_id = a.latest_scan_id AND {} ORDER BY f.installed_version, f.location",
            d.sql()
        );
        let rows = d.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        let mut by_pair: BTreeMap<(String, String, i64), Vec<&AnyRow>> = BTreeMap::new();
        for r in &rows {
            by_pair
                .entry((r.try_get("fid")?, r.try_get("pkg")?, r.try_get("aid")?))
                .or_default()
                .push(r);
        }
        let mut items: Vec<VulnItem> = Vec::new();
        let mut rank_of: Vec<i64> = Vec::new();
        for (fid, pkg, _, aid) in &keys {
            let Some(rows) = by_pair.get(&(fid.clone(), pkg.clone(), *aid)) else {
                continue;
            };
            let first = rows[0];
            if items
                .last()
                .is_none_or(|i| &i.id != fid || i.package.as_deref().unwrap_or("") != pkg)
            {
                items.push(VulnItem {
                    id: fid.clone(),
                    severity: Severity::Unknown,
                    package: first.try_get("package")?,
                    title: first.try_get("title")?,
                    aliases: Vec::new(),
                    cvss: None,
                    artifacts: Vec::new(),
                });
                rank_of.push(-1);
            }
            let n = items.len() - 1;
            let mut locations: Vec<FindingLocation> = Vec::new();
            for r in rows {
                let rank: i64 = r.try_get("rank")?;
                if rank > rank_of[n] {
                    rank_of[n] = rank;
                    let severity: String = r.try_get("severity")?;
                    items[n].severity = severity.parse().map_err(StoreError::from)?;
                }
                let loc = FindingLocation {
                    location: r.try_get("location")?,
                    installed_version: r.try_get("installed")?,
                    fixed_version: r.try_get("fixed")?,
                };
                if !locations.contains(&loc) {
                    locations.push(loc);
                }
            }
            items[n].artifacts.push(AffectedArtifact {
                artifact: artifact_ref(first)?,
                installed_version: locations[0].installed_version.clone(),
                fixed_version: locations[0].fixed_version.clone(),
                locations,
            });
        }
        // Aliases and CVSS of the advisories on the page.
        let mut w = Where::default();
        w.push_in("a.id", &ids);
        let sql = format!("SELECT a.id AS id, a.cvss_x10 AS cvss, l.alias AS alias FROM advisories a LEFT JOIN advisory_aliases l ON l.advisory_id = a.id WHERE {} ORDER BY l.alias", w.sql());
        let rows = w.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        let mut meta: BTreeMap<String, (Option<i64>, Vec<String>)> = BTreeMap::new();
        for r in rows {
            let e = meta.entry(r.try_get("id")?).or_default();
            e.0 = r.try_get("cvss")?;
            if let Some(a) = r.try_get::<Option<String>, _>("alias")? {
                e.1.push(a);
            }
        }
        for i in &mut items {
            if let Some((cvss, aliases)) = meta.get(&i.id) {
                i.cvss = cvss.map(|c| c as f64 / 10.0);
                i.aliases = aliases.clone();
            }
        }
        Ok(VulnPage { items, next_cursor })
    }

    /// Package versions with the live artifacts whose latest inventory holds them.
    pub async fn packages_in_use(&self, f: &PackageFilter) -> Result<PackagePage, QueryError> {
        let names: Vec<String> = match (&f.name, &f.purl) {
            (Some(n), _) => vec![n.clone()],
            (None, Some(p)) => p.names.clone(),
            (None, None) => return Err(QueryError::BadParameter("give name or purl".into())),
        };
        let name_clauses = |w: &mut Where| {
            w.push_in("p.name", &names);
            if let Some(e) = &f.ecosystem {
                w.push(
                    "(p.ecosystem = ? OR p.ecosystem LIKE ? ESCAPE '\\')",
                    vec![Arg::Text(e.clone()), Arg::Text(like_prefix(&format!("{e}:")))],
                );
            }
        };
        let mut w = Where::default();
        w.push("a.deleted_at IS NULL", vec![]);
        // Versions (and purls) are decided in Rust over the distinct stored versions of the
        // names, then looked up by key.
        if f.version.is_some() || f.purl.is_some() {
            let mut base = Where::default();
            name_clauses(&mut base);
            let sql = format!(
                "SELECT DISTINCT p.ecosystem AS eco, p.name AS name, p.version AS version FROM packages p WHERE {}",
                base.sql()
            );
            let rows = base.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
            let mut keys = Vec::new();
            for r in rows {
                let pkg = Package {
                    ecosystem: r.try_get("eco")?,
                    name: r.try_get("name")?,
                    version: r.try_get("version")?,
                    source_name: None,
                    source_version: None,
                    path: String::new(),
                    layer: None,
                };
                let ok = f
                    .version
                    .as_ref()
                    .is_none_or(|v| v.matches(&pkg.ecosystem, &pkg.version))
                    && f.purl.as_ref().is_none_or(|p| p.matches(&pkg));
                if ok {
                    keys.push(pkg);
                }
            }
            if keys.is_empty() {
                return Ok(PackagePage {
                    items: Vec::new(),
                    next_cursor: None,
                });
            }
            let set = |f: fn(&Package) -> &String| -> Vec<String> {
                keys.iter()
                    .map(|k| f(k).clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect()
            };
            let (ecos, names, versions) = (set(|k| &k.ecosystem), set(|k| &k.name), set(|k| &k.version));
            if ecos.len() * names.len() * versions.len() == keys.len() {
                // Every combination is a key (the usual case: one name in one ecosystem): plain
                // IN lists, which both planners turn into index lookups.
                w.push_in("p.name", &names);
                w.push_in("p.ecosystem", &ecos);
                w.push_in("p.version", &versions);
            } else {
                let marks = vec!["(?, ?, ?)"; keys.len()].join(", ");
                w.push(
                    &format!("(p.ecosystem, p.name, p.version) IN ({marks})"),
                    keys.iter()
                        .flat_map(|k| {
                            [
                                Arg::Text(k.ecosystem.clone()),
                                Arg::Text(k.name.clone()),
                                Arg::Text(k.version.clone()),
                            ]
                        })
                        .collect(),
                );
            }
        } else {
            name_clauses(&mut w);
        }
        if let Some(r) = &f.repository {
            w.push("a.repository LIKE ? ESCAPE '\\'", vec![Arg::Text(like_prefix(r))]);
        }
        if let Some(k) = &f.kind {
            w.push("a.kind = ?", vec![Arg::Text(k.clone())]);
        }
        let detail_where = w.sql();
        let detail_args = w.args.len();
        if let Some(c) = &f.before {
            let (k, sid) =
                matchers::decode_cursor(c, 3).map_err(|e| QueryError::BadParameter(format!("before: {e}")))?;
            w.push(
                "(p.ecosystem > ? OR (p.ecosystem = ? AND (p.name > ? OR (p.name = ? AND (p.version > ? OR (p.version = ? AND p.scan_id > ?))))))",
                vec![
                    Arg::Text(k[0].clone()),
                    Arg::Text(k[0].clone()),
                    Arg::Text(k[1].clone()),
                    Arg::Text(k[1].clone()),
                    Arg::Text(k[2].clone()),
                    Arg::Text(k[2].clone()),
                    Arg::Int(sid),
                ],
            );
        }
        let limit = limit_of(f.limit);
        // In the order of the `packages_name` index (name, ecosystem, version, scan_id): for one
        // name the database walks the index and stops at the limit. The inventory scan belongs
        // to one artifact, so (package, scan) is the pair.
        let sql = format!(
            "SELECT p.ecosystem AS eco, p.name AS name, p.version AS version, p.scan_id AS sid, a.id AS aid
             FROM packages p JOIN scans s ON s.inventory_scan_id = p.scan_id JOIN artifacts a ON a.latest_scan_id = s.id
             WHERE {} ORDER BY p.ecosystem, p.name, p.version, p.scan_id LIMIT {}",
            w.sql(),
            limit + 1
        );
        let rows = w.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        let more = rows.len() as i64 > limit;
        let mut keys: Vec<(String, String, String, i64, i64)> = Vec::new();
        for r in rows.iter().take(limit as usize) {
            let k: (String, String, String, i64, i64) = (
                r.try_get("eco")?,
                r.try_get("name")?,
                r.try_get("version")?,
                r.try_get("sid")?,
                r.try_get("aid")?,
            );
            if keys.last() != Some(&k) {
                keys.push(k);
            }
        }
        let next_cursor = more
            .then(|| {
                keys.last()
                    .map(|(e, n, v, sid, _)| matchers::encode_cursor(&[e, n, v], *sid))
            })
            .flatten();
        if keys.is_empty() {
            return Ok(PackagePage {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        let mut d = Where {
            clauses: vec![detail_where],
            args: w.args.into_iter().take(detail_args).collect(),
        };
        let aids: Vec<i64> = keys.iter().map(|k| k.4).collect::<BTreeSet<_>>().into_iter().collect();
        d.push(
            &format!("a.id IN ({})", vec!["?"; aids.len()].join(", ")),
            aids.iter().map(|a| Arg::Int(*a)).collect(),
        );
        // Reached from the artifacts (CROSS JOIN keeps SQLite's join order).
        let sql = format!(
            "SELECT p.ecosystem AS eco, p.name AS name, p.version AS version, p.source_name AS source_name, p.path AS path, p.layer AS layer, {ARTIFACT_COLS}
             FROM artifacts a CROSS JOIN scans s CROSS JOIN packages p
             WHERE s.id = a.latest_scan_id AND p.scan_id = s.inventory_scan_id AND {} ORDER BY p.path, p.layer",
            d.sql()
        );
        let rows = d.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        let mut by_pair: BTreeMap<(String, String, String, i64), Vec<&AnyRow>> = BTreeMap::new();
        for r in &rows {
            by_pair
                .entry((
                    r.try_get("eco")?,
                    r.try_get("name")?,
                    r.try_get("version")?,
                    r.try_get("aid")?,
                ))
                .or_default()
                .push(r);
        }
        let mut items: Vec<PackageItem> = Vec::new();
        for (eco, name, version, _, aid) in &keys {
            let Some(rows) = by_pair.get(&(eco.clone(), name.clone(), version.clone(), *aid)) else {
                continue;
            };
            let first = rows[0];
            if items
                .last()
                .is_none_or(|i| (&i.ecosystem, &i.name, &i.version) != (eco, name, version))
            {
                let source_name: Option<String> = first.try_get("source_name")?;
                let pkg = Package {
                    ecosystem: eco.clone(),
                    name: name.clone(),
                    version: version.clone(),
                    source_name: source_name.clone(),
                    source_version: None,
                    path: String::new(),
                    layer: None,
                };
                items.push(PackageItem {
                    purl: pkg.purl(),
                    name: pkg.name,
                    version: pkg.version,
                    ecosystem: pkg.ecosystem,
                    source_name: source_name.filter(|s| s != name),
                    artifacts: Vec::new(),
                });
            }
            let mut locations: Vec<PackageLocation> = Vec::new();
            for r in rows {
                let loc = PackageLocation {
                    path: r.try_get("path")?,
                    layer: r.try_get("layer")?,
                };
                if !locations.contains(&loc) {
                    locations.push(loc);
                }
            }
            let n = items.len() - 1;
            items[n].artifacts.push(PackageArtifact {
                artifact: artifact_ref(first)?,
                path: Some(locations[0].path.clone()),
                layer: locations[0].layer.clone(),
                locations,
            });
        }
        Ok(PackagePage { items, next_cursor })
    }

    /// The `limit` live artifacts with the most critical, then high findings in their latest scan.
    pub async fn most_dangerous(&self, limit: u32) -> Result<Vec<DangerousArtifact>, StoreError> {
        let sql = format!(
            "SELECT {ARTIFACT_COLS}, s.critical AS critical, s.high AS high, s.medium AS medium, s.low AS low, s.negligible AS negligible, s.unknown AS unknown
             FROM artifacts a JOIN scans s ON s.id = a.latest_scan_id
             WHERE a.deleted_at IS NULL AND (s.critical > 0 OR s.high > 0)
             ORDER BY s.critical DESC, s.high DESC, a.id DESC LIMIT {}",
            limit.clamp(1, 1000)
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let n = |c: &str| -> Result<u64, sqlx::Error> { Ok(r.try_get::<i64, _>(c)? as u64) };
                Ok(DangerousArtifact {
                    artifact: artifact_ref(r)?,
                    summary: Summary {
                        critical: n("critical")?,
                        high: n("high")?,
                        medium: n("medium")?,
                        low: n("low")?,
                        negligible: n("negligible")?,
                        unknown: n("unknown")?,
                    },
                })
            })
            .collect()
    }

    /// The `limit` advisories (findings about a package) affecting the most live artifacts now.
    pub async fn top_vulnerabilities(&self, limit: u32) -> Result<Vec<TopVuln>, StoreError> {
        let sql = format!(
            "SELECT f.finding_id AS id, MAX(f.severity_rank) AS rank, COUNT(DISTINCT a.id) AS n
             FROM findings f JOIN artifacts a ON a.latest_scan_id = f.scan_id
             WHERE a.deleted_at IS NULL AND f.package IS NOT NULL
             GROUP BY f.finding_id ORDER BY n DESC, rank DESC, id LIMIT {}",
            limit.clamp(1, 1000)
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let rank: i64 = r.try_get("rank")?;
                Ok(TopVuln {
                    id: r.try_get("id")?,
                    severity: Severity::ALL
                        .iter()
                        .copied()
                        .find(|s| s.rank() as i64 == rank)
                        .unwrap_or(Severity::Unknown),
                    artifacts: r.try_get("n")?,
                })
            })
            .collect()
    }

    /// Findings about packages in the latest scans of live artifacts, fixable or not.
    pub async fn fixable_split(&self) -> Result<FixableSplit, StoreError> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS total, COUNT(NULLIF(f.fixed_version, '')) AS fixable,
                    COUNT(DISTINCT CASE WHEN f.fixed_version <> '' THEN a.id END) AS fixable_artifacts
             FROM findings f JOIN artifacts a ON a.latest_scan_id = f.scan_id
             WHERE a.deleted_at IS NULL AND f.package IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        let total: i64 = r.try_get("total")?;
        let fixable: i64 = r.try_get("fixable")?;
        Ok(FixableSplit {
            fixable,
            unfixable: total - fixable,
            fixable_artifacts: r.try_get("fixable_artifacts")?,
        })
    }
}

/// The aliases and highest CVSS base score (× 10) of an OSV record's JSON: `aliases` and
/// `upstream` ids, and the best score of the CVSS vectors in `severity[]` and
/// `affected[].severity[]`. A record that does not parse yields nothing.
pub(crate) fn derive_advisory_index(id: &str, raw: &str) -> (Vec<String>, Option<i64>) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(raw) else {
        return (Vec::new(), None);
    };
    let mut aliases: Vec<String> = ["aliases", "upstream"]
        .iter()
        .filter_map(|k| v[*k].as_array())
        .flatten()
        .filter_map(|a| a.as_str())
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != id)
        .map(str::to_owned)
        .collect();
    aliases.sort();
    aliases.dedup();
    let mut scores = Vec::new();
    let mut collect = |sev: &serde_json::Value| {
        for s in sev.as_array().into_iter().flatten() {
            if let (Some(kind), Some(score)) = (s["type"].as_str(), s["score"].as_str()) {
                if let Some(x) = regscan_osv::severity::cvss_score(kind, score) {
                    scores.push(x);
                }
            }
        }
    };
    collect(&v["severity"]);
    for a in v["affected"].as_array().into_iter().flatten() {
        collect(&a["severity"]);
    }
    let best = scores
        .into_iter()
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    (aliases, best.map(|b| (b * 10.0).round() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_cvss_come_from_the_record() {
        let raw = r#"{"id":"DSA-1","aliases":["CVE-1","DSA-1"],"upstream":["CVE-1","CVE-2"],
            "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            "affected":[{"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"}]}]}"#;
        assert_eq!(
            derive_advisory_index("DSA-1", raw),
            (vec!["CVE-1".to_owned(), "CVE-2".to_owned()], Some(100))
        );
        assert_eq!(derive_advisory_index("X", "{not json"), (vec![], None));
        assert_eq!(
            derive_advisory_index("X", r#"{"id":"X","aliases":null}"#),
            (vec![], None)
        );
    }
}
