//! A small client for the regscan HTTP API, used by `--server`.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use serde::de::DeserializeOwned;

use super::CliError;
use crate::report::Report;

/// `--server URL [--token TOKEN]`, shared by the commands that can ask a running regscan.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Ask the regscan server at URL (its HTTP API) instead of using the local database.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// API token for --server (default: REGSCAN_API_TOKEN).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "REGSCAN_API_TOKEN",
        hide_env_values = true,
        requires = "server"
    )]
    pub token: Option<String>,
}

/// The API of a running regscan.
pub(super) struct ApiClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl ApiClient {
    pub(super) fn new(server: &str, token: Option<String>) -> Result<Self, CliError> {
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(CliError::usage(anyhow!(
                "--server {server:?} must be an http:// or https:// URL"
            )));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("regscan-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(CliError::failed)?;
        Ok(ApiClient {
            base: server.trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.is_empty()),
            http,
        })
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<Option<T>, CliError> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req
            .send()
            .await
            .map_err(|e| CliError::failed(anyhow!("cannot reach {}: {e}", self.base)))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = resp.bytes().await.map_err(CliError::failed)?;
        if !status.is_success() {
            let msg = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned());
            let err = anyhow!("{} answered HTTP {status}: {msg}", self.base);
            return Err(match status.as_u16() {
                400 | 401 | 403 | 422 => CliError::usage(err),
                _ => CliError::failed(err),
            });
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| CliError::failed(anyhow!("unexpected answer from {}: {e}", self.base)))
    }

    /// `POST /v1/scans`.
    pub(super) async fn request_scan(&self, reference: &str, force: bool) -> Result<Report, CliError> {
        let req = self
            .http
            .post(format!("{}/v1/scans", self.base))
            .json(&serde_json::json!({"reference": reference, "force": force}));
        self.send(req)
            .await?
            .ok_or_else(|| CliError::failed(anyhow!("{} has no /v1/scans endpoint", self.base)))
    }

    /// `GET /v1/artifacts/{registry}/{repository}@{digest}` (or `:{tag}`).
    pub(super) async fn artifact(
        &self,
        registry: &str,
        repository: &str,
        at: &str,
    ) -> Result<Option<Report>, CliError> {
        Ok(self
            .artifact_and_latest_scan(registry, repository, at)
            .await?
            .map(|(r, _, _)| r))
    }

    /// [`ApiClient::artifact`] with the id of its latest scan (from the scan history).
    pub(super) async fn artifact_and_latest_scan(
        &self,
        registry: &str,
        repository: &str,
        at: &str,
    ) -> Result<Option<(Report, Option<i64>, bool)>, CliError> {
        let v: Option<serde_json::Value> = self
            .send(
                self.http
                    .get(format!("{}/v1/artifacts/{registry}/{repository}{at}", self.base)),
            )
            .await?;
        let Some(v) = v else { return Ok(None) };
        // The newest scan (it may still be running while the report shows the previous result).
        let latest = v["history"][0]["id"].as_i64();
        let latest_done = v["history"][0]["status"]
            .as_str()
            .and_then(|s| s.parse::<regscan_scanner_api::Status>().ok())
            .is_none_or(|s| s.is_terminal());
        let report = serde_json::from_value(v)
            .map_err(|e| CliError::failed(anyhow!("unexpected answer from {}: {e}", self.base)))?;
        Ok(Some((report, latest, latest_done)))
    }

    /// `GET /v1/artifacts/{registry}/{repository}@{digest}?format=cyclonedx`.
    pub(super) async fn cyclonedx(&self, registry: &str, repository: &str, at: &str) -> Result<String, CliError> {
        let req = self.http.get(format!(
            "{}/v1/artifacts/{registry}/{repository}{at}?format=cyclonedx",
            self.base
        ));
        let v: Option<serde_json::Value> = self.send(req).await?;
        let v = v.ok_or_else(|| CliError::failed(anyhow!("{registry}/{repository}{at} is not on {}", self.base)))?;
        serde_json::to_string_pretty(&v).map_err(CliError::failed)
    }

    /// `GET {path}?…` decoded as `T`.
    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Result<T, CliError> {
        let req = self.http.get(format!("{}{path}", self.base)).query(query);
        self.send(req)
            .await?
            .ok_or_else(|| CliError::failed(anyhow!("{} has no {path} endpoint", self.base)))
    }

    /// `GET /v1/artifacts?…`.
    pub(super) async fn list(&self, query: &[(&str, String)]) -> Result<serde_json::Value, CliError> {
        let req = self.http.get(format!("{}/v1/artifacts", self.base)).query(query);
        Ok(self.send(req).await?.unwrap_or(serde_json::Value::Null))
    }

    /// Poll until the scan behind `queued` (and every child of an index) has ended; with
    /// `previous` (the latest scan id stored before a forced rescan), until a newer scan has ended.
    pub(super) async fn wait_for(
        &self,
        queued: &Report,
        previous: Option<i64>,
        timeout: Duration,
    ) -> Result<Report, CliError> {
        let progress = super::scan::Progress::new();
        let started = Instant::now();
        let at = if queued.digest.is_empty() {
            format!(":{}", queued.tag.clone().unwrap_or_else(|| "latest".into()))
        } else {
            format!("@{}", queued.digest)
        };
        let spinner = ['|', '/', '-', '\\'];
        let mut i = 0;
        loop {
            if let Some((r, latest, latest_done)) = self
                .artifact_and_latest_scan(&queued.registry, &queued.repository, &at)
                .await?
            {
                let done = |r: &Report| r.status.is_terminal();
                let children_done = r.children.iter().all(done) && (r.kind != "index" || !r.children.is_empty());
                let newer = previous.is_none() || latest != previous;
                if done(&r) && latest_done && children_done && newer {
                    progress.done();
                    return Ok(r);
                }
                progress.say(&format!(
                    "{} {} {} ({}s)",
                    spinner[i % 4],
                    r.reference,
                    r.status,
                    started.elapsed().as_secs()
                ));
            } else {
                progress.say(&format!(
                    "{} {} queued ({}s)",
                    spinner[i % 4],
                    queued.reference,
                    started.elapsed().as_secs()
                ));
            }
            i += 1;
            if started.elapsed() > timeout {
                progress.done();
                return Err(CliError::failed(anyhow!(
                    "{} did not finish within {}s",
                    queued.reference,
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
