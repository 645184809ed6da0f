//! `regscan types`, `regscan migrate` and `regscan advisories …`.

use std::sync::Arc;

use super::{open_store, CliError, CliResult, ExitStatus, Format};
use crate::config::Config;
use crate::scan::advisories::{import_source_and_rematch, AdvisoryDb};

/// Arguments of `regscan types`.
#[derive(Debug, clap::Args)]
pub struct TypesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `regscan advisories …`.
#[derive(Debug, clap::Subcommand)]
pub enum AdvisoriesCommand {
    /// Load OSV advisories from a directory of JSON files, an OSV `all.zip`, a JSON file, or an
    /// http(s) URL to one; newer `modified` replaces older, unchanged records are left alone
    /// (and not even read when osv.dev's `modified_id.csv` is beside the export or in the
    /// zip). Records are streamed, 1,000 per transaction. Stored artifacts affected by the
    /// change are re-matched from their stored inventory (no blob is fetched).
    Import {
        /// Directory, .zip, .json file or http(s) URL.
        #[arg(value_name = "SRC")]
        source: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Show what advisories are loaded, per ecosystem, and how fresh they are.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// Run `regscan types`.
pub async fn types(config: Arc<Config>, args: TypesArgs) -> CliResult {
    let scanners = crate::scanners::registered(&config).map_err(CliError::usage)?;
    let table = crate::scanners::type_table(&scanners, &config).map_err(CliError::usage)?;
    let entries: Vec<_> = table.entries().collect();
    match args.format {
        Format::Json | Format::Sarif | Format::Cyclonedx => {
            println!("{}", serde_json::to_string_pretty(&entries).map_err(CliError::failed)?)
        }
        Format::Table => {
            let w = entries.iter().map(|e| e.media_type.len()).max().unwrap_or(10);
            let k = entries.iter().map(|e| e.kind.as_str().len()).max().unwrap_or(4).max(4);
            println!("{:<w$}  {:<k$}  {:<11}  TITLE", "MEDIA TYPE", "KIND", "SCANNER");
            for e in entries {
                println!(
                    "{:<w$}  {:<k$}  {:<11}  {}",
                    e.media_type,
                    e.kind.as_str(),
                    e.scanner.as_deref().unwrap_or("unsupported"),
                    e.title
                );
            }
        }
    }
    Ok(ExitStatus::Ok)
}

/// Run `regscan migrate`.
pub async fn migrate(config: Arc<Config>) -> CliResult {
    let store = open_store(&config).await?;
    store.close().await;
    eprintln!(
        "regscan: database {} is migrated",
        crate::config::redact_url(&config.database_url)
    );
    Ok(ExitStatus::Ok)
}

/// Run `regscan advisories …`.
pub async fn advisories(config: Arc<Config>, cmd: AdvisoriesCommand) -> CliResult {
    let store = open_store(&config).await?;
    match cmd {
        AdvisoriesCommand::Import { source, format } => {
            let progress = super::scan::Progress::new();
            progress.say(&format!(
                "importing {source} (streamed, 1,000 records per transaction) and re-matching affected artifacts"
            ));
            let db = AdvisoryDb::default();
            let (stats, rescans) = import_source_and_rematch(&store, &db, &source)
                .await
                .map_err(CliError::failed)?;
            progress.done();
            match format {
                Format::Table => println!(
                    "imported {} records from {source}: {} new, {} updated, {} unchanged ({} not read: {}), {} unreadable; snapshot {}; {} artifact(s) re-matched",
                    stats.records, stats.added, stats.updated, stats.skipped, stats.unread,
                    crate::scan::advisories::import::MODIFIED_ID_CSV, stats.invalid, stats.snapshot, rescans.len()
                ),
                _ => println!(
                    "{}",
                    serde_json::json!({"source": source, "records": stats.records, "added": stats.added, "updated": stats.updated,
                        "unchanged": stats.skipped, "unread": stats.unread, "invalid": stats.invalid,
                        "snapshot": stats.snapshot, "rematched_scans": rescans})
                ),
            }
        }
        AdvisoriesCommand::Status { format } => {
            let st = store.advisory_status().await.map_err(CliError::failed)?;
            match format {
                Format::Table => {
                    println!("{} advisories loaded", st.total);
                    match &st.last_import {
                        Some((src, at, snap)) => println!(
                            "last import: {} from {src} (snapshot {snap})",
                            crate::report::rfc3339(*at)
                        ),
                        None => println!("no import yet: run `regscan advisories import SRC`"),
                    }
                    if let Some(m) = &st.newest_modified {
                        println!("newest record modified: {m}");
                    }
                    for (eco, n) in &st.ecosystems {
                        println!("  {eco:<24} {n}");
                    }
                }
                _ => println!("{}", serde_json::to_string_pretty(&st).map_err(CliError::failed)?),
            }
        }
    }
    store.close().await;
    Ok(ExitStatus::Ok)
}
