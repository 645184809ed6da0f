//! Cross-artifact queries for incident response: which stored artifacts an advisory affects now
//! (`GET /v1/vulnerabilities`, `regscan vulns`), where a package is installed
//! (`GET /v1/packages`, `regscan packages`), and the top lists of `GET /v1/summary`.
//!
//! "Now" means the newest scan of each live artifact: rows are reached through
//! `artifacts.latest_scan_id` (findings) and that scan's `inventory_scan_id` (packages), and
//! deleted artifacts are left out. Pages are keyset-paginated over (item key, artifact) pairs,
//! so an item whose artifacts do not fit continues on the next page; the cursor is opaque. Both
//! queries page through one [`Paging`]: a page of (item key, scan, artifact) triples in index
//! order, then the rows of those pairs.

use std::collections::{BTreeMap, BTreeSet};

use regscan_scanner_api::{Package, Severity};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::{like_prefix, SqlBuilder};
use super::{Store, StoreError};

pub mod matchers;
mod summary;
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

/// The conditions of a query as a function pushing them into a statement (a statement's
/// values move into it when built, so each statement that needs them gets its own push): this
/// ties the statement's values to the data `f` borrows.
fn conditions<'a, F: Fn(&mut SqlBuilder<'a>)>(f: F) -> F {
    f
}

/// ` AND {column} IN ($n, …)`, one bound value per item of `values`.
fn and_in<'a>(b: &mut SqlBuilder<'a>, column: &str, values: &'a [String]) {
    b.push(format_args!(" AND {column} IN ("))
        .push_bind_list(values.iter().map(String::as_str))
        .push(")");
}

/// ` AND a.id IN ($n, …)`: the artifacts of a page's pairs.
fn and_artifact_in(b: &mut SqlBuilder<'_>, pairs: &[Pair]) {
    let ids: BTreeSet<i64> = pairs.iter().map(|p| p.2).collect();
    b.push(" AND a.id IN (").push_bind_list(ids).push(")");
}

/// ` AND a.repository LIKE $n` (a prefix) and ` AND a.kind = $n`, when given.
fn and_artifact<'a>(b: &mut SqlBuilder<'a>, repository: Option<&str>, kind: Option<&'a str>) {
    if let Some(r) = repository {
        b.push(" AND a.repository LIKE ")
            .push_bind(like_prefix(r))
            .push(" ESCAPE '\\'");
    }
    if let Some(k) = kind {
        b.push(" AND a.kind = ").push_bind(k);
    }
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

/// How a cross-artifact query pages: over (item key, scan) pairs in the order of an index, so
/// that a page is an index walk that stops at the limit. Both queries select the key columns
/// as `k0`, `k1`, …, and the artifact id as `aid`.
struct Paging<'a> {
    /// The item key, as SQL expressions, in item order.
    keys: &'a [&'a str],
    /// The scan column (an artifact's pair is (key, its scan)).
    scan: &'a str,
    /// `FROM …` of the page query; `a` is the artifact.
    from: String,
    /// `ORDER BY` of the page query: the key and the scan, as the index orders them.
    order: String,
}

/// Which packages [`Store::packages_in_use`] looks for.
enum PackageSet {
    /// Every version of these names (in the filter's ecosystem, exact or its base, if any).
    Names(Vec<String>),
    /// Every combination of these ecosystems, names and versions (the usual case: one name in
    /// one ecosystem): plain `IN` lists, which both planners turn into index lookups.
    Product {
        ecosystems: Vec<String>,
        names: Vec<String>,
        versions: Vec<String>,
    },
    /// These (ecosystem, name, version) keys.
    Keys(Vec<Package>),
}

/// One (item key, scan, artifact) of a page.
type Pair = (Vec<String>, i64, i64);

/// The detail rows of a page, by (item key, artifact id).
type RowsByPair<'r> = BTreeMap<(Vec<String>, i64), Vec<&'r AnyRow>>;

/// The pairs of a page from its rows (selecting `k0…`, `sid` and `aid`, in page order, at most
/// `limit + 1`), each once, and the cursor of the next page.
fn page_of(rows: &[AnyRow], keys: usize, limit: i64) -> Result<(Vec<Pair>, Option<String>), sqlx::Error> {
    let more = rows.len() as i64 > limit;
    let mut pairs: Vec<Pair> = Vec::new();
    for r in rows.iter().take(limit as usize) {
        let key = (0..keys)
            .map(|i| r.try_get(format!("k{i}").as_str()))
            .collect::<Result<Vec<String>, _>>()?;
        let pair = (key, r.try_get("sid")?, r.try_get("aid")?);
        // A package found twice in one scan gives two rows of one pair.
        if pairs.last() != Some(&pair) {
            pairs.push(pair);
        }
    }
    let next_cursor = more
        .then(|| {
            pairs
                .last()
                .map(|(k, sid, _)| matchers::encode_cursor(&k.iter().map(String::as_str).collect::<Vec<_>>(), *sid))
        })
        .flatten();
    Ok((pairs, next_cursor))
}

impl Paging<'_> {
    /// The pairs of one page, each once, and the cursor of the next page. `conditions` pushes
    /// the query's `AND`-joined conditions (the first without `AND`); the page adds "after the
    /// cursor's pair" when one is given.
    async fn page<'a>(
        &self,
        store: &Store,
        conditions: impl Fn(&mut SqlBuilder<'a>),
        before: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Pair>, Option<String>), QueryError> {
        let cursor = before
            .map(|c| matchers::decode_cursor(c, self.keys.len()))
            .transpose()
            .map_err(|e| QueryError::BadParameter(format!("before: {e}")))?;
        let keys: Vec<String> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} AS k{i}"))
            .collect();
        let mut b = SqlBuilder::new(
            store.backend,
            format!(
                "SELECT {}, {} AS sid, a.id AS aid FROM {} WHERE ",
                keys.join(", "),
                self.scan,
                self.from
            ),
        );
        conditions(&mut b);
        if let Some((values, sid)) = cursor {
            // (k0 > $ OR (k0 = $ AND (k1 > $ OR (k1 = $ AND scan > $))))
            b.push(" AND ");
            let mut open = 0;
            for (col, v) in self.keys.iter().zip(values) {
                b.push(format_args!("({col} > "))
                    .push_bind(v.clone())
                    .push(format_args!(" OR ({col} = "))
                    .push_bind(v)
                    .push(" AND ");
                open += 1;
            }
            b.push(format_args!("{} > ", self.scan)).push_bind(sid);
            b.push("))".repeat(open));
        }
        b.push(format_args!(" ORDER BY {} LIMIT {}", self.order, limit + 1));
        let rows = b.build()?.fetch_all(&store.pool).await?;
        Ok(page_of(&rows, self.keys.len(), limit)?)
    }

    /// Detail rows (selecting `k0…` and `aid`) grouped by pair.
    fn group<'r>(&self, rows: &'r [AnyRow]) -> Result<RowsByPair<'r>, sqlx::Error> {
        let mut by_pair: RowsByPair<'r> = BTreeMap::new();
        for r in rows {
            let key = (0..self.keys.len())
                .map(|i| r.try_get(format!("k{i}").as_str()))
                .collect::<Result<Vec<String>, _>>()?;
            by_pair.entry((key, r.try_get("aid")?)).or_default().push(r);
        }
        Ok(by_pair)
    }
}

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
            let mut b = SqlBuilder::new(
                self.backend,
                format!("SELECT DISTINCT {select} AS v FROM advisory_aliases WHERE {column} IN ("),
            );
            b.push_bind_list(values.iter().map(String::as_str)).push(")");
            let rows = b.build()?.fetch_all(&self.pool).await?;
            for r in rows {
                set.insert(r.try_get("v")?);
            }
        }
        Ok(set.into_iter().collect())
    }

    /// Advisories with the live artifacts whose latest scan has a finding of them.
    pub async fn vulnerabilities(&self, f: &VulnFilter) -> Result<VulnPage, QueryError> {
        let ids = if f.ids.is_empty() {
            None
        } else {
            Some(self.resolve_advisory_ids(&f.ids).await?)
        };
        // The filter's conditions, pushed into the page query and then the detail query.
        let conditions = conditions(|b| {
            b.push("a.deleted_at IS NULL");
            if let Some(ids) = &ids {
                and_in(b, "f.finding_id", ids);
            }
            if let Some(p) = &f.package {
                b.push(" AND f.package = ").push_bind(p.as_str());
            }
            if let Some(s) = f.min_severity {
                b.push(" AND f.severity_rank >= ").push_bind(s.rank() as i64);
            }
            if f.cvss_min.is_some() || f.cvss_max.is_some() {
                let lo = (f.cvss_min.unwrap_or(0.0) * 10.0).round() as i64;
                let hi = (f.cvss_max.unwrap_or(10.0) * 10.0).round() as i64;
                b.push(" AND EXISTS (SELECT 1 FROM advisories adv WHERE adv.id = f.finding_id AND adv.cvss_x10 >= ")
                    .push_bind(lo)
                    .push(" AND adv.cvss_x10 <= ")
                    .push_bind(hi)
                    .push(")");
            }
            and_artifact(b, f.repository.as_deref(), f.kind.as_deref());
        });
        let broad = f.ids.is_empty() && f.package.is_none() && f.repository.is_none();
        // Pairs in the order of the `findings_id` index (finding_id, package, scan_id). Without
        // a selective filter, SQLite's planner scans every artifact and sorts all their
        // findings; walking the index in page order stops after one page.
        let paging = Paging {
            keys: &["f.finding_id", "COALESCE(f.package, '')"],
            scan: "f.scan_id",
            from: format!(
                "findings f{} JOIN artifacts a ON a.latest_scan_id = f.scan_id",
                if self.backend == super::Backend::Sqlite && broad {
                    " INDEXED BY findings_id"
                } else {
                    ""
                }
            ),
            order: format!("f.finding_id, f.package{}, f.scan_id", self.nulls_first()),
        };
        let (pairs, next_cursor) = paging
            .page(self, conditions, f.before.as_deref(), limit_of(f.limit))
            .await?;
        if pairs.is_empty() {
            return Ok(VulnPage {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        // The rows of the page's pairs, reached from the artifacts (CROSS JOIN keeps SQLite's
        // join order: by artifact id, then the scan's findings).
        let page_ids: Vec<String> = pairs
            .iter()
            .map(|p| p.0[0].clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut b = SqlBuilder::new(self.backend, format!(
            "SELECT f.finding_id AS k0, COALESCE(f.package, '') AS k1, f.package AS package, f.severity AS severity, f.severity_rank AS rank,
                    f.title AS title, f.installed_version AS installed, f.fixed_version AS fixed, f.location AS location, {ARTIFACT_COLS}
             FROM artifacts a CROSS JOIN findings f
             WHERE f.scan_id = a.latest_scan_id AND "
        ));
        conditions(&mut b);
        and_in(&mut b, "f.finding_id", &page_ids);
        and_artifact_in(&mut b, &pairs);
        b.push(" ORDER BY f.installed_version, f.location");
        let rows = b.build()?.fetch_all(&self.pool).await?;
        let by_pair = paging.group(&rows)?;
        let mut items: Vec<VulnItem> = Vec::new();
        let mut rank_of: Vec<i64> = Vec::new();
        for (key, _, aid) in pairs {
            let Some(rows) = by_pair.get(&(key.clone(), aid)) else {
                continue;
            };
            let first = rows[0];
            let (fid, pkg) = (&key[0], &key[1]);
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
        let mut b = SqlBuilder::new(
                self.backend,
            "SELECT a.id AS id, a.cvss_x10 AS cvss, l.alias AS alias FROM advisories a LEFT JOIN advisory_aliases l ON l.advisory_id = a.id WHERE a.id IN (",
        );
        b.push_bind_list(page_ids.iter().map(String::as_str))
            .push(") ORDER BY l.alias");
        let rows = b.build()?.fetch_all(&self.pool).await?;
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

    /// The distinct stored (ecosystem, version) of package `name`, history included, in
    /// ecosystems matching `ecosystem` (exact, or its base). On PostgreSQL a loose index scan of
    /// `packages_name`: one index probe per distinct version, not one read per stored row (a
    /// package in every artifact has hundreds of thousands of rows but a few dozen versions).
    /// SQLite's `DISTINCT` already skips through the index.
    async fn stored_versions(&self, name: &str, ecosystem: Option<&str>) -> Result<Vec<(String, String)>, StoreError> {
        let mut b = match self.backend {
            super::Backend::Postgres => {
                let mut b = SqlBuilder::new(
                    self.backend,
                    "WITH RECURSIVE v(eco, version) AS (
                    (SELECT ecosystem, version FROM packages WHERE name = ",
                );
                b.push_bind(name)
                    .push(
                        " ORDER BY ecosystem, version LIMIT 1)
                    UNION ALL
                    SELECT n.ecosystem, n.version FROM v CROSS JOIN LATERAL
                        (SELECT ecosystem, version FROM packages
                         WHERE name = ",
                    )
                    .push_bind(name)
                    .push(
                        " AND (ecosystem, version) > (v.eco, v.version)
                         ORDER BY ecosystem, version LIMIT 1) n
                 )
                 SELECT eco, version FROM v WHERE ",
                    );
                b
            }
            super::Backend::Sqlite => {
                let mut b = SqlBuilder::new(
                self.backend,
                    "SELECT eco, version FROM (SELECT DISTINCT ecosystem AS eco, version FROM packages INDEXED BY packages_name WHERE name = ",
                );
                b.push_bind(name).push(") WHERE ");
                b
            }
        };
        match ecosystem {
            Some(e) => b
                .push("(eco = ")
                .push_bind(e)
                .push(" OR eco LIKE ")
                .push_bind(like_prefix(&format!("{e}:")))
                .push(" ESCAPE '\\')"),
            None => b.push("1 = 1"),
        };
        let rows = b.build()?.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("eco")?, r.try_get("version")?)))
            .collect()
    }

    /// The page of [`Store::packages_in_use`] for one name in one ecosystem at several versions,
    /// on PostgreSQL: one ordered walk of `packages_name` per version (a `LATERAL` subquery
    /// that stops at the limit), merged in page order. With `version = ANY(…)` PostgreSQL 15
    /// bitmap-scans and sorts every row of every version (286 ms for a range on a package in
    /// each of 100,000 artifacts); per version, each walk stops after a page.
    async fn package_page_per_version(
        &self,
        ecosystem: &str,
        name: &str,
        versions: &[String],
        f: &PackageFilter,
        limit: i64,
    ) -> Result<(Vec<Pair>, Option<String>), QueryError> {
        let cursor = f
            .before
            .as_deref()
            .map(|c| matchers::decode_cursor(c, 3))
            .transpose()
            .map_err(|e| QueryError::BadParameter(format!("before: {e}")))?;
        let mut b = SqlBuilder::new(self.backend, "SELECT x.k0, x.k1, x.k2, x.sid, x.aid FROM (VALUES ");
        for (i, v) in versions.iter().enumerate() {
            b.push(if i == 0 { "(" } else { ", (" }).push_bind(v.as_str()).push(")");
        }
        b.push(") AS v(version) CROSS JOIN LATERAL (SELECT p.ecosystem AS k0, p.name AS k1, p.version AS k2, p.scan_id AS sid, a.id AS aid
             FROM packages p JOIN scans s ON s.inventory_scan_id = p.scan_id JOIN artifacts a ON a.latest_scan_id = s.id
             WHERE a.deleted_at IS NULL AND p.name = ")
            .push_bind(name)
            .push(" AND p.ecosystem = ")
            .push_bind(ecosystem)
            .push(" AND p.version = v.version");
        and_artifact(&mut b, f.repository.as_deref(), f.kind.as_deref());
        if let Some((k, sid)) = &cursor {
            b.push(" AND (p.ecosystem, p.name, p.version, p.scan_id) > (")
                .push_bind(k[0].clone())
                .push(", ")
                .push_bind(k[1].clone())
                .push(", ")
                .push_bind(k[2].clone())
                .push(", ")
                .push_bind(*sid)
                .push(")");
        }
        b.push(format_args!(" ORDER BY p.scan_id LIMIT {}) x", limit + 1));
        if let Some((k, _)) = &cursor {
            // The versions before the cursor's have nothing left for this page.
            b.push(" WHERE (")
                .push_bind(ecosystem)
                .push(", ")
                .push_bind(name)
                .push(", v.version) >= (")
                .push_bind(k[0].clone())
                .push(", ")
                .push_bind(k[1].clone())
                .push(", ")
                .push_bind(k[2].clone())
                .push(")");
        }
        b.push(format_args!(" ORDER BY x.k0, x.k1, x.k2, x.sid LIMIT {}", limit + 1));
        let rows = b.build()?.fetch_all(&self.pool).await?;
        Ok(page_of(&rows, 3, limit)?)
    }

    /// Package versions with the live artifacts whose latest inventory holds them.
    pub async fn packages_in_use(&self, f: &PackageFilter) -> Result<PackagePage, QueryError> {
        let names: Vec<String> = match (&f.name, &f.purl) {
            (Some(n), _) => vec![n.clone()],
            (None, Some(p)) => p.names.clone(),
            (None, None) => return Err(QueryError::BadParameter("give name or purl".into())),
        };
        let wanted = if f.version.is_some() || f.purl.is_some() {
            // Versions (and purls) are decided in Rust over the distinct stored versions of the
            // names, then looked up by key.
            let mut keys = Vec::new();
            for name in &names {
                for (ecosystem, version) in self.stored_versions(name, f.ecosystem.as_deref()).await? {
                    let pkg = Package {
                        ecosystem,
                        name: name.clone(),
                        version,
                        source_name: None,
                        source_version: None,
                        path: String::new(),
                        layer: None,
                        dev: false,
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
            let (ecosystems, names, versions) = (set(|k| &k.ecosystem), set(|k| &k.name), set(|k| &k.version));
            if ecosystems.len() * names.len() * versions.len() == keys.len() {
                PackageSet::Product {
                    ecosystems,
                    names,
                    versions,
                }
            } else {
                PackageSet::Keys(keys)
            }
        } else {
            PackageSet::Names(names)
        };
        // The filter's conditions, pushed into the page query and then the detail query.
        let conditions = conditions(|b| {
            b.push("a.deleted_at IS NULL");
            match &wanted {
                PackageSet::Product {
                    ecosystems,
                    names,
                    versions,
                } => {
                    and_in(b, "p.name", names);
                    and_in(b, "p.ecosystem", ecosystems);
                    and_in(b, "p.version", versions);
                }
                PackageSet::Keys(keys) => {
                    b.push(" AND (p.ecosystem, p.name, p.version) IN (");
                    for (i, k) in keys.iter().enumerate() {
                        b.push(if i == 0 { "(" } else { ", (" });
                        b.separated(", ")
                            .push_bind(k.ecosystem.as_str())
                            .push_bind(k.name.as_str())
                            .push_bind(k.version.as_str());
                        b.push(")");
                    }
                    b.push(")");
                }
                PackageSet::Names(names) => {
                    and_in(b, "p.name", names);
                    if let Some(e) = &f.ecosystem {
                        b.push(" AND (p.ecosystem = ")
                            .push_bind(e.as_str())
                            .push(" OR p.ecosystem LIKE ")
                            .push_bind(like_prefix(&format!("{e}:")))
                            .push(" ESCAPE '\\')");
                    }
                }
            }
            and_artifact(b, f.repository.as_deref(), f.kind.as_deref());
        });
        // In the order of the `packages_name` index (name, ecosystem, version, scan_id): for one
        // name the database walks the index and stops at the limit. The inventory scan belongs
        // to one artifact, so (package, scan) is the pair.
        let paging = Paging {
            keys: &["p.ecosystem", "p.name", "p.version"],
            scan: "p.scan_id",
            from:
                "packages p JOIN scans s ON s.inventory_scan_id = p.scan_id JOIN artifacts a ON a.latest_scan_id = s.id"
                    .into(),
            order: "p.ecosystem, p.name, p.version, p.scan_id".into(),
        };
        let (pairs, next_cursor) = match (&wanted, self.backend) {
            (
                PackageSet::Product {
                    ecosystems,
                    names,
                    versions,
                },
                super::Backend::Postgres,
            ) if ecosystems.len() == 1 && names.len() == 1 && versions.len() > 1 => {
                self.package_page_per_version(&ecosystems[0], &names[0], versions, f, limit_of(f.limit))
                    .await?
            }
            _ => {
                paging
                    .page(self, conditions, f.before.as_deref(), limit_of(f.limit))
                    .await?
            }
        };
        if pairs.is_empty() {
            return Ok(PackagePage {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        // Reached from the artifacts (CROSS JOIN keeps SQLite's join order).
        let mut b = SqlBuilder::new(self.backend, format!(
            "SELECT p.ecosystem AS k0, p.name AS k1, p.version AS k2, p.source_name AS source_name, p.path AS path, p.layer AS layer, {ARTIFACT_COLS}
             FROM artifacts a CROSS JOIN scans s CROSS JOIN packages p
             WHERE s.id = a.latest_scan_id AND p.scan_id = s.inventory_scan_id AND "
        ));
        conditions(&mut b);
        and_artifact_in(&mut b, &pairs);
        b.push(" ORDER BY p.path, p.layer");
        let rows = b.build()?.fetch_all(&self.pool).await?;
        let by_pair = paging.group(&rows)?;
        let mut items: Vec<PackageItem> = Vec::new();
        for (key, _, aid) in pairs {
            let Some(rows) = by_pair.get(&(key.clone(), aid)) else {
                continue;
            };
            let first = rows[0];
            let (eco, name, version) = (&key[0], &key[1], &key[2]);
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
                    dev: false,
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

#[cfg(test)]
mod sql_tests;
