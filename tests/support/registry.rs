//! A real `docker-registry serve CONFIG` (CNCF distribution 2.8) on a free loopback port, with
//! a temp storage directory and optional notifications, plus push helpers.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::oci::{Artifact, OciImage};

/// Where the registry sends notifications.
#[derive(Debug, Clone)]
pub struct Notify {
    /// Endpoint URL, e.g. `http://127.0.0.1:PORT/v1/webhooks/distribution`.
    pub url: String,
    /// Sent as `Authorization: Bearer TOKEN` when set.
    pub token: Option<String>,
    /// Per-request timeout (default 2 s in [`Notify::new`]).
    pub timeout: Duration,
    /// Failures before the endpoint backs off (distribution's `threshold`).
    pub threshold: u32,
    /// Back-off after `threshold` failures (distribution's `backoff`).
    pub backoff: Duration,
}

impl Notify {
    /// Notifications to `url` with a bearer token, timeout 2 s, threshold 3, backoff 500 ms.
    pub fn new(url: impl Into<String>, token: Option<&str>) -> Self {
        Notify {
            url: url.into(),
            token: token.map(str::to_owned),
            timeout: Duration::from_secs(2),
            threshold: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

/// A running registry; killed and its storage removed on drop.
pub struct Registry {
    /// `127.0.0.1:PORT`, as references and webhooks name it.
    pub host: String,
    child: Child,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Registry {
    /// Start a registry without notifications.
    pub async fn start() -> Registry {
        Self::start_with(None).await
    }

    /// Start a registry that notifies the regscan that will listen on `addr` (`host:port`), at
    /// its distribution webhook, with `token` as the bearer token.
    pub async fn notifying(addr: &str, token: Option<&str>) -> Registry {
        Self::start_with(Some(Notify::new(
            format!("http://{addr}/v1/webhooks/distribution"),
            token,
        )))
        .await
    }

    /// Start a registry that notifies `notify` of every event except blob (octet-stream) ones.
    pub async fn start_with(notify: Option<Notify>) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = super::free_port();
        let host = format!("127.0.0.1:{port}");
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            dir.path().join("data").display()
        );
        if let Some(n) = &notify {
            cfg.push_str("notifications:\n  endpoints:\n    - name: regscan\n");
            cfg.push_str(&format!("      url: {}\n", n.url));
            if let Some(t) = &n.token {
                cfg.push_str(&format!("      headers:\n        Authorization: [\"Bearer {t}\"]\n"));
            }
            cfg.push_str(&format!(
                "      timeout: {}ms\n      threshold: {}\n      backoff: {}ms\n      ignoredmediatypes:\n        - application/octet-stream\n",
                n.timeout.as_millis(),
                n.threshold,
                n.backoff.as_millis()
            ));
        }
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).expect("write registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("docker-registry is installed");
        let reg = Registry {
            host,
            child,
            _dir: dir,
            http: reqwest::Client::new(),
        };
        let start = Instant::now();
        loop {
            if let Ok(r) = reg.http.get(format!("{}/v2/", reg.base_url())).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "docker-registry did not start: {}",
                reg.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        reg
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.host)
    }

    /// The registry's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Upload a blob (monolithic POST + PUT); returns its digest. Skips the upload if present.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256_digest(data);
        let head = self
            .http
            .head(format!("{}/v2/{repo}/blobs/{digest}", self.base_url()))
            .send()
            .await
            .expect("HEAD blob");
        if head.status().is_success() {
            return digest;
        }
        let r = self
            .http
            .post(format!("{}/v2/{repo}/blobs/uploads/", self.base_url()))
            .send()
            .await
            .expect("POST upload");
        assert_eq!(
            r.status().as_u16(),
            202,
            "start upload: {}",
            r.text().await.unwrap_or_default()
        );
        let location = r
            .headers()
            .get("location")
            .expect("Location header")
            .to_str()
            .expect("ascii")
            .to_owned();
        let mut url = reqwest::Url::parse(&self.base_url())
            .unwrap()
            .join(&location)
            .expect("upload URL");
        url.query_pairs_mut().append_pair("digest", &digest);
        let r = self
            .http
            .put(url)
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .expect("PUT blob");
        assert_eq!(
            r.status().as_u16(),
            201,
            "finish upload: {}",
            r.text().await.unwrap_or_default()
        );
        digest
    }

    /// PUT a manifest under `reference` (tag or digest); returns its digest.
    pub async fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
        let r = self
            .http
            .put(format!("{}/v2/{repo}/manifests/{reference}", self.base_url()))
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .expect("PUT manifest");
        let status = r.status();
        let digest = r
            .headers()
            .get("docker-content-digest")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            status.as_u16(),
            201,
            "push manifest {repo}:{reference}: {}",
            r.text().await.unwrap_or_default()
        );
        digest.unwrap_or_else(|| sha256_digest(body))
    }

    /// Push an artifact (config, layers, manifest) through the raw API; returns the manifest
    /// digest.
    pub async fn push_artifact(&self, repo: &str, tag: &str, artifact: &Artifact) -> String {
        self.push_blob(repo, &artifact.config).await;
        for (_, layer) in &artifact.layers {
            self.push_blob(repo, layer).await;
        }
        let manifest = artifact.manifest();
        self.push_manifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", &manifest)
            .await
    }

    /// Push an image with `skopeo copy oci:DIR:tag docker://HOST/REPO:TAG`, after writing it as
    /// an OCI layout in a temp dir; returns the manifest digest.
    pub async fn push_image(&self, repo: &str, tag: &str, image: &OciImage) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = dir.path().join("layout");
        let digest = image.write_layout(&layout, "src");
        self.skopeo_copy(&layout, "src", repo, tag).await;
        digest
    }

    /// Push a multi-platform index of `images` with skopeo; returns the index digest.
    pub async fn push_index(&self, repo: &str, tag: &str, images: &[OciImage]) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = dir.path().join("layout");
        let digest = OciImage::write_index_layout(&layout, "src", images);
        self.skopeo_copy(&layout, "src", repo, tag).await;
        digest
    }

    /// `skopeo copy --dest-tls-verify=false oci:LAYOUT:SRC_TAG docker://HOST/REPO:TAG` (keeping
    /// the manifest as written).
    pub async fn skopeo_copy(&self, layout: &Path, src_tag: &str, repo: &str, tag: &str) {
        let out = tokio::process::Command::new("skopeo")
            .args([
                "copy",
                "--quiet",
                "--all",
                "--dest-tls-verify=false",
                "--preserve-digests",
            ])
            .arg(format!("oci:{}:{src_tag}", layout.display()))
            .arg(format!("docker://{}/{repo}:{tag}", self.host))
            .output()
            .await
            .expect("skopeo is installed");
        assert!(
            out.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// DELETE a manifest by digest.
    pub async fn delete_manifest(&self, repo: &str, digest: &str) {
        let r = self
            .http
            .delete(format!("{}/v2/{repo}/manifests/{digest}", self.base_url()))
            .send()
            .await
            .expect("DELETE manifest");
        assert_eq!(
            r.status().as_u16(),
            202,
            "delete manifest: {}",
            r.text().await.unwrap_or_default()
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}
