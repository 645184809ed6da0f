//! `deploy/`: the container image built without an engine (`deploy/container/build.sh`), the
//! compose stack (`deploy/compose.yaml`) and the Helm chart (`deploy/helm/regscan/`).
//!
//! - the image's layout has the configuration the Dockerfile declares, and `regscan --version`
//!   runs inside the image's own root filesystem (chroot as root, else its dynamic loader);
//! - the chart, packaged as `helm push` stores it and pushed to a real registry, is scanned by
//!   `regscan scan` with no finding of severity low or above, with its default values and with
//!   every optional part switched on; the rendered objects pass `kubernetes-validate` (strict);
//!   the rendered `regscan.toml` is a config regscan accepts;
//! - the compose file passes the compose schema (`docker-compose config`, Debian's
//!   docker-compose ships the compose-spec schema), needs its secrets from the environment, has
//!   none written in, runs the right commands with health-gated dependencies; its receiver
//!   health check works against a real `regscan serve`, and its registry's notification
//!   setting, given to a real `docker-registry`, makes pushes reach regscan;
//! - dogfood: the chart and the image are pushed to a real registry and both scanned
//!   `succeeded`, the image's inventory listing the runtime's Debian packages.
//!
//! Needs `umoci`, `skopeo`, `docker-registry`, `docker-compose` and `kubernetes-validate`
//! (tests/run.sh installs them).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use support::oci::Artifact;
use support::process::{regscan_bin, RegscanProcess, TestConfig};
use support::registry::Registry;

const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_ok(cmd: &mut Command) -> String {
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{cmd:?} exited {code}\nstdout: {out}\nstderr: {err}");
    out
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).1.trim() == "0"
}

// ---------------------------------------------------------------------------------------------
// The image

/// Build the image layout with the debug binary; returns (layout dir guard, layout path, tag).
fn build_image() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("layout");
    let stdout = run_ok(
        Command::new(repo().join("deploy/container/build.sh"))
            .arg(&out)
            .arg("--binary")
            .arg(regscan_bin()),
    );
    let tag = stdout.lines().last().unwrap_or_default().trim().to_owned();
    assert_eq!(tag, env!("CARGO_PKG_VERSION"), "build.sh prints the tag it wrote");
    (dir, out, tag)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn blob(layout: &Path, digest: &str) -> Value {
    read_json(&layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:")))
}

/// The `KEY value` instructions of the Dockerfile's final stage.
fn dockerfile_final_stage() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("deploy/container/Dockerfile")).unwrap();
    let mut joined = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        if let Some(s) = l.strip_suffix('\\') {
            cur.push_str(s);
            cur.push(' ');
        } else {
            cur.push_str(l);
            joined.push(std::mem::take(&mut cur));
        }
    }
    let froms = joined.iter().filter(|l| l.starts_with("FROM ")).count();
    assert!(froms >= 2, "the Dockerfile is multi-stage");
    let last = joined.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    joined[last..]
        .iter()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap_or((l, ""));
            (k.to_owned(), v.trim().to_owned())
        })
        .collect()
}

#[test]
fn image_layout_matches_the_dockerfile_and_runs_in_its_own_rootfs() {
    let (_dir, layout, tag) = build_image();
    let index = read_json(&layout.join("index.json"));
    let desc = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
        .unwrap_or_else(|| panic!("tag {tag} in index.json: {index:#}"))
        .clone();
    let manifest = blob(&layout, desc["digest"].as_str().unwrap());
    let config = blob(&layout, manifest["config"]["digest"].as_str().unwrap());
    let c = &config["config"];

    // OCI annotations on the manifest, and the same as labels.
    let ann = &manifest["annotations"];
    assert_eq!(ann["org.opencontainers.image.version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(ann["org.opencontainers.image.title"], "regscan");
    let revision = ann["org.opencontainers.image.revision"].as_str().unwrap_or_default();
    assert!(
        revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit()),
        "revision is the commit: {ann:#}"
    );
    assert!(ann["org.opencontainers.image.source"].is_string(), "{ann:#}");
    for k in ["version", "revision", "source", "title"] {
        let key = format!("org.opencontainers.image.{k}");
        assert_eq!(c["Labels"][&key], ann[&key], "label {key}");
    }

    // The configuration the Dockerfile declares.
    assert_eq!(c["User"], "65532:65532");
    assert_eq!(c["Entrypoint"], json!(["regscan"]));
    assert_eq!(c["Cmd"], json!(["serve"]));
    assert_eq!(c["WorkingDir"], "/var/lib/regscan");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object(), "{c:#}");
    let env: Vec<&str> = c["Env"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(env.contains(&"REGSCAN_LISTEN=0.0.0.0:8080"), "{env:?}");
    let stage = dockerfile_final_stage();
    let get = |k: &str| -> Vec<&str> {
        stage
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(get("USER"), [c["User"].as_str().unwrap()]);
    assert_eq!(get("ENTRYPOINT"), [r#"["regscan"]"#]);
    assert_eq!(get("CMD"), [r#"["serve"]"#]);
    assert_eq!(get("WORKDIR"), [c["WorkingDir"].as_str().unwrap()]);
    assert_eq!(get("EXPOSE"), ["8080"]);
    let docker_env = get("ENV").join(" ");
    for e in &env {
        assert!(docker_env.contains(e), "Dockerfile ENV lacks {e}: {docker_env}");
    }
    for k in ["version", "revision", "source", "title"] {
        assert!(
            get("LABEL")
                .join(" ")
                .contains(&format!("org.opencontainers.image.{k}=")),
            "Dockerfile labels {k}"
        );
    }

    // The root filesystem: unpack and run the binary inside it.
    let bundle = _dir.path().join("bundle");
    let mut unpack = Command::new("umoci");
    unpack.arg("unpack");
    if !is_root() {
        unpack.arg("--rootless");
    }
    run_ok(
        unpack
            .arg("--image")
            .arg(format!("{}:{tag}", layout.display()))
            .arg(&bundle),
    );
    let rootfs = bundle.join("rootfs");
    for p in [
        "usr/local/bin/regscan",
        "etc/ssl/certs/ca-certificates.crt",
        "etc/passwd",
        "etc/group",
        "tmp",
        "var/lib/regscan",
        "var/lib/dpkg/status.d/libc6",
    ] {
        assert!(rootfs.join(p).exists(), "image lacks /{p}");
    }
    assert!(
        !rootfs.join("bin/sh").exists() && !rootfs.join("usr/bin/sh").exists(),
        "no shell"
    );
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(
        passwd.lines().any(|l| l.starts_with("nonroot:x:65532:65532:")),
        "{passwd}"
    );
    let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap();
    assert!(group.lines().any(|l| l.starts_with("nonroot:x:65532:")), "{group}");
    let out = if is_root() {
        use std::os::unix::fs::MetadataExt;
        let data = std::fs::metadata(rootfs.join("var/lib/regscan")).unwrap();
        assert_eq!(
            (data.uid(), data.gid()),
            (65532, 65532),
            "the data dir belongs to the user"
        );
        // As the image's user, with nothing from the host's file system.
        run_ok(
            Command::new(
                ["/usr/sbin/chroot", "/usr/bin/chroot", "/sbin/chroot"]
                    .into_iter()
                    .find(|p| Path::new(p).exists())
                    .unwrap_or("chroot"),
            )
            .arg("--userspec=65532:65532")
            .arg(&rootfs)
            .args(["/usr/local/bin/regscan", "--version"])
            .env_clear(),
        )
    } else {
        let libdirs: Vec<String> = [
            "lib/x86_64-linux-gnu",
            "usr/lib/x86_64-linux-gnu",
            "lib64",
            "lib",
            "usr/lib",
        ]
        .iter()
        .map(|d| rootfs.join(d).display().to_string())
        .collect();
        let loader = std::fs::read_dir(rootfs.join("lib64"))
            .unwrap()
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_string_lossy().starts_with("ld-linux"))
            .expect("the dynamic loader is in the image")
            .path();
        run_ok(
            Command::new(loader)
                .arg("--inhibit-cache")
                .arg("--library-path")
                .arg(libdirs.join(":"))
                .arg(rootfs.join("usr/local/bin/regscan"))
                .arg("--version")
                .env_clear(),
        )
    };
    assert_eq!(out.trim(), format!("regscan {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn build_sh_refuses_a_missing_binary() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(Command::new(repo().join("deploy/container/build.sh"))
        .arg(dir.path().join("out"))
        .arg("--binary")
        .arg(dir.path().join("nope")));
    assert_ne!(code, 0);
    assert!(err.contains("no executable regscan binary"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The Helm chart

/// The chart directory as `helm package` archives it: `regscan/…` entries, gzip. `values`
/// replaces values.yaml when given.
fn chart_tgz(values: Option<&str>) -> Vec<u8> {
    let root = repo().join("deploy/helm/regscan");
    let mut files = Vec::new();
    fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    walk(&root, &root, &mut files);
    assert!(files.iter().any(|(p, _)| p == "Chart.yaml"), "chart found");
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (rel, data) in &files {
        let data = match (rel.as_str(), values) {
            ("values.yaml", Some(v)) => v.as_bytes().to_vec(),
            _ => data.clone(),
        };
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append_data(&mut h, format!("regscan/{rel}"), data.as_slice())
            .unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn chart_artifact(tgz: Vec<u8>) -> Artifact {
    let chart_yaml = std::fs::read_to_string(repo().join("deploy/helm/regscan/Chart.yaml")).unwrap();
    let field = |k: &str| {
        chart_yaml
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}: ")))
            .unwrap()
            .trim_matches('"')
            .to_owned()
    };
    let config = serde_json::to_vec(&json!({
        "name": field("name"), "version": field("version"), "appVersion": field("appVersion"),
        "apiVersion": "v2", "type": "application",
    }))
    .unwrap();
    Artifact {
        config_media_type: HELM_CONFIG.into(),
        config,
        layers: vec![(HELM_CHART.into(), tgz)],
        artifact_type: None,
    }
}

/// Values with every optional part on: HPA, ServiceMonitor, bundled PostgreSQL and RabbitMQ, a
/// registry with credentials, extra TOML, receiver/metrics sources for the NetworkPolicy.
fn everything_on_values() -> String {
    let base = std::fs::read_to_string(repo().join("deploy/helm/regscan/values.yaml")).unwrap();
    let mut v = base
        .replace(
            "  registries: []\n",
            "  registries:\n    - host: registry.example.com\n      aliases: [registry.internal:5000]\n      tokenRealm: https://auth.example.com/token\n      username: scanner\n      passwordSecret: {name: registry-credentials, key: password}\n    - host: 10.0.0.5:5000\n      url: http://10.0.0.5:5000\n      insecure: true\n",
        )
        .replace(
            "  extra: \"\"\n",
            "  extra: |\n    [retention]\n    keep_scans = 5\n",
        )
        .replace("  autoscaling:\n    enabled: false", "  autoscaling:\n    enabled: true")
        .replace("serviceMonitor:\n  enabled: false", "serviceMonitor:\n  enabled: true")
        .replace("postgresql:\n  enabled: false", "postgresql:\n  enabled: true")
        .replace("rabbitmq:\n  enabled: false", "rabbitmq:\n  enabled: true")
        .replace(
            "  receiverFrom: []\n",
            "  receiverFrom:\n    - namespaceSelector:\n        matchLabels: {kubernetes.io/metadata.name: registry}\n",
        );
    // Pinned by digest, from a registry.
    v = v
        .replace(
            "  repository: regscan\n",
            "  repository: registry.example.com/regscan\n",
        )
        .replace(
            "  digest: \"\"\n",
            "  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
        );
    for on in [
        "registries:\n    - host",
        "autoscaling:\n    enabled: true",
        "postgresql:\n  enabled: true",
        "  digest: sha256:",
    ] {
        assert!(v.contains(on), "values edit applied: {on}");
    }
    v
}

/// Render with regscan's Helm engine: (template location, object as JSON) for every object.
fn render_objects(tgz: &[u8]) -> Vec<(String, Value)> {
    use regscan_scanner_helm::archive::{ArchiveLimits, Budget};
    use regscan_scanner_helm::render::{render, RenderOptions};
    let mut budget = Budget::new(ArchiveLimits {
        max_total_bytes: 1 << 24,
        max_file_bytes: 1 << 22,
        max_entries: 1000,
    });
    let chart = regscan_scanner_helm::chart::load_tgz(tgz, &mut budget, 5).expect("chart loads");
    let opts = RenderOptions {
        release_name: "regscan".into(),
        namespace: "regscan".into(),
        kube_version: regscan_scanner_helm::DEFAULT_KUBE_VERSION.into(),
        extra_api_versions: vec!["monitoring.coreos.com/v1".into()],
        limits: Default::default(),
        max_total_steps: 20_000_000,
        max_total_output_bytes: 64 << 20,
    };
    let outcomes = regscan_scanner_helm::tmpl::with_big_stack(|| render(&chart, &opts)).unwrap();
    let mut objects = Vec::new();
    for o in outcomes {
        let docs = o
            .result
            .unwrap_or_else(|e| panic!("{} does not render: {e}\n{}", o.location, o.rendered));
        for d in docs {
            let v = serde_json::to_value(&d).unwrap();
            if !v.is_null() {
                objects.push((o.location.clone(), v));
            }
        }
    }
    objects
}

fn kinds(objects: &[(String, Value)]) -> Vec<String> {
    let mut k: Vec<String> = objects
        .iter()
        .map(|(_, o)| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or("?"),
                o["metadata"]["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    k.sort();
    k
}

/// `kubernetes-validate --strict` against the Kubernetes version regscan's Helm scanner targets,
/// for every built-in kind (CRDs such as ServiceMonitor have no schema there).
fn kubernetes_validate(objects: &[(String, Value)]) {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, (_, o)) in objects.iter().enumerate() {
        if o["apiVersion"]
            .as_str()
            .is_some_and(|a| a.starts_with("monitoring.coreos.com/"))
        {
            continue;
        }
        let p = dir
            .path()
            .join(format!("{i:02}-{}.json", o["kind"].as_str().unwrap_or("x")));
        std::fs::write(&p, serde_json::to_vec_pretty(o).unwrap()).unwrap();
        files.push(p);
    }
    let (code, out, err) = run(Command::new("kubernetes-validate")
        .args([
            "--strict",
            "--no-warn",
            "-k",
            regscan_scanner_helm::DEFAULT_KUBE_VERSION,
        ])
        .args(&files));
    assert_eq!(code, 0, "kubernetes-validate failed ({code}):\n{out}\n{err}");
    let passed = out
        .lines()
        .filter(|l| l.starts_with("INFO") && l.contains("passed"))
        .count();
    assert_eq!(passed, files.len(), "every object validated:\n{out}\n{err}");
}

/// A rendered `regscan.toml` must be a config regscan accepts (unknown keys are refused).
fn regscan_accepts_config(objects: &[(String, Value)]) {
    let cm = objects
        .iter()
        .find(|(_, o)| o["kind"] == "ConfigMap")
        .map(|(_, o)| o)
        .expect("a ConfigMap");
    let toml = cm["data"]["regscan.toml"]
        .as_str()
        .expect("regscan.toml in the ConfigMap");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("regscan.toml");
    std::fs::write(&f, toml).unwrap();
    let (code, out, err) = run(Command::new(regscan_bin())
        .arg("--config")
        .arg(&f)
        .args(["types", "--format", "json"])
        .env("REGSCAN_LOG", "warn")
        .env(
            "REGSCAN_DATABASE_URL",
            format!("sqlite://{}/x.db", dir.path().display()),
        ));
    assert_eq!(code, 0, "regscan refuses the rendered config:\n{toml}\n{out}\n{err}");
}

fn pod_specs(objects: &[(String, Value)]) -> Vec<(String, &Value)> {
    objects
        .iter()
        .filter_map(|(_, o)| {
            let spec = &o["spec"]["template"]["spec"];
            spec.is_object()
                .then(|| (o["metadata"]["name"].as_str().unwrap_or("?").to_owned(), spec))
        })
        .collect()
}

/// A scan report's findings at severity low or above.
fn low_or_above(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| ["low", "medium", "high", "critical"].contains(&f["severity"].as_str().unwrap_or("")))
        .map(|f| format!("{} {} {} {}", f["severity"], f["id"], f["package"], f["title"]))
        .collect()
}

struct Cli {
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cli {
    fn new(registry: &str) -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("regscan.toml");
        let db = format!("sqlite://{}/regscan.db", dir.path().display());
        std::fs::write(
            &config,
            format!("database_url = {db:?}\n\n[[registry]]\nhost = {registry:?}\ninsecure = true\n"),
        )
        .unwrap();
        Cli { config, _dir: dir }
    }

    fn scan(&self, reference: &str) -> Value {
        let (code, out, err) = run(Command::new(regscan_bin())
            .arg("--config")
            .arg(&self.config)
            .args(["scan", reference, "--format", "json"])
            .env_remove("REGSCAN_DATABASE_URL")
            .env_remove("REGSCAN_API_TOKEN")
            .env("REGSCAN_LOG", "warn"));
        assert_eq!(code, 0, "regscan scan {reference} exited {code}\n{out}\n{err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

#[tokio::test]
async fn helm_chart_passes_regscans_own_checks_and_the_kubernetes_schemas() {
    let registry = Registry::start().await;
    let cli = Cli::new(&registry.host);

    for (name, values) in [("defaults", None), ("everything-on", Some(everything_on_values()))] {
        let tgz = chart_tgz(values.as_deref());
        registry
            .push_artifact("charts/regscan", name, &chart_artifact(tgz.clone()))
            .await;
        let report = cli.scan(&format!("{}/charts/regscan:{name}", registry.host));
        assert_eq!(report["kind"], "helm", "{name}: {report:#}");
        assert_eq!(report["status"], "succeeded", "{name}: {report:#}");
        let bad = low_or_above(&report);
        assert!(
            bad.is_empty(),
            "{name}: regscan's Helm checks report:\n{}",
            bad.join("\n")
        );
        assert!(
            report["details"]["render_errors"]
                .as_array()
                .is_none_or(|e| e.is_empty()),
            "{name}: every template renders: {:#}",
            report["details"]["render_errors"]
        );

        let objects = render_objects(&tgz);
        let k = kinds(&objects);
        for want in [
            "ConfigMap/regscan",
            "Deployment/regscan-receiver",
            "Deployment/regscan-worker",
            "NetworkPolicy/regscan-receiver",
            "NetworkPolicy/regscan-worker",
            "Service/regscan",
            "Service/regscan-worker",
            "ServiceAccount/regscan",
        ] {
            assert!(k.contains(&want.to_owned()), "{name}: {want} rendered: {k:?}");
        }
        let optional = [
            "HorizontalPodAutoscaler/regscan-worker",
            "ServiceMonitor/regscan",
            "StatefulSet/regscan-postgresql",
            "StatefulSet/regscan-rabbitmq",
        ];
        for o in optional {
            assert_eq!(
                k.contains(&o.to_owned()),
                values.is_some(),
                "{name}: {o} only when enabled: {k:?}"
            );
        }
        kubernetes_validate(&objects);
        regscan_accepts_config(&objects);

        // Restricted pod security, probes and secrets by reference, object by object.
        let pods = pod_specs(&objects);
        assert_eq!(
            pods.len(),
            if values.is_some() { 4 } else { 2 },
            "{name}: workloads {k:?}"
        );
        for (obj, spec) in pods {
            assert_eq!(spec["automountServiceAccountToken"], false, "{obj}");
            assert_eq!(spec["securityContext"]["runAsNonRoot"], true, "{obj}");
            assert_eq!(
                spec["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
                "{obj}"
            );
            for c in spec["containers"].as_array().unwrap() {
                let sc = &c["securityContext"];
                assert_eq!(sc["allowPrivilegeEscalation"], false, "{obj}");
                assert_eq!(sc["readOnlyRootFilesystem"], true, "{obj}");
                assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{obj}");
                for r in ["requests", "limits"] {
                    for q in ["cpu", "memory"] {
                        assert!(c["resources"][r][q].is_string(), "{obj}: resources.{r}.{q}");
                    }
                }
                for e in c["env"].as_array().into_iter().flatten() {
                    let n = e["name"].as_str().unwrap();
                    if n.contains("TOKEN") || n.contains("PASSWORD") || n.contains("PASS") {
                        assert!(e["valueFrom"]["secretKeyRef"].is_object(), "{obj}: {n} from a Secret");
                    }
                }
                if obj.starts_with("regscan-receiver") || obj.starts_with("regscan-worker") {
                    assert_eq!(sc["runAsUser"], 65532, "{obj}");
                    let image = c["image"].as_str().unwrap();
                    let want = if values.is_some() {
                        "registry.example.com/regscan@sha256:0123456789abcdef"
                    } else {
                        concat!("regscan:", env!("CARGO_PKG_VERSION"))
                    };
                    assert!(image.starts_with(want), "{obj}: image {image}");
                    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz", "{obj}");
                    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz", "{obj}");
                    let mounts: Vec<&str> = c["volumeMounts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|m| m["mountPath"].as_str())
                        .collect();
                    for m in ["/tmp", "/var/lib/regscan", "/etc/regscan"] {
                        assert!(mounts.contains(&m), "{obj}: {m} mounted: {mounts:?}");
                    }
                    let args: Vec<&str> = c["args"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
                    if obj.ends_with("receiver") {
                        assert_eq!(
                            args,
                            ["--config", "/etc/regscan/regscan.toml", "serve", "--workers", "0"]
                        );
                    } else {
                        assert_eq!(&args[..3], ["--config", "/etc/regscan/regscan.toml", "worker"]);
                        assert!(args.contains(&"--metrics-listen"), "{args:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn helm_checks_can_fail_on_this_chart() {
    // The same scan path reports a weakened copy: the "no finding" assertion above is live.
    let weakened = std::fs::read_to_string(repo().join("deploy/helm/regscan/values.yaml"))
        .unwrap()
        .replace(
            "  allowPrivilegeEscalation: false\n  readOnlyRootFilesystem: true\n",
            "  readOnlyRootFilesystem: false\n",
        );
    let scanner = regscan_scanner_helm::HelmScanner::new(regscan_scanner_helm::HelmConfig::default());
    let out = scanner.scan_chart(&chart_tgz(Some(&weakened)), None).expect("scans");
    let ids: Vec<&str> = out.findings.iter().map(|f| f.id.as_str()).collect();
    assert!(
        ids.contains(&"HELM-PRIV-002") && ids.contains(&"HELM-FS-001"),
        "{ids:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Compose

const COMPOSE_SECRETS: [(&str, &str); 4] = [
    ("REGSCAN_WEBHOOK_TOKEN", "sentinel-webhook-4f1d"),
    ("REGSCAN_API_TOKEN", "sentinel-api-9c2e"),
    ("REGSCAN_DB_PASSWORD", "sentinel-db-77aa"),
    ("REGSCAN_MQ_PASSWORD", "sentinel-mq-31bf"),
];

fn compose_config(file: &Path, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new("docker-compose");
    cmd.arg("-f").arg(file).arg("config").env_remove("REGSCAN_IMAGE");
    for (k, _) in COMPOSE_SECRETS {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

fn yaml_to_json(yaml: &str) -> Value {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 with PyYAML converts the YAML");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The compose file, resolved with sentinel secrets, as JSON.
fn resolved_compose() -> Value {
    let (code, out, err) = compose_config(&repo().join("deploy/compose.yaml"), &COMPOSE_SECRETS);
    assert_eq!(code, 0, "docker-compose config (schema validation) failed:\n{err}");
    yaml_to_json(&out)
}

#[test]
fn compose_file_is_valid_and_keeps_secrets_out() {
    let file = repo().join("deploy/compose.yaml");
    let raw = std::fs::read_to_string(&file).unwrap();
    let c = resolved_compose();
    let services = c["services"].as_object().unwrap();
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    for s in ["registry", "regscan", "worker-1", "worker-2", "postgres", "rabbitmq"] {
        assert!(names.contains(&s), "service {s}: {names:?}");
    }

    // The schema check can fail: an unknown key, and a missing secret, are refused.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("compose.yaml");
    std::fs::write(
        &bad,
        raw.replace(
            "    restart: unless-stopped\n    ports:",
            "    restart: unless-stopped\n    portz: [1]\n    ports:",
        ),
    )
    .unwrap();
    let (code, _, err) = compose_config(&bad, &COMPOSE_SECRETS);
    assert_ne!(code, 0, "an unknown key is refused");
    assert!(err.contains("portz"), "{err}");
    for (missing, _) in COMPOSE_SECRETS {
        let env: Vec<(&str, &str)> = COMPOSE_SECRETS.iter().copied().filter(|(k, _)| *k != missing).collect();
        let (code, _, err) = compose_config(&file, &env);
        assert_ne!(code, 0, "compose starts without {missing}");
        assert!(err.contains(missing), "{err}");
    }

    // No secret is written in the file: each sentinel appears only through interpolation.
    for (k, v) in COMPOSE_SECRETS {
        assert!(!raw.contains(v));
        assert!(
            raw.contains(&format!("${{{k}:?")),
            "{k} is required from the environment"
        );
    }
    for (name, s) in services {
        assert!(s["image"].is_string(), "{name} has an image");
        for (k, v) in s["environment"].as_object().into_iter().flatten() {
            let upper = k.to_ascii_uppercase();
            if ["TOKEN", "PASS", "SECRET", "_URL"].iter().any(|w| upper.contains(w)) {
                let v = v.as_str().unwrap_or_default();
                assert!(
                    COMPOSE_SECRETS.iter().any(|(_, sentinel)| v.contains(sentinel)),
                    "{name}: {k} comes from a secret variable: {v}"
                );
            }
        }
    }

    // Commands, health checks and health-gated dependencies.
    let args = |s: &str| -> Vec<String> {
        services[s]["command"]
            .as_array()
            .unwrap_or_else(|| panic!("{s} has a command"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        args("regscan"),
        ["--config", "/etc/regscan/regscan.toml", "serve", "--workers", "0"]
    );
    for w in ["worker-1", "worker-2"] {
        assert_eq!(&args(w)[..3], ["--config", "/etc/regscan/regscan.toml", "worker"]);
        assert!(args(w).contains(&"--metrics-listen".to_owned()));
        assert_eq!(services[w]["read_only"], true);
        assert_eq!(services[w]["cap_drop"], json!(["ALL"]));
    }
    for s in ["registry", "regscan", "postgres", "rabbitmq"] {
        assert!(services[s]["healthcheck"]["test"].is_array(), "{s} has a health check");
    }
    for (name, s) in services {
        for (dep, cond) in s["depends_on"].as_object().into_iter().flatten() {
            assert!(services.contains_key(dep), "{name} depends on {dep}");
            assert_eq!(
                cond["condition"], "service_healthy",
                "{name} waits for {dep} to be healthy"
            );
            assert!(
                services[dep]["healthcheck"].is_object(),
                "{dep} has a health check to wait for"
            );
        }
    }
    for s in ["regscan", "worker-1", "worker-2"] {
        let deps = services[s]["depends_on"].as_object().unwrap();
        assert!(
            deps.contains_key("postgres") && deps.contains_key("rabbitmq"),
            "{s}: {deps:?}"
        );
        let mounts: Vec<&str> = services[s]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["target"].as_str().or(v.as_str()))
            .collect();
        assert!(
            mounts.iter().any(|m| m.contains("/etc/regscan/regscan.toml")),
            "{s}: {mounts:?}"
        );
    }
    // The mounted config is one regscan accepts.
    let (code, out, err) = run(Command::new(regscan_bin())
        .arg("--config")
        .arg(repo().join("deploy/compose/regscan.toml"))
        .args(["types", "--format", "json"])
        .env("REGSCAN_LOG", "warn")
        .env(
            "REGSCAN_DATABASE_URL",
            format!("sqlite://{}/x.db", dir.path().display()),
        ));
    assert_eq!(code, 0, "{out}\n{err}");
}

#[tokio::test]
async fn compose_health_check_and_registry_notifications_work_for_real() {
    let c = resolved_compose();
    let services = &c["services"];
    let token = COMPOSE_SECRETS[0].1;
    let api_token = COMPOSE_SECRETS[1].1;

    // The registry's notification endpoint, exactly as compose passes it, aimed at a real
    // receiver (only the address differs).
    let endpoints = services["registry"]["environment"]["REGISTRY_NOTIFICATIONS_ENDPOINTS"]
        .as_str()
        .expect("notifications configured through the environment")
        .to_owned();
    assert!(endpoints.contains(&format!("Bearer {token}")), "{endpoints}");
    assert!(
        endpoints.contains("http://regscan:8080/v1/webhooks/distribution"),
        "{endpoints}"
    );
    let port = support::free_port();
    let addr = format!("127.0.0.1:{port}");
    let endpoints = endpoints.replace("regscan:8080", &addr);
    let reg = NotifyingRegistry::start(&endpoints).await;

    let (db, _db_dir) = support::db::sqlite_url();
    let mut cfg = TestConfig::new(&db, &[&reg.host]);
    cfg.webhook_token = Some(token.to_owned());
    cfg.extra = format!("api_token = {api_token:?}\n");
    let _serve = RegscanProcess::start_on(&cfg, &["serve"], &addr).await;

    // The receiver's health check command, run as compose would (regscan from the image's PATH).
    let hc: Vec<String> = services["regscan"]["healthcheck"]["test"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(hc[0], "CMD");
    assert_eq!(hc[1], "regscan");
    let healthcheck = |server: &str| {
        let args: Vec<String> = hc[2..]
            .iter()
            .map(|a| a.replace("http://127.0.0.1:8080", server))
            .collect();
        run(Command::new(regscan_bin())
            .args(&args)
            .env("REGSCAN_API_TOKEN", api_token)
            .env("REGSCAN_LOG", "warn"))
    };
    let (code, out, err) = healthcheck(&format!("http://{addr}"));
    assert_eq!(code, 0, "health check against a healthy receiver:\n{out}\n{err}");
    let (code, _, _) = healthcheck(&format!("http://127.0.0.1:{}", support::free_port()));
    assert_ne!(code, 0, "the health check fails when nothing answers");

    // A push notified with the compose endpoint is scanned.
    reg.push_chart().await;
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/v1/artifacts?repository=charts/demo");
    let found = support::wait_until(Duration::from_secs(60), "the notified chart to be scanned", || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let v: Value = http
                .get(&url)
                .bearer_auth(api_token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let item = v["items"].as_array()?.first()?.clone();
            (item["status"] == "succeeded").then_some(item)
        }
    })
    .await;
    assert_eq!(found["kind"], "helm", "{found:#}");
}

/// A `docker-registry` whose notifications come from `REGISTRY_NOTIFICATIONS_ENDPOINTS`, as in
/// the compose file (the harness's `Registry` writes them into its config file instead).
struct NotifyingRegistry {
    host: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl NotifyingRegistry {
    async fn start(endpoints: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = support::free_port();
        let host = format!("127.0.0.1:{port}");
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: {host}}}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .env("REGISTRY_NOTIFICATIONS_ENDPOINTS", endpoints)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
            .spawn()
            .expect("docker-registry");
        let http = reqwest::Client::new();
        let base = format!("http://{host}/v2/");
        support::wait_until(Duration::from_secs(20), "docker-registry to answer", || {
            let (http, base) = (http.clone(), base.clone());
            async move { http.get(&base).send().await.ok().map(|_| ()) }
        })
        .await;
        NotifyingRegistry { host, child, _dir: dir }
    }

    async fn push_chart(&self) {
        let a = Artifact::helm_chart("demo", "0.1.0");
        let http = reqwest::Client::new();
        let mut blobs = vec![a.config.clone()];
        blobs.extend(a.layers.iter().map(|(_, d)| d.clone()));
        for b in blobs {
            let digest = support::registry::sha256_digest(&b);
            let r = http
                .post(format!("http://{}/v2/charts/demo/blobs/uploads/", self.host))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 202, "start upload");
            let location = r.headers()["location"].to_str().unwrap().to_owned();
            let mut url = reqwest::Url::parse(&format!("http://{}/", self.host))
                .unwrap()
                .join(&location)
                .unwrap();
            url.query_pairs_mut().append_pair("digest", &digest);
            let r = http
                .put(url)
                .header("Content-Type", "application/octet-stream")
                .body(b)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201, "finish upload");
        }
        let r = http
            .put(format!("http://{}/v2/charts/demo/manifests/0.1.0", self.host))
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .body(a.manifest())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "manifest put: {}", r.status());
    }
}

impl Drop for NotifyingRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Dogfood

#[tokio::test]
async fn dogfood_the_image_and_the_chart_are_pushed_and_scanned() {
    let (_dir, layout, tag) = build_image();
    let registry = Registry::start().await;
    registry.skopeo_copy(&layout, &tag, "regscan/regscan", &tag).await;
    registry
        .push_artifact("regscan/charts/regscan", "0.1.0", &chart_artifact(chart_tgz(None)))
        .await;
    let cli = Cli::new(&registry.host);

    let image = cli.scan(&format!("{}/regscan/regscan:{tag}", registry.host));
    assert_eq!(image["kind"], "image", "{image:#}");
    assert_eq!(image["status"], "succeeded", "{image:#}");

    let chart = cli.scan(&format!("{}/regscan/charts/regscan:0.1.0", registry.host));
    assert_eq!(chart["kind"], "helm", "{chart:#}");
    assert_eq!(chart["status"], "succeeded", "{chart:#}");
    assert!(low_or_above(&chart).is_empty(), "{:?}", low_or_above(&chart));

    // The image's inventory: the Debian packages its libraries come from (status.d stanzas).
    let (code, out, err) = run(Command::new(regscan_bin())
        .arg("--config")
        .arg(&cli.config)
        .args([
            "status",
            &format!("{}/regscan/regscan:{tag}", registry.host),
            "--format",
            "cyclonedx",
        ])
        .env("REGSCAN_LOG", "warn"));
    assert_eq!(code, 0, "{out}\n{err}");
    let bom: Value = serde_json::from_str(&out).unwrap();
    let names: BTreeMap<String, String> = bom["components"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_owned(),
                c["purl"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for p in ["libc6", "libgcc-s1", "ca-certificates"] {
        assert!(
            names.get(p).is_some_and(|purl| purl.starts_with("pkg:deb/")),
            "{p} in the inventory: {names:?}"
        );
    }
}

/// The image does its job from inside its own root filesystem: as 65532, with only the image's
/// files (plus `/proc` and `/dev`, which a container runtime provides), `regscan scan` pulls the
/// image itself from a real registry and scans it in the sandbox child, which confines itself
/// (seccomp at least; its report of what it applied is in the debug log). Needs root (a private
/// mount namespace and chroot); elsewhere it says so and checks nothing.
#[tokio::test]
async fn image_scans_itself_from_inside_its_own_rootfs_with_the_sandbox() {
    if !is_root() {
        eprintln!("skipped: needs root for unshare --mount and chroot");
        return;
    }
    let (dir, layout, tag) = build_image();
    let registry = Registry::start().await;
    registry.skopeo_copy(&layout, &tag, "regscan/regscan", &tag).await;
    let bundle = dir.path().join("bundle");
    run_ok(
        Command::new("umoci")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{tag}", layout.display()))
            .arg(&bundle),
    );
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(rootfs.join("proc")).unwrap();
    std::fs::create_dir_all(rootfs.join("dev")).unwrap();
    let chroot = ["/usr/sbin/chroot", "/usr/bin/chroot", "/sbin/chroot"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("chroot");
    let reference = format!("{}/regscan/regscan:{tag}", registry.host);
    let script = r#"set -e
root="$1"; chroot="$2"; ref="$3"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
exec env -i REGSCAN_LOG=regscan::sandbox=debug,warn \
    REGSCAN_DATABASE_URL=sqlite:///var/lib/regscan/regscan.db \
    "$chroot" --userspec=65532:65532 "$root" /usr/local/bin/regscan scan "$ref" --format json"#;
    let (code, out, err) = run(Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&rootfs)
        .arg(chroot)
        .arg(&reference));
    assert_eq!(code, 0, "regscan scan inside the image exited {code}\n{out}\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    assert_eq!(report["kind"], "image", "{report:#}");
    assert_eq!(report["status"], "succeeded", "{report:#}");
    let confined = err
        .lines()
        .find(|l| l.contains("sandbox child confined"))
        .unwrap_or_else(|| panic!("the sandbox child reported its confinement:\n{err}"));
    assert!(confined.contains("seccomp: true"), "{confined}");
    assert!(
        std::fs::metadata(rootfs.join("var/lib/regscan/regscan.db")).is_ok(),
        "the database is in the data dir"
    );
}
