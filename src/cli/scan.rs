//! `regscan scan REF`: scan now, locally (fetch → resolve → scanner → store) or through a
//! running server (`--server`), and print the report.

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use regscan_scanner_api::{ArtifactRef, Severity};

use super::{client::ApiClient, open_store, CliError, CliResult, ExitStatus, Format};
use crate::config::{Config, RegistryConfig};
use crate::queue::Job;
use crate::registry::Reference;
use crate::report::Report;
use crate::scan::{Pipeline, PipelineError};

/// Arguments of `regscan scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// What to scan: host[:port]/repository[:tag|@digest] (tag defaults to latest).
    #[arg(value_name = "REF")]
    pub reference: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Exit 1 when there is a finding at or above this severity
    /// (critical, high, medium, low, negligible, unknown).
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// Exit 4 when the artifact (or a child of an index) has a type no scanner handles.
    #[arg(long)]
    pub fail_on_unsupported: bool,
    /// Scan again even if this digest was already scanned by the same scanner version.
    #[arg(long)]
    pub force: bool,
    /// Use plain HTTP for a registry that is not in the config (loopback registries such as
    /// 127.0.0.1:5000 use plain HTTP unless configured otherwise).
    #[arg(long)]
    pub insecure: bool,
    /// Where to ask: the local database, or a server.
    #[command(flatten)]
    pub remote: super::client::ServerArgs,
    /// With --server: wait until the scan has finished, showing progress, then print the report.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    pub wait_timeout: u64,
}

pub(super) fn parse_severity(s: &str) -> Result<Severity, regscan_scanner_api::UnknownValue> {
    s.parse()
}

/// Run `regscan scan`.
pub async fn run(config: Arc<Config>, args: ScanArgs) -> CliResult {
    let reference = Reference::parse(&args.reference).map_err(CliError::usage)?;
    let report = match &args.remote.server {
        Some(server) => {
            let api = ApiClient::new(server, args.remote.token.clone())?;
            // A forced rescan of a stored artifact: wait for a newer scan than the stored one.
            let previous = match (args.wait && args.force, &reference.digest, &reference.tag) {
                (true, Some(d), _) => api
                    .artifact_and_latest_scan(&reference.registry, &reference.repository, &format!("@{d}"))
                    .await?
                    .and_then(|(_, id, _)| id),
                (true, None, t) => api
                    .artifact_and_latest_scan(
                        &reference.registry,
                        &reference.repository,
                        &format!(":{}", t.as_deref().unwrap_or("latest")),
                    )
                    .await?
                    .and_then(|(_, id, _)| id),
                _ => None,
            };
            let queued = api.request_scan(&args.reference, args.force).await?;
            if !args.wait {
                return super::print_report(&queued, args.format, &[]).map(|()| ExitStatus::Ok);
            }
            let report = api
                .wait_for(&queued, previous, Duration::from_secs(args.wait_timeout))
                .await?;
            if args.format == Format::Cyclonedx {
                println!(
                    "{}",
                    api.cyclonedx(&report.registry, &report.repository, &format!("@{}", report.digest))
                        .await?
                );
                return Ok(exit_status(&report, &args));
            }
            report
        }
        None => scan_locally(config.clone(), &reference, &args).await?,
    };
    let inventory = match (args.format, &args.remote.server) {
        (Format::Cyclonedx, None) => super::inventory_of(&config, &report).await?,
        _ => Vec::new(),
    };
    super::print_report(&report, args.format, &inventory)?;
    Ok(exit_status(&report, &args))
}

/// The exit status a finished report maps to (SPEC.md's contract for `scan`).
pub fn exit_status(report: &Report, args: &ScanArgs) -> ExitStatus {
    if report.any_failed() {
        return ExitStatus::Failed;
    }
    if args.fail_on_unsupported && report.any_unsupported() {
        return ExitStatus::Unsupported;
    }
    if let (Some(threshold), Some(max)) = (args.fail_on, report.max_severity()) {
        if max >= threshold {
            return ExitStatus::Findings;
        }
    }
    ExitStatus::Ok
}

async fn scan_locally(config: Arc<Config>, reference: &Reference, args: &ScanArgs) -> Result<Report, CliError> {
    let mut config = (*config).clone();
    if config.registry(&reference.registry).is_none() {
        // Named on the command line by the operator: allowed for this run. Webhooks never add
        // registries; only the config file does.
        let insecure = args.insecure || is_loopback(&reference.registry);
        eprintln!(
            "regscan: note: {} is not in the config; scanning it because it was named on the command line ({})",
            reference.registry,
            if insecure { "plain HTTP" } else { "HTTPS" }
        );
        config.registries.push(RegistryConfig {
            host: reference.registry.clone(),
            insecure,
            ..Default::default()
        });
    }
    let config = Arc::new(config);
    let store = open_store(&config).await?;
    let pipeline = Pipeline::new(config, store.clone()).await.map_err(CliError::usage)?;
    let progress = Progress::new();
    let job = Job {
        id: format!("cli-{}", rand::random::<u64>()),
        registry: reference.registry.clone(),
        repository: reference.repository.clone(),
        reference: reference.manifest_reference().to_owned(),
        tag: reference.tag.clone(),
        source: "cli".into(),
        force: args.force,
        attempt: 0,
    };
    progress.say(&format!("scanning {reference}"));
    let outcome = run_with_busy_retry(&pipeline, &job)
        .await
        .map_err(|e| CliError::failed(anyhow!(e)))?;
    let total = outcome.children.len();
    for (i, child) in outcome.children.iter().enumerate() {
        progress.say(&format!("scanning platform {}/{total}: {}", i + 1, child.reference));
        if let Err(e) = run_with_busy_retry(&pipeline, child).await {
            pipeline
                .record_failure(child, &e.to_string())
                .await
                .map_err(CliError::failed)?;
        }
    }
    progress.done();
    let registry = pipeline
        .client()
        .canonical_host(&reference.registry)
        .map_err(CliError::usage)?;
    let report = Report::load(
        &store,
        &ArtifactRef::new(registry, &reference.repository, outcome.digest.clone()),
        reference.tag.as_deref(),
    )
    .await
    .map_err(CliError::failed)?
    .ok_or_else(|| CliError::failed(anyhow!("the scan of {reference} left no stored result")))?;
    store.close().await;
    Ok(report)
}

async fn run_with_busy_retry(pipeline: &Pipeline, job: &Job) -> Result<crate::scan::JobOutcome, PipelineError> {
    let worker = format!("cli-{}", std::process::id());
    let mut waited = Duration::ZERO;
    loop {
        match pipeline.run_job(job, &worker).await {
            Err(PipelineError::Busy(_)) if waited < Duration::from_secs(600) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                waited += Duration::from_millis(500);
            }
            other => return other,
        }
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.rsplit_once(':').map_or(
        host,
        |(h, p)| if p.chars().all(|c| c.is_ascii_digit()) { h } else { host },
    );
    let h = h.trim_start_matches('[').trim_end_matches(']');
    h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Progress lines on stderr, only when it is a terminal.
pub(super) struct Progress {
    tty: bool,
}

impl Progress {
    pub(super) fn new() -> Self {
        use std::io::IsTerminal;
        Progress {
            tty: std::io::stderr().is_terminal(),
        }
    }
    pub(super) fn say(&self, msg: &str) {
        if self.tty {
            eprint!("\r\x1b[2K{msg}…");
        }
    }
    pub(super) fn done(&self) {
        if self.tty {
            eprint!("\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example.com"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }
}
