//! `regscan vulns ID…` and `regscan packages NAME[@VERSION]`: which stored artifacts an
//! advisory affects now, and where a package is installed — from the local database or a server
//! (`--server`), as a table, JSON (the API's page shape, every page merged) or CSV.

use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::anyhow;
use regscan_scanner_api::Severity;

use super::client::{ApiClient, ServerArgs};
use super::{open_store, CliError, CliResult, ExitStatus};
use crate::config::Config;
use crate::http::api::incidents::{PackageParams, VulnParams};
use crate::store::incidents::{PackageItem, PackagePage, QueryError, VulnItem, VulnPage};
use crate::store::Store;

/// Output format of `vulns` and `packages`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ListFormat {
    /// Human-readable table.
    #[default]
    Table,
    /// JSON: `{"items": […], "next_cursor": null}` as the API answers, every page merged.
    Json,
    /// CSV, one row per (item, artifact), with a header row.
    Csv,
}

/// Arguments of `regscan vulns`.
#[derive(Debug, clap::Args)]
pub struct VulnsArgs {
    /// Advisory ids (CVE, GHSA, DSA, …); aliases are resolved.
    #[arg(value_name = "ID", required = true)]
    pub ids: Vec<String>,
    /// Only findings about this package.
    #[arg(long)]
    pub package: Option<String>,
    /// Only findings at or above this severity.
    #[arg(long, value_parser = super::scan::parse_severity)]
    pub min_severity: Option<Severity>,
    /// Only advisories with a CVSS base score at least this.
    #[arg(long)]
    pub cvss_min: Option<f64>,
    /// Only advisories with a CVSS base score at most this.
    #[arg(long)]
    pub cvss_max: Option<f64>,
    /// Only repositories starting with this prefix.
    #[arg(long)]
    pub repository: Option<String>,
    /// Only artifacts of this kind.
    #[arg(long)]
    pub kind: Option<String>,
    /// At most this many (advisory, artifact) pairs.
    #[arg(long, default_value_t = 10000)]
    pub limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ListFormat,
    /// Where to ask: the local database, or a server.
    #[command(flatten)]
    pub remote: ServerArgs,
}

/// Arguments of `regscan packages`.
#[derive(Debug, clap::Args)]
pub struct PackagesArgs {
    /// `NAME`, `NAME@VERSION` (exact, a glob `2.1*`, or comparisons `>=2.0,<2.17`) or a purl
    /// (`pkg:deb/debian/openssl@3.0.11-1`).
    #[arg(value_name = "NAME[@VERSION]")]
    pub package: String,
    /// Ecosystem (`Debian:12`, or `Debian` for every release).
    #[arg(long)]
    pub ecosystem: Option<String>,
    /// Only repositories starting with this prefix.
    #[arg(long)]
    pub repository: Option<String>,
    /// Only artifacts of this kind.
    #[arg(long)]
    pub kind: Option<String>,
    /// At most this many (package, artifact) pairs.
    #[arg(long, default_value_t = 10000)]
    pub limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ListFormat,
    /// Where to ask: the local database, or a server.
    #[command(flatten)]
    pub remote: ServerArgs,
}

/// Split `NAME@VERSION`; a leading `@` is an npm scope, not a version.
pub fn split_package(arg: &str) -> (String, Option<String>) {
    match arg.rfind('@') {
        Some(i) if i > 0 => (
            arg[..i].to_owned(),
            Some(arg[i + 1..].to_owned()).filter(|v| !v.is_empty()),
        ),
        _ => (arg.to_owned(), None),
    }
}

/// An item of a page whose artifacts may continue on the next page.
trait PagedItem: Sized {
    /// How many (item, artifact) pairs it holds.
    fn pairs(&self) -> usize;
    /// Take `next`'s artifacts when it is the same item (cut by the page boundary); give it back
    /// otherwise.
    fn absorb(&mut self, next: Self) -> Option<Self>;
}

impl PagedItem for VulnItem {
    fn pairs(&self) -> usize {
        self.artifacts.len()
    }

    fn absorb(&mut self, next: Self) -> Option<Self> {
        if (&self.id, &self.package) != (&next.id, &next.package) {
            return Some(next);
        }
        self.artifacts.extend(next.artifacts);
        None
    }
}

impl PagedItem for PackageItem {
    fn pairs(&self) -> usize {
        self.artifacts.len()
    }

    fn absorb(&mut self, next: Self) -> Option<Self> {
        if (&self.ecosystem, &self.name, &self.version) != (&next.ecosystem, &next.name, &next.version) {
            return Some(next);
        }
        self.artifacts.extend(next.artifacts);
        None
    }
}

/// A page as the API answers it.
#[derive(serde::Deserialize)]
struct Page<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

/// The query parameters of an incident query, as the CLI pages through them (serialised, they
/// are the API's query string).
trait PagedQuery: serde::Serialize {
    type Item: PagedItem + serde::de::DeserializeOwned;
    /// API path.
    const PATH: &'static str;
    /// The cursor parameter.
    fn before(&mut self) -> &mut Option<String>;
    /// One page from the local database: items and the next cursor.
    async fn local(&self, store: &Store) -> Result<(Vec<Self::Item>, Option<String>), CliError>;
}

fn query_error(e: QueryError) -> CliError {
    match e {
        QueryError::BadParameter(m) => CliError::usage(anyhow!(m)),
        QueryError::Store(s) => CliError::failed(s),
    }
}

fn bad_params(e: crate::http::api::ApiError) -> CliError {
    CliError::usage(anyhow!("{}", e.message()))
}

impl PagedQuery for VulnParams {
    type Item = VulnItem;
    const PATH: &'static str = "/v1/vulnerabilities";

    fn before(&mut self) -> &mut Option<String> {
        &mut self.before
    }

    async fn local(&self, store: &Store) -> Result<(Vec<VulnItem>, Option<String>), CliError> {
        let filter = self.to_filter().map_err(bad_params)?;
        let p = store.vulnerabilities(&filter).await.map_err(query_error)?;
        Ok((p.items, p.next_cursor))
    }
}

impl PagedQuery for PackageParams {
    type Item = PackageItem;
    const PATH: &'static str = "/v1/packages";

    fn before(&mut self) -> &mut Option<String> {
        &mut self.before
    }

    async fn local(&self, store: &Store) -> Result<(Vec<PackageItem>, Option<String>), CliError> {
        let filter = self.to_filter().map_err(bad_params)?;
        let p = store.packages_in_use(&filter).await.map_err(query_error)?;
        Ok((p.items, p.next_cursor))
    }
}

/// The parameters that are set, as query-string pairs.
fn query_pairs(params: &impl serde::Serialize) -> Result<Vec<(String, String)>, CliError> {
    match serde_json::to_value(params).map_err(CliError::failed)? {
        serde_json::Value::Object(m) => Ok(m
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
            .collect()),
        other => Err(CliError::failed(anyhow!("query parameters serialised as {other}"))),
    }
}

/// Every page of `params` (until about `limit` pairs), from the server or the local database,
/// with items cut by a page boundary merged.
async fn fetch_all<Q: PagedQuery>(
    config: &Config,
    remote: &ServerArgs,
    mut params: Q,
    limit: usize,
) -> Result<Vec<Q::Item>, CliError> {
    let server = match &remote.server {
        Some(s) => Some(ApiClient::new(s, remote.token.clone())?),
        None => None,
    };
    let store = match server {
        Some(_) => None,
        None => Some(open_store(config).await?),
    };
    let mut all: Vec<Q::Item> = Vec::new();
    let mut pairs_seen = 0;
    let outcome = loop {
        let page = match (&server, &store) {
            (Some(api), _) => match query_pairs(&params) {
                Ok(q) => api.get_json::<Page<Q::Item>>(Q::PATH, &q).await,
                Err(e) => Err(e),
            },
            (None, Some(store)) => params
                .local(store)
                .await
                .map(|(items, next_cursor)| Page { items, next_cursor }),
            (None, None) => Err(CliError::failed(anyhow!("neither a server nor a database to ask"))),
        };
        let page = match page {
            Ok(p) => p,
            Err(e) => break Err(e),
        };
        let before = pairs_seen;
        for item in page.items {
            pairs_seen += item.pairs();
            let rest = match all.last_mut() {
                Some(last) => last.absorb(item),
                None => Some(item),
            };
            all.extend(rest);
        }
        match page.next_cursor {
            // A page without pairs cannot have a next one (a server that says so is not followed).
            Some(c) if pairs_seen < limit && pairs_seen > before => *params.before() = Some(c),
            _ => break Ok(all),
        }
    };
    if let Some(s) = store {
        s.close().await;
    }
    outcome
}

/// Run `regscan vulns`.
pub async fn vulns(config: Arc<Config>, args: VulnsArgs) -> CliResult {
    let params = VulnParams {
        id: Some(args.ids.join(",")),
        package: args.package.clone(),
        min_severity: args.min_severity.map(|s| s.to_string()),
        cvss_min: args.cvss_min.map(|c| c.to_string()),
        cvss_max: args.cvss_max.map(|c| c.to_string()),
        repository: args.repository.clone(),
        kind: args.kind.clone(),
        before: None,
        limit: Some(args.limit.clamp(1, 1000).to_string()),
    };
    let all = VulnPage {
        items: fetch_all(&config, &args.remote, params, args.limit).await?,
        next_cursor: None,
    };
    let out = match args.format {
        ListFormat::Json => serde_json::to_string_pretty(&all).map_err(CliError::failed)? + "\n",
        ListFormat::Csv => {
            let mut out =
                String::from("id,severity,package,reference,digest,installed_version,fixed_version,aliases\n");
            for i in &all.items {
                for a in &i.artifacts {
                    csv_row(
                        &mut out,
                        &[
                            &i.id,
                            i.severity.as_str(),
                            i.package.as_deref().unwrap_or(""),
                            &a.artifact.reference,
                            &a.artifact.digest,
                            a.installed_version.as_deref().unwrap_or(""),
                            a.fixed_version.as_deref().unwrap_or(""),
                            &i.aliases.join(" "),
                        ],
                    );
                }
            }
            out
        }
        ListFormat::Table => {
            let mut rows = Vec::new();
            for i in &all.items {
                for a in &i.artifacts {
                    rows.push(vec![
                        i.id.clone(),
                        i.severity.to_string(),
                        i.package.clone().unwrap_or_default(),
                        a.artifact.reference.clone(),
                        a.installed_version.clone().unwrap_or_default(),
                        a.fixed_version.clone().unwrap_or_else(|| "(no fix)".into()),
                    ]);
                }
            }
            if rows.is_empty() {
                format!("no stored artifact is affected by {} now\n", args.ids.join(", "))
            } else {
                table(
                    &["ADVISORY", "SEVERITY", "PACKAGE", "ARTIFACT", "INSTALLED", "FIXED"],
                    &rows,
                )
            }
        }
    };
    print!("{out}");
    Ok(ExitStatus::Ok)
}

/// Run `regscan packages`.
pub async fn packages(config: Arc<Config>, args: PackagesArgs) -> CliResult {
    let (name, version, purl) = if args.package.starts_with("pkg:") {
        (None, None, Some(args.package.clone()))
    } else {
        let (n, v) = split_package(&args.package);
        (Some(n), v, None)
    };
    let params = PackageParams {
        name,
        version,
        ecosystem: args.ecosystem.clone(),
        purl,
        repository: args.repository.clone(),
        kind: args.kind.clone(),
        before: None,
        limit: Some(args.limit.clamp(1, 1000).to_string()),
    };
    let all = PackagePage {
        items: fetch_all(&config, &args.remote, params, args.limit).await?,
        next_cursor: None,
    };
    let out = match args.format {
        ListFormat::Json => serde_json::to_string_pretty(&all).map_err(CliError::failed)? + "\n",
        ListFormat::Csv => {
            let mut out = String::from("name,version,ecosystem,purl,reference,digest,path,layer\n");
            for i in &all.items {
                for a in &i.artifacts {
                    for l in &a.locations {
                        csv_row(
                            &mut out,
                            &[
                                &i.name,
                                &i.version,
                                &i.ecosystem,
                                &i.purl,
                                &a.artifact.reference,
                                &a.artifact.digest,
                                &l.path,
                                l.layer.as_deref().unwrap_or(""),
                            ],
                        );
                    }
                }
            }
            out
        }
        ListFormat::Table => {
            let mut rows = Vec::new();
            for i in &all.items {
                for a in &i.artifacts {
                    rows.push(vec![
                        i.name.clone(),
                        i.version.clone(),
                        i.ecosystem.clone(),
                        a.artifact.reference.clone(),
                        a.locations
                            .iter()
                            .map(|l| l.path.clone())
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]);
                }
            }
            if rows.is_empty() {
                format!("no stored artifact holds {} now\n", args.package)
            } else {
                table(&["PACKAGE", "VERSION", "ECOSYSTEM", "ARTIFACT", "PATH"], &rows)
            }
        }
    };
    print!("{out}");
    Ok(ExitStatus::Ok)
}

/// Control characters (terminal escapes, bidi overrides) from stored values are shown, not
/// obeyed.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control()
                || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            {
                format!("<U+{:04X}>", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| clean(c)).collect()).collect();
    let mut w: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (wi, c) in w.iter_mut().zip(r) {
            *wi = (*wi).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: Vec<&str>| {
        let n = cells.len();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 == n {
                let _ = writeln!(out, "{c}");
            } else {
                let _ = write!(out, "{c:<width$}  ", width = w[i]);
            }
        }
    };
    line(&mut out, headers.to_vec());
    for r in &rows {
        line(&mut out, r.iter().map(String::as_str).collect());
    }
    out
}

/// One CSV record (RFC 4180 quoting).
fn csv_row(out: &mut String, fields: &[&str]) {
    let cells: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                (*f).to_owned()
            }
        })
        .collect();
    out.push_str(&cells.join(","));
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_arguments_split_at_the_version() {
        assert_eq!(split_package("openssl"), ("openssl".into(), None));
        assert_eq!(split_package("log4j@2.1*"), ("log4j".into(), Some("2.1*".into())));
        assert_eq!(split_package("@babel/core"), ("@babel/core".into(), None));
        assert_eq!(
            split_package("@babel/core@>=7,<8"),
            ("@babel/core".into(), Some(">=7,<8".into()))
        );
    }

    #[test]
    fn csv_quotes_and_tables_show_controls() {
        let mut s = String::new();
        csv_row(&mut s, &["a,b", "say \"hi\"", "x"]);
        assert_eq!(s, "\"a,b\",\"say \"\"hi\"\"\",x\n");
        let t = table(&["A", "B"], &[vec!["x\u{1b}[31m".into(), "\u{202e}y".into()]]);
        assert!(t.contains("x<U+001B>[31m") && t.contains("<U+202E>y"), "{t}");
    }
}
