//! regscan scanner that hands artifacts to a program of the user's own, in any language
//! (`[[scanners.external]]`, SPEC.md "External scanner plugins").
//!
//! For each artifact the [`ExternalScanner`]:
//! 1. writes the manifest and its blobs (config and layers, streamed through
//!    [`ScanContext::blobs`], so digests are verified and sizes bounded) as a read-only OCI image
//!    layout in a private temporary directory under [`std::env::temp_dir`] ([`layout`]);
//! 2. runs the configured command with `REGSCAN_ARTIFACT_DIR` pointing at that layout and a JSON
//!    description of the artifact on stdin, in its own process group, with a cleared environment,
//!    bounded stdout, the last 2 KiB of stderr kept, and killed when `timeout_secs` passes
//!    ([`run`]);
//! 3. parses the one JSON object the plugin prints (`findings`, optional `packages` and
//!    `details`) strictly ([`output`]).
//!
//! A plugin that exits non-zero, prints anything but that JSON, or uses an unknown severity fails
//! the scan (not retried: the same bytes would do the same), with its stderr tail in the reason.
//! The scanner builds no sandbox of its own: it runs inside regscan's scan sandbox, and the
//! plugin inherits it.

pub mod layout;
pub mod output;
pub mod run;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use regscan_scanner_api::{Limits, ScanContext, ScanError, ScanOutput, Scanner, TypeEntry};
use serde::{Deserialize, Serialize};

/// Default `timeout_secs`: four minutes, below the scan sandbox's default wall clock (five), so
/// that a plugin that hangs is stopped by its own timeout, with a reason naming it.
pub const DEFAULT_TIMEOUT_SECS: u64 = 240;
/// Default `max_output_bytes`: 16 MiB of stdout.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 16 << 20;
/// Default `max_blob_bytes`: 256 MiB per blob.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 256 << 20;
/// Default `max_artifact_bytes`: 1 GiB for all blobs of one artifact together.
pub const DEFAULT_MAX_ARTIFACT_BYTES: u64 = 1 << 30;
/// How much of the plugin's stderr is kept for the failure reason: the last 2 KiB.
pub const STDERR_TAIL_BYTES: usize = 2048;

/// One `[[scanners.external]]` entry: a program regscan routes artifact types to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalConfig {
    /// Scanner name in reports (`wasm-audit`). Required; letters, digits, `.`, `_` and `-`; must
    /// not be the name of a built-in scanner or of another external one.
    pub name: String,
    /// Version of the plugin's analysis. Required. A digest already scanned by this name and
    /// version is not scanned again; bump it to rescan.
    pub version: String,
    /// Program and arguments, run without a shell (`["/opt/regscan/plugins/wasm-audit",
    /// "--strict"]`). Required, non-empty. A relative program name is looked up on `PATH`.
    pub command: Vec<String>,
    /// The artifact types (`artifactType`, else config media type) routed to this plugin.
    /// Required, non-empty. Each may be claimed by one scanner only.
    pub accepts: Vec<String>,
    /// Kind recorded for those artifacts (`wasm`). Required.
    pub kind: String,
    /// Title of those types in `regscan types`. Default: "`<kind>` artifact (external scanner
    /// `<name>`)".
    #[serde(default)]
    pub title: Option<String>,
    /// Wall-clock seconds the plugin may run before it and every process it started are killed
    /// and the scan fails. Must be below the sandbox's `wall_secs`. Default 240.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Most bytes read from the plugin's stdout; more fails the scan. Default 16 MiB.
    #[serde(default = "default_max_output_bytes")]
    pub max_output_bytes: u64,
    /// Largest blob written into the layout. Default 256 MiB.
    #[serde(default = "default_max_blob_bytes")]
    pub max_blob_bytes: u64,
    /// Most bytes of all blobs of one artifact together. Default 1 GiB.
    #[serde(default = "default_max_artifact_bytes")]
    pub max_artifact_bytes: u64,
    /// Extra environment variables for the plugin. Default none. The plugin's environment is
    /// otherwise cleared except `PATH`, `HOME`, `LANG`, `LC_ALL` and `TZ`; `TMPDIR` is a private
    /// scratch directory removed after the scan.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

fn default_timeout_secs() -> u64 {
    DEFAULT_TIMEOUT_SECS
}
fn default_max_output_bytes() -> u64 {
    DEFAULT_MAX_OUTPUT_BYTES
}
fn default_max_blob_bytes() -> u64 {
    DEFAULT_MAX_BLOB_BYTES
}
fn default_max_artifact_bytes() -> u64 {
    DEFAULT_MAX_ARTIFACT_BYTES
}

impl Default for ExternalConfig {
    fn default() -> Self {
        ExternalConfig {
            name: String::new(),
            version: String::new(),
            command: Vec::new(),
            accepts: Vec::new(),
            kind: String::new(),
            title: None,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
            max_artifact_bytes: DEFAULT_MAX_ARTIFACT_BYTES,
            env: BTreeMap::new(),
        }
    }
}

impl ExternalConfig {
    /// Check the entry; the message names the field at fault (the caller adds which entry).
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("name must not be empty".into());
        }
        if !self
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(format!(
                "name {:?} may hold only letters, digits, '.', '_' and '-'",
                self.name
            ));
        }
        if self.version.trim().is_empty() {
            return Err("version must not be empty".into());
        }
        match self.command.first() {
            None => return Err("command must not be empty (a program and its arguments)".into()),
            Some(p) if p.trim().is_empty() => return Err("command's program (its first element) is empty".into()),
            Some(_) => {}
        }
        if self.accepts.is_empty() {
            return Err("accepts must list at least one artifact type".into());
        }
        if let Some(bad) = self
            .accepts
            .iter()
            .find(|a| a.trim().is_empty() || a.trim() != a.as_str())
        {
            return Err(format!("accepts holds an empty or space-padded media type: {bad:?}"));
        }
        if self.kind.trim().is_empty() {
            return Err("kind must not be empty".into());
        }
        for (field, v) in [
            ("timeout_secs", self.timeout_secs),
            ("max_output_bytes", self.max_output_bytes),
            ("max_blob_bytes", self.max_blob_bytes),
            ("max_artifact_bytes", self.max_artifact_bytes),
        ] {
            if v == 0 {
                return Err(format!("{field} must be at least 1"));
            }
        }
        if let Some(k) = self
            .env
            .keys()
            .find(|k| k.is_empty() || k.contains('=') || k.contains('\0') || *k == run::ARTIFACT_DIR_VAR)
        {
            return Err(format!("env: {k:?} cannot be set"));
        }
        Ok(())
    }
}

/// A scanner that runs one configured external program.
#[derive(Debug, Clone)]
pub struct ExternalScanner {
    config: ExternalConfig,
}

impl ExternalScanner {
    /// A scanner for one `[[scanners.external]]` entry; fails when the entry is invalid.
    pub fn new(config: ExternalConfig) -> Result<Self, String> {
        config.validate()?;
        Ok(ExternalScanner { config })
    }

    /// The entry this scanner runs.
    pub fn config(&self) -> &ExternalConfig {
        &self.config
    }
}

/// `registry/repository@digest`, split.
fn split_reference(reference: &str) -> Option<(&str, &str, &str)> {
    let (registry, rest) = reference.split_once('/')?;
    let (repository, digest) = rest.rsplit_once('@')?;
    (!registry.is_empty() && !repository.is_empty() && !digest.is_empty()).then_some((registry, repository, digest))
}

/// The private directory of one scan: `layout/` (the read-only OCI layout) and `scratch/` (the
/// plugin's working directory and `TMPDIR`). Removed on drop, after the layout is made writable
/// again so that removal works for users other than root.
struct Workdir {
    dir: Option<tempfile::TempDir>,
}

impl Workdir {
    fn create() -> Result<Self, ScanError> {
        let dir = tempfile::Builder::new()
            .prefix("regscan-plugin-")
            .tempdir_in(std::env::temp_dir())
            .map_err(|e| ScanError::Internal(format!("creating a temporary directory: {e}")))?;
        for sub in ["layout", "scratch"] {
            std::fs::create_dir(dir.path().join(sub))
                .map_err(|e| ScanError::Internal(format!("creating {}: {e}", dir.path().join(sub).display())))?;
        }
        Ok(Workdir { dir: Some(dir) })
    }

    fn root(&self) -> &Path {
        self.dir.as_ref().map(|d| d.path()).unwrap_or(Path::new("/nonexistent"))
    }

    fn layout(&self) -> PathBuf {
        self.root().join("layout")
    }

    fn scratch(&self) -> PathBuf {
        self.root().join("scratch")
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            layout::make_writable(&dir.path().join("layout"));
            let path = dir.path().to_owned();
            if let Err(e) = dir.close() {
                tracing::warn!(path = %path.display(), error = %e, "could not remove the plugin's temporary directory");
            }
        }
    }
}

#[async_trait]
impl Scanner for ExternalScanner {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn version(&self) -> &str {
        &self.config.version
    }

    fn accepts(&self) -> Vec<TypeEntry> {
        let title = self
            .config
            .title
            .clone()
            .unwrap_or_else(|| format!("{} artifact (external scanner {})", self.config.kind, self.config.name));
        self.config
            .accepts
            .iter()
            .map(|mt| TypeEntry::scanned(mt, &self.config.kind, &title, &self.config.name))
            .collect()
    }

    fn limits(&self) -> Limits {
        // The plugin's own timeout fires first (and fails the scan for good); the rest is time
        // for writing the layout.
        Limits {
            timeout: Duration::from_secs(self.config.timeout_secs.saturating_add(600)),
            max_blob_bytes: self.config.max_blob_bytes,
        }
    }

    async fn scan(&self, ctx: &ScanContext<'_>) -> Result<ScanOutput, ScanError> {
        let name = &self.config.name;
        let (registry, repository, digest) = split_reference(ctx.reference).ok_or_else(|| {
            ScanError::Internal(format!(
                "reference {:?} is not registry/repository@digest",
                ctx.reference
            ))
        })?;
        let work = Workdir::create()?;
        // `ScanContext` has neither the tag nor the registry's exact manifest bytes yet.
        let source = layout::Source {
            registry_digest: digest,
            tag: None,
            manifest_bytes: None,
        };
        let written = layout::write(ctx, &work.layout(), source, &self.config).await?;
        let input = serde_json::json!({
            "reference": ctx.reference,
            "registry": registry,
            "repository": repository,
            "digest": digest,
            "tag": source.tag,
            "artifact_type": ctx.artifact_type,
            "manifest": written.manifest,
        });
        let input = serde_json::to_vec(&input).map_err(|e| ScanError::Internal(format!("encoding stdin: {e}")))?;
        let finished = run::run(&self.config, &work.layout(), &work.scratch(), input).await?;
        let tail = finished.stderr_tail;
        let stderr_note = if tail.is_empty() {
            "no stderr".to_owned()
        } else {
            format!("stderr: {tail}")
        };
        if !finished.success {
            return Err(ScanError::Invalid(format!(
                "external scanner {name} {}; {stderr_note}",
                finished.exit
            )));
        }
        output::parse(&finished.stdout).map_err(|e| {
            ScanError::Invalid(format!(
                "external scanner {name} printed an invalid result: {e}; {stderr_note}"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ExternalConfig {
        ExternalConfig {
            name: "wasm-audit".into(),
            version: "1.0".into(),
            command: vec!["/bin/true".into()],
            accepts: vec!["application/vnd.wasm.config.v0+json".into()],
            kind: "wasm".into(),
            ..Default::default()
        }
    }

    #[test]
    fn validation_names_the_field() {
        assert!(valid().validate().is_ok());
        type Break = fn(&mut ExternalConfig);
        let cases: Vec<(Break, &str)> = vec![
            (|c| c.name.clear(), "name"),
            (|c| c.name = "a b".into(), "name"),
            (|c| c.version.clear(), "version"),
            (|c| c.command.clear(), "command"),
            (|c| c.command = vec!["".into()], "command"),
            (|c| c.accepts.clear(), "accepts"),
            (|c| c.accepts.push(" ".into()), "accepts"),
            (|c| c.kind.clear(), "kind"),
            (|c| c.timeout_secs = 0, "timeout_secs"),
            (|c| c.max_output_bytes = 0, "max_output_bytes"),
            (
                |c| {
                    c.env.insert("REGSCAN_ARTIFACT_DIR".into(), "/".into());
                },
                "env",
            ),
        ];
        for (break_it, field) in cases {
            let mut c = valid();
            break_it(&mut c);
            let err = c.validate().unwrap_err();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn toml_shape_of_the_spec_parses_with_defaults() {
        let c: ExternalConfig = serde_json::from_value(serde_json::json!({
            "name": "wasm-audit", "version": "1.0",
            "command": ["/opt/regscan/plugins/wasm-audit", "--strict"],
            "accepts": ["application/vnd.wasm.config.v0+json"], "kind": "wasm"
        }))
        .unwrap();
        assert_eq!(c.timeout_secs, DEFAULT_TIMEOUT_SECS);
        assert_eq!(c.max_output_bytes, 16 << 20);
        let s = ExternalScanner::new(c).unwrap();
        assert_eq!((s.name(), s.version()), ("wasm-audit", "1.0"));
        let rows = s.accepts();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].kind.as_str(), "wasm");
        assert_eq!(rows[0].scanner.as_deref(), Some("wasm-audit"));
        let bad = serde_json::from_value::<ExternalConfig>(serde_json::json!({
            "name": "x", "version": "1", "command": ["x"], "accepts": ["a"], "kind": "k", "comand": []
        }));
        assert!(bad.unwrap_err().to_string().contains("comand"));
    }

    #[test]
    fn references_split_into_registry_repository_digest() {
        assert_eq!(
            split_reference("127.0.0.1:5000/team/app@sha256:ab"),
            Some(("127.0.0.1:5000", "team/app", "sha256:ab"))
        );
        assert_eq!(split_reference("nohost"), None);
        assert_eq!(split_reference("h/repo"), None);
    }
}
