//! `regscan status` and `regscan artifacts`: read what is stored, locally or from a server.

use std::sync::Arc;

use anyhow::anyhow;
use regscan_scanner_api::{ArtifactRef, Kind, Severity, Status};

use super::{client::ApiClient, open_store, CliError, CliResult, ExitStatus, Format};
use crate::config::Config;
use crate::registry::Reference;
use crate::report::{ArtifactItem, Report};
use crate::store::ArtifactFilter;

/// Arguments of `regscan status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The artifact: host[:port]/repository[:tag|@digest].
    #[arg(value_name = "REF")]
    pub reference: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Where to ask: the local database, or a server.
    #[command(flatten)]
    pub remote: super::client::ServerArgs,
}

/// Arguments of `regscan artifacts`.
#[derive(Debug, clap::Args)]
pub struct ArtifactsArgs {
    /// Only this registry host.
    #[arg(long)]
    pub registry: Option<String>,
    /// Only repositories starting with this prefix.
    #[arg(long)]
    pub repository: Option<String>,
    /// Only this kind (image, helm, opa, index, signature, sbom, unknown, …).
    #[arg(long)]
    pub kind: Option<String>,
    /// Only this status (queued, running, succeeded, failed, unsupported).
    #[arg(long, value_parser = |s: &str| s.parse::<Status>())]
    pub status: Option<Status>,
    /// Only artifacts with a finding at or above this severity.
    #[arg(long, value_parser = super::scan::parse_severity)]
    pub min_severity: Option<Severity>,
    /// Include children of multi-platform indexes as rows of their own.
    #[arg(long)]
    pub children: bool,
    /// Include artifacts deleted from their registry.
    #[arg(long)]
    pub deleted: bool,
    /// Only artifacts a signature refers to (true) or none does (false).
    #[arg(long, value_name = "BOOL")]
    pub signed: Option<bool>,
    /// Only artifacts an SBOM refers to (true) or none does (false).
    #[arg(long, value_name = "BOOL")]
    pub has_sbom: Option<bool>,
    /// At most this many rows.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Where to ask: the local database, or a server.
    #[command(flatten)]
    pub remote: super::client::ServerArgs,
}

/// Run `regscan status`.
pub async fn status(config: Arc<Config>, args: StatusArgs) -> CliResult {
    let r = Reference::parse(&args.reference).map_err(CliError::usage)?;
    let at = match (&r.digest, &r.tag) {
        (Some(d), _) => format!("@{d}"),
        (None, Some(t)) => format!(":{t}"),
        (None, None) => ":latest".into(),
    };
    let report = match &args.remote.server {
        Some(server) => {
            ApiClient::new(server, args.remote.token.clone())?
                .artifact(&r.registry, &r.repository, &at)
                .await?
        }
        None => {
            let store = open_store(&config).await?;
            let registry = config
                .registry(&r.registry)
                .map_or(r.registry.clone(), |c| c.host.clone());
            let digest = match &r.digest {
                Some(d) => Some(d.clone()),
                None => store
                    .resolve_tag(&registry, &r.repository, r.tag.as_deref().unwrap_or("latest"))
                    .await
                    .map_err(CliError::failed)?,
            };
            let report = match digest {
                Some(d) => Report::load(&store, &ArtifactRef::new(registry, &r.repository, d), r.tag.as_deref())
                    .await
                    .map_err(CliError::failed)?,
                None => None,
            };
            store.close().await;
            report
        }
    };
    let Some(report) = report else {
        return Err(CliError::failed(anyhow!(
            "{r} is not in the results database (push it to a registry regscan watches, or run `regscan scan {r}`)"
        )));
    };
    let inventory = match (args.format, &args.remote.server) {
        (Format::Cyclonedx, Some(server)) => {
            let api = ApiClient::new(server, args.remote.token.clone())?;
            println!(
                "{}",
                api.cyclonedx(&report.registry, &report.repository, &format!("@{}", report.digest))
                    .await?
            );
            return Ok(ExitStatus::Ok);
        }
        (Format::Cyclonedx, None) => super::inventory_of(&config, &report).await?,
        _ => Vec::new(),
    };
    super::print_report(&report, args.format, &inventory)?;
    Ok(ExitStatus::Ok)
}

/// Run `regscan artifacts`.
pub async fn artifacts(config: Arc<Config>, args: ArtifactsArgs) -> CliResult {
    let items: Vec<ArtifactItem> = match &args.remote.server {
        Some(server) => {
            let mut q: Vec<(&str, String)> = vec![("limit", args.limit.to_string())];
            for (k, v) in [
                ("registry", &args.registry),
                ("repository", &args.repository),
                ("kind", &args.kind),
            ] {
                if let Some(v) = v {
                    q.push((k, v.clone()));
                }
            }
            if let Some(s) = args.status {
                q.push(("status", s.to_string()));
            }
            if let Some(s) = args.min_severity {
                q.push(("min_severity", s.to_string()));
            }
            if args.children {
                q.push(("children", "true".into()));
            }
            if args.deleted {
                q.push(("deleted", "true".into()));
            }
            if let Some(b) = args.signed {
                q.push(("signed", b.to_string()));
            }
            if let Some(b) = args.has_sbom {
                q.push(("has_sbom", b.to_string()));
            }
            let v = ApiClient::new(server, args.remote.token.clone())?.list(&q).await?;
            serde_json::from_value(v.get("items").cloned().unwrap_or_default())
                .map_err(|e| CliError::failed(anyhow!("unexpected answer: {e}")))?
        }
        None => {
            let store = open_store(&config).await?;
            let filter = ArtifactFilter {
                registry: args.registry.clone(),
                repository: args.repository.clone(),
                kind: args.kind.as_deref().map(Kind::new),
                status: args.status,
                min_severity: args.min_severity,
                include_children: args.children,
                include_deleted: args.deleted,
                limit: Some(args.limit),
                signed: args.signed,
                has_sbom: args.has_sbom,
                ..Default::default()
            };
            let rows = store.list_artifacts(&filter).await.map_err(CliError::failed)?;
            let mut items = Vec::with_capacity(rows.len());
            for r in rows {
                let tags = store
                    .tags_of(&r.artifact.artifact_ref())
                    .await
                    .map_err(CliError::failed)?;
                items.push(ArtifactItem::new(&r, tags));
            }
            store.close().await;
            items
        }
    };
    match args.format {
        Format::Json | Format::Sarif | Format::Cyclonedx => {
            println!("{}", serde_json::to_string_pretty(&items).map_err(CliError::failed)?)
        }
        Format::Table => print!("{}", crate::report::artifacts_table(&items, super::stdout_is_tty())),
    }
    Ok(ExitStatus::Ok)
}
