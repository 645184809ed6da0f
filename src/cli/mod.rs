//! The `regscan` command line: one binary for the service (`serve`, `worker`) and for people
//! (`scan`, `status`, `artifacts`, `vulns`, `packages`, `types`, `migrate`, `advisories`).
//!
//! Exit codes are a contract (see [`ExitStatus`]); every command has `--help`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;

mod admin;
mod client;
mod incidents;
mod query;
mod scan;
mod serve;
mod worker;

/// regscan: a security scanning dispatcher for OCI registries.
///
/// Registries send push webhooks; regscan queues each push, fetches the manifest, resolves the
/// artifact's type, routes it to a scanner (container image, Helm chart, OPA bundle) or records
/// it as an explicitly unsupported type, and stores the results.
#[derive(Debug, Parser)]
#[command(name = "regscan", version, about, long_about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./regscan.toml when present. Environment variables
    /// (REGSCAN_DATABASE_URL, REGSCAN_QUEUE_URL, REGSCAN_LISTEN, REGSCAN_WEBHOOK_TOKEN,
    /// REGSCAN_API_TOKEN, REGSCAN_LOG, REGSCAN_LOG_FORMAT) override it.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the webhook receiver, query API and workers in one process (the embedded default:
    /// SQLite + a queue table, no other service needed).
    Serve(serve::ServeArgs),
    /// Run queue consumers only (scale these out on RabbitMQ + PostgreSQL).
    Worker(worker::WorkerArgs),
    /// Scan one artifact now and print its report.
    Scan(scan::ScanArgs),
    /// Show the stored status and findings of an artifact.
    Status(query::StatusArgs),
    /// List stored artifacts, with filters.
    Artifacts(query::ArtifactsArgs),
    /// Which stored artifacts an advisory affects now (aliases resolved), with installed and
    /// fixed versions.
    Vulns(incidents::VulnsArgs),
    /// Where a package is installed: stored artifacts whose newest inventory holds it.
    Packages(incidents::PackagesArgs),
    /// Print the artifact type table: media type -> kind -> scanner.
    Types(admin::TypesArgs),
    /// Apply database migrations (serve and worker also do this on start).
    Migrate,
    /// Manage vulnerability advisories (OSV).
    #[command(subcommand)]
    Advisories(admin::AdvisoriesCommand),
    /// Internal: the sandboxed child process one scan runs in (started by regscan itself).
    #[command(name = "__sandbox-child", hide = true)]
    SandboxChild(crate::sandbox::child::ChildArgs),
}

/// Output format of commands that print results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Human-readable table.
    #[default]
    Table,
    /// JSON, as in SPEC.md.
    Json,
    /// SARIF 2.1.0, for code-scanning tools (scan and status).
    Sarif,
    /// The package inventory as a CycloneDX 1.5 SBOM (scan and status).
    Cyclonedx,
}

/// Exit codes of `regscan` (the `scan` contract from SPEC.md; other commands use 0, 2 and 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Success.
    Ok = 0,
    /// Findings at or above `--fail-on`.
    Findings = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// The scan could not be done (registry, network, bad artifact), or the thing asked for
    /// does not exist.
    Failed = 3,
    /// The artifact type is unsupported (with `--fail-on-unsupported`).
    Unsupported = 4,
}

/// An error with the exit status it maps to.
#[derive(Debug)]
pub struct CliError {
    /// Exit status.
    pub status: ExitStatus,
    /// Message for stderr.
    pub error: anyhow::Error,
}

impl CliError {
    fn usage(e: impl Into<anyhow::Error>) -> Self {
        CliError {
            status: ExitStatus::Usage,
            error: e.into(),
        }
    }
    fn failed(e: impl Into<anyhow::Error>) -> Self {
        CliError {
            status: ExitStatus::Failed,
            error: e.into(),
        }
    }
}

/// Result of a command.
pub type CliResult = Result<ExitStatus, CliError>;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::SandboxChild(args) = cli.command {
        // Before any runtime or thread exists: the child confines itself first.
        return crate::sandbox::child::main(args);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("regscan: cannot start the async runtime: {e}");
            return ExitCode::from(ExitStatus::Failed as u8);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(status) => ExitCode::from(status as u8),
        Err(e) => {
            eprintln!("regscan: {:#}", e.error);
            ExitCode::from(e.status as u8)
        }
    }
}

/// Run a parsed command line.
pub async fn run(cli: Cli) -> CliResult {
    let config = Config::load(cli.config.as_deref()).map_err(CliError::usage)?;
    let mut log = config.log.clone();
    let service = matches!(cli.command, Command::Serve(_) | Command::Worker(_));
    if !service && std::env::var_os("REGSCAN_LOG").is_none() && log.filter == crate::config::LogConfig::default().filter
    {
        // One-shot commands print their result on stdout; keep stderr to warnings unless asked.
        log.filter = "warn".into();
    }
    crate::telemetry::init_logging(&log);
    let config = Arc::new(config);
    match cli.command {
        Command::Serve(args) => serve::run(config, args)
            .await
            .map(|()| ExitStatus::Ok)
            .map_err(CliError::failed),
        Command::Worker(args) => worker::run(config, args)
            .await
            .map(|()| ExitStatus::Ok)
            .map_err(CliError::failed),
        Command::Scan(args) => scan::run(config, args).await,
        Command::Status(args) => query::status(config, args).await,
        Command::Artifacts(args) => query::artifacts(config, args).await,
        Command::Vulns(args) => incidents::vulns(config, args).await,
        Command::Packages(args) => incidents::packages(config, args).await,
        Command::Types(args) => admin::types(config, args).await,
        Command::Migrate => admin::migrate(config).await,
        Command::Advisories(cmd) => admin::advisories(config, cmd).await,
        Command::SandboxChild(_) => Err(CliError::usage(anyhow::anyhow!(
            "__sandbox-child is started by regscan itself, before the runtime"
        ))),
    }
}

/// Open the store named by the configuration.
async fn open_store(config: &Config) -> Result<crate::store::Store, CliError> {
    crate::store::Store::open(&config.database_url)
        .await
        .map_err(|e| CliError::failed(anyhow::anyhow!(e).context("opening the database")))
}

/// Print a report in `format`. `inventory` is the package inventory, needed for CycloneDX only.
fn print_report(
    report: &crate::report::Report,
    format: Format,
    inventory: &[regscan_scanner_api::Package],
) -> Result<(), CliError> {
    let out = match format {
        Format::Table => report.to_table(stdout_is_tty()),
        Format::Json => serde_json::to_string_pretty(report).map_err(CliError::failed)? + "\n",
        Format::Sarif => {
            serde_json::to_string_pretty(&crate::report::sarif::to_sarif(report)).map_err(CliError::failed)? + "\n"
        }
        Format::Cyclonedx => {
            serde_json::to_string_pretty(&crate::http::api::formats::cyclonedx_json(report, inventory))
                .map_err(CliError::failed)?
                + "\n"
        }
    };
    print!("{out}");
    Ok(())
}

/// The stored package inventory behind a report (an index: its children's together).
async fn inventory_of(
    config: &Config,
    report: &crate::report::Report,
) -> Result<Vec<regscan_scanner_api::Package>, CliError> {
    let store = open_store(config).await?;
    let packages = crate::report::inventory(&store, report).await.map_err(CliError::failed);
    store.close().await;
    packages
}

/// Whether stdout is a terminal (colour only there).
fn stdout_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
