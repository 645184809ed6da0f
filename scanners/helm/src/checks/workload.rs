//! Checks on the pods a rendered object would run: security contexts, host namespaces and
//! paths, capabilities, resource limits, image tags, literal secrets in the environment and the
//! service account token.

use std::collections::BTreeMap;

use regscan_scanner_api::Finding;
use serde_norway::Value as Y;

use super::catalog as c;

/// The pod spec inside a workload object, if it has one.
pub fn pod_spec(doc: &Y) -> Option<&Y> {
    let kind = doc.get("kind").and_then(Y::as_str).unwrap_or("");
    let spec = doc.get("spec")?;
    match kind {
        "Pod" => Some(spec),
        "CronJob" => spec.get("jobTemplate")?.get("spec")?.get("template")?.get("spec"),
        // Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, and any
        // custom workload with the same shape (Argo Rollout, OpenShift DeploymentConfig).
        _ => spec
            .get("template")?
            .get("spec")
            .filter(|s| s.get("containers").is_some()),
    }
}

/// Every container of a pod spec, with the list it is in.
pub fn containers(spec: &Y) -> Vec<(&'static str, &Y)> {
    let mut out = Vec::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(Y::Sequence(cs)) = spec.get(list) {
            out.extend(cs.iter().map(|c| (list, c)));
        }
    }
    out
}

fn b(v: Option<&Y>) -> Option<bool> {
    v.and_then(Y::as_bool)
}

fn sc<'a>(v: &'a Y, key: &str) -> Option<&'a Y> {
    v.get("securityContext")?.get(key)
}

/// Capabilities a pod may add under the Pod Security Standards "baseline" profile.
const BASELINE_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Capabilities that amount to root on the node, or close to it.
const DANGEROUS_CAPS: &[&str] = &[
    "ALL",
    "SYS_ADMIN",
    "SYS_MODULE",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_BOOT",
    "DAC_READ_SEARCH",
    "BPF",
    "PERFMON",
    "NET_ADMIN",
    "SYS_RESOURCE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
];

/// Host paths whose mount hands over the node: runtime sockets and their directories, `/`.
fn is_runtime_path(p: &str) -> bool {
    let p = p.trim_end_matches('/');
    matches!(
        p,
        "" | "/var" | "/var/run" | "/run" | "/var/lib/docker" | "/var/lib/containerd" | "/proc" | "/etc"
    ) || p.ends_with("docker.sock")
        || p.ends_with("containerd.sock")
        || p.ends_with("crio.sock")
        || p.ends_with("cri-dockerd.sock")
        || p.starts_with("/run/containerd")
        || p.starts_with("/var/run/containerd")
}

/// Whether an image reference is unpinned: `:latest` or no tag, and no digest.
pub fn unpinned_image(image: &str) -> bool {
    if image.contains('@') {
        return false;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => tag == "latest" || tag.is_empty(),
        None => true,
    }
}

/// Whether an environment variable name says it holds a secret.
pub fn secret_like_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "api_key",
        "api-key",
        "accesskey",
        "access_key",
        "privatekey",
        "private_key",
        "credential",
        "auth_key",
        "client_secret",
    ];
    const NOT: &[&str] = &[
        "_file",
        "file",
        "path",
        "_name",
        "name",
        "ref",
        "_id",
        "url",
        "enabled",
        "_type",
        "length",
        "expiry",
        "ttl",
        "key_id",
        "secretkeyref",
        "existingsecret",
        "secret_key_ref",
        "mountpath",
        "passwordkey",
        "tokenkey",
        "secretkey_ref",
        "keyref",
    ];
    WORDS.iter().any(|w| n.contains(w)) && !NOT.iter().any(|x| n.ends_with(x))
}

/// Whether a value is a switch rather than a secret (`ALLOW_EMPTY_PASSWORD: "no"`).
pub fn is_flag_value(v: &str) -> bool {
    const FLAGS: &[&str] = &[
        "yes", "no", "y", "n", "true", "false", "on", "off", "0", "1", "enabled", "disabled", "enable", "disable",
        "none", "null", "nil", "required", "optional",
    ];
    FLAGS.contains(&v.trim().to_ascii_lowercase().as_str())
}

/// Whether a name says its value is a switch about a secret, not the secret
/// (`ALLOW_EMPTY_PASSWORD`, `enableToken`, `PASSWORD_AUTH_ENABLED`).
fn is_flag_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    const PREFIXES: &[&str] = &[
        "allow", "enable", "disable", "use", "require", "skip", "ignore", "is_", "has_", "create", "generate", "auto",
        "rotate", "show", "reuse",
    ];
    PREFIXES.iter().any(|p| n.starts_with(p))
}

/// A Kubernetes object or Secret key name (`my-release-redis`, `admin-password`, `tls.key`).
fn looks_like_name(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 253
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'.' | b'_'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Whether `value`, under `key`, names where a credential lives rather than being one:
/// - a Secret's key name under a key that says so (`passwordSecretKey: admin-password`,
///   `existingSecretPasswordKey: password`, `tokenKeyName: token`);
/// - a Secret's name (`existingSecret: db-creds`, `adminTokenSecret: grafana-admin`);
/// - a field selector (`metadata.annotations['token']`, `spec.serviceAccountName`);
/// - a file name or path (`privateKey: private.key`, `password: /run/secrets/db`).
pub fn is_credential_reference(key: &str, value: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['_', '-'], "");
    let v = value.trim();
    // Field selectors and field paths (`metadata.name=x`, `type=kubernetes.io/…-token`).
    if ["metadata.", "spec.", "status."].iter().any(|p| v.starts_with(p)) && !v.contains(char::is_whitespace) {
        return true;
    }
    if ["selector", "fieldpath", "fieldref"].iter().any(|x| k.ends_with(x)) {
        return true;
    }
    // File names and paths.
    const FILE_EXT: &[&str] = &[
        ".key",
        ".pem",
        ".crt",
        ".cert",
        ".cer",
        ".der",
        ".p12",
        ".pfx",
        ".jks",
        ".keystore",
        ".truststore",
        ".json",
        ".txt",
        ".yaml",
        ".yml",
        ".conf",
        ".cfg",
        ".keytab",
        ".pub",
        ".asc",
        ".gpg",
        ".env",
        ".properties",
        ".ini",
    ];
    let simple_path = !v.is_empty()
        && v.len() <= 4096
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '~'));
    if simple_path {
        let lower = v.to_ascii_lowercase();
        let is_path = v.starts_with('/') || v.starts_with("./") || v.starts_with("~/");
        if is_path || FILE_EXT.iter().any(|e| lower.ends_with(e) && lower.len() > e.len()) {
            return true;
        }
    }
    if !looks_like_name(v) {
        return false;
    }
    // `REDIS_SENTINEL_AUTH_KEY: auth`, `passwordKey: password`: a name ending in "key" whose
    // value is one of its own words, or a usual key name, names a Secret's key.
    const KEY_NAMES: &[&str] = &[
        "password",
        "passwd",
        "auth",
        "token",
        "secret",
        "key",
        "tls.key",
        "tls.crt",
        "ca.crt",
        "username",
        "user",
        "admin-password",
        "admin-user",
        "api-key",
        "apikey",
        "access-key",
        "secret-key",
        "client-secret",
    ];
    if k.ends_with("key") {
        let lower = v.to_ascii_lowercase();
        let words = name_words(key);
        if KEY_NAMES.contains(&lower.as_str()) || words.contains(&lower) {
            return true;
        }
    }
    // A key within a Secret.
    const KEY_REFS: &[&str] = &["secretkey", "passwordkey", "tokenkey", "keyname"];
    // `secretKey` alone is a credential (S3/MinIO); `fooSecretKey` is the key of foo in a Secret.
    let key_ref = KEY_REFS.iter().any(|r| k.ends_with(r)) && k != "secretkey";
    // A Secret's name.
    const NAME_PREFIXES: &[&str] = &[
        "existing",
        "token",
        "password",
        "passwd",
        "admin",
        "tls",
        "auth",
        "credentials",
        "creds",
        "cert",
        "certificate",
        "user",
        "root",
        "keys",
        "config",
        "env",
        "basicauth",
        "ssl",
        "ca",
        "db",
        "database",
    ];
    let secret_name = k.ends_with("secretname")
        || k.ends_with("secretref")
        || k.strip_suffix("secret")
            .is_some_and(|p| NAME_PREFIXES.iter().any(|n| p.ends_with(n)));
    key_ref || secret_name
}

/// The lower-case words of a name (`REDIS_SENTINEL_AUTH_KEY`, `adminPasswordKey`).
fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for ch in name.chars() {
        if !ch.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        cur.push(ch.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Whether `key: value` is a literal credential: a secret-like name holding a value that is
/// neither a switch nor a reference to where the credential lives.
pub fn is_literal_credential(key: &str, value: &str) -> bool {
    secret_like_name(key)
        && !is_flag_name(key)
        && !is_flag_value(value)
        && !is_credential_reference(key, value)
        && !is_plain_endpoint(value)
}

/// Whether a value is an endpoint, not a credential: an `http(s)://` URL with no user
/// information and no query (`tokenRealm: https://auth.example/token`). A URL that carries
/// `user:password@` or a query string may hold a secret and is still judged by its name.
pub fn is_plain_endpoint(value: &str) -> bool {
    let v = value.trim();
    let Some(rest) = v.strip_prefix("https://").or_else(|| v.strip_prefix("http://")) else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    !authority.is_empty() && !authority.contains('@') && !rest.contains('?') && !rest.contains(char::is_whitespace)
}

/// Check one object's pod spec; `service_accounts` maps rendered ServiceAccount names to their
/// `automountServiceAccountToken`. Returns findings and the images the pod runs.
pub fn check(
    object: &str,
    location: &str,
    spec: &Y,
    service_accounts: &BTreeMap<String, Option<bool>>,
) -> (Vec<Finding>, Vec<String>) {
    let mut out = Vec::new();
    let mut images = Vec::new();
    for (flag, check) in [
        ("hostNetwork", c::HOST_NETWORK),
        ("hostPID", c::HOST_PID),
        ("hostIPC", c::HOST_IPC),
    ] {
        if b(spec.get(flag)) == Some(true) {
            out.push(check.finding(object, location, &format!("{flag}: true")));
        }
    }
    if let Some(Y::Sequence(vols)) = spec.get("volumes") {
        for v in vols {
            let Some(path) = v.get("hostPath").and_then(|h| h.get("path")).and_then(Y::as_str) else {
                continue;
            };
            let name = v.get("name").and_then(Y::as_str).unwrap_or("?");
            let detail = format!("volume {name:?} mounts {path}");
            let check = if is_runtime_path(path) {
                c::HOST_RUNTIME_SOCKET
            } else {
                c::HOST_PATH
            };
            out.push(check.finding(object, location, &detail));
        }
    }
    // Service account token.
    match b(spec.get("automountServiceAccountToken")) {
        Some(false) => {}
        explicit => {
            let sa = spec
                .get("serviceAccountName")
                .or_else(|| spec.get("serviceAccount"))
                .and_then(Y::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("default");
            let sa_off = service_accounts.get(sa).copied().flatten() == Some(false);
            if explicit == Some(true) || !sa_off {
                out.push(c::SA_TOKEN.finding(object, location, &format!("service account {sa:?}")));
            }
        }
    }
    let pod_non_root = b(sc(spec, "runAsNonRoot"));
    let pod_user = sc(spec, "runAsUser").and_then(Y::as_i64);
    for (list, ctr) in containers(spec) {
        let name = ctr.get("name").and_then(Y::as_str).unwrap_or("?");
        let what = if list == "containers" {
            format!("container {name:?}")
        } else {
            format!("{list} {name:?}")
        };
        if let Some(image) = ctr.get("image").and_then(Y::as_str) {
            images.push(image.to_owned());
            if unpinned_image(image) {
                out.push(c::IMAGE_TAG.finding(object, location, &format!("{what} uses {image}")));
            }
        }
        if b(sc(ctr, "privileged")) == Some(true) {
            out.push(c::PRIVILEGED.finding(object, location, &what));
        }
        if b(sc(ctr, "allowPrivilegeEscalation")) != Some(false) {
            out.push(c::PRIV_ESCALATION.finding(object, location, &what));
        }
        let user = sc(ctr, "runAsUser").and_then(Y::as_i64).or(pod_user);
        let non_root = b(sc(ctr, "runAsNonRoot")).or(pod_non_root);
        if user == Some(0) {
            out.push(c::RUN_AS_ROOT.finding(object, location, &what));
        } else if non_root != Some(true) && user.is_none_or(|u| u <= 0) {
            out.push(c::RUN_AS_ROOT_MAYBE.finding(object, location, &what));
        }
        if b(sc(ctr, "readOnlyRootFilesystem")) != Some(true) {
            out.push(c::WRITABLE_ROOT_FS.finding(object, location, &what));
        }
        let caps = sc(ctr, "capabilities");
        let list_of = |k: &str| -> Vec<String> {
            match caps.and_then(|c| c.get(k)) {
                Some(Y::Sequence(s)) => s
                    .iter()
                    .filter_map(Y::as_str)
                    .map(|s| s.trim().to_ascii_uppercase().trim_start_matches("CAP_").to_owned())
                    .collect(),
                _ => vec![],
            }
        };
        for cap in list_of("add") {
            if DANGEROUS_CAPS.contains(&cap.as_str()) {
                out.push(c::CAP_DANGEROUS.finding(object, location, &format!("{what} adds {cap}")));
            } else if !BASELINE_CAPS.contains(&cap.as_str()) {
                out.push(c::CAP_ADDED.finding(object, location, &format!("{what} adds {cap}")));
            }
        }
        if !list_of("drop").iter().any(|c| c == "ALL") {
            out.push(c::CAP_NO_DROP_ALL.finding(object, location, &what));
        }
        // Ephemeral containers may not set resources.
        if list != "ephemeralContainers" {
            let limits = ctr.get("resources").and_then(|r| r.get("limits"));
            let has = |k: &str| limits.and_then(|l| l.get(k)).is_some_and(|v| !v.is_null());
            if !has("cpu") {
                out.push(c::NO_CPU_LIMIT.finding(object, location, &what));
            }
            if !has("memory") {
                out.push(c::NO_MEMORY_LIMIT.finding(object, location, &what));
            }
        }
        if let Some(Y::Sequence(env)) = ctr.get("env") {
            for e in env {
                let (Some(n), Some(v)) = (e.get("name").and_then(Y::as_str), e.get("value")) else {
                    continue;
                };
                let literal = match v {
                    Y::String(s) => !s.trim().is_empty() && !s.starts_with("$(") && is_literal_credential(n, s),
                    Y::Number(_) => is_literal_credential(n, "number"),
                    _ => false,
                };
                if literal {
                    out.push(c::SECRET_ENV.finding(object, location, &format!("{what} sets {n}")));
                }
            }
        }
    }
    (out, images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_pinning() {
        assert!(unpinned_image("nginx"));
        assert!(unpinned_image("nginx:latest"));
        assert!(unpinned_image("registry:5000/app"));
        assert!(!unpinned_image("registry:5000/app:1.2"));
        assert!(!unpinned_image("nginx@sha256:abc"));
    }

    #[test]
    fn secret_names() {
        assert!(secret_like_name("DB_PASSWORD"));
        assert!(secret_like_name("apiToken"));
        assert!(!secret_like_name("DB_PASSWORD_FILE"));
        assert!(!secret_like_name("TOKEN_URL"));
        assert!(!is_literal_credential("tokenRealm", "https://auth.example/token"));
        assert!(!is_literal_credential(
            "oidcTokenEndpoint",
            "http://keycloak:8080/realms/x/token"
        ));
        assert!(is_literal_credential("apiToken", "https://user:s3cret@api.example/"));
        assert!(is_literal_credential(
            "webhookToken",
            "https://hooks.example/x?token=abc123"
        ));
        assert!(is_literal_credential("apiToken", "ghp_abcdefghijklmnop"));
        assert!(!secret_like_name("LOG_LEVEL"));
    }

    #[test]
    fn flags_and_references_are_not_credentials() {
        // Real credentials.
        assert!(is_literal_credential("DB_PASSWORD", "hunter2"));
        assert!(is_literal_credential("clientSecret", "s3cr3t-value"));
        assert!(is_literal_credential(
            "secretKey",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        ));
        assert!(is_literal_credential("jwtSecret", "mysupersecret"));
        assert!(is_literal_credential("apiKey", "abcdef123456"));
        assert!(is_literal_credential("secretKey", "minio123"));
        assert!(is_literal_credential("privateKey", "-----BEGIN PRIVATE KEY-----"));
        // Flags (Bitnami's ALLOW_EMPTY_PASSWORD).
        assert!(!is_literal_credential("ALLOW_EMPTY_PASSWORD", "no"));
        assert!(!is_literal_credential("ALLOW_EMPTY_PASSWORD", "yes"));
        assert!(!is_literal_credential("REDIS_PASSWORD_REQUIRED", "true"));
        // A Secret's key name.
        assert!(!is_literal_credential("passwordSecretKey", "admin-password"));
        assert!(!is_literal_credential("existingSecretPasswordKey", "password"));
        assert!(!is_literal_credential("userTokenKeyName", "token"));
        assert!(!is_literal_credential("REDIS_SENTINEL_AUTH_KEY", "auth"));
        assert!(is_literal_credential("REDIS_SENTINEL_AUTH_KEY", "x7Gq2pL9"));
        assert!(is_literal_credential("PASSWORD", "password"));
        // A field selector.
        assert!(!is_literal_credential("tokenSelector", "metadata.annotations['token']"));
        assert!(!is_literal_credential(
            "tokenFieldSelector",
            "type=kubernetes.io/service-account-token"
        ));
        assert!(!is_literal_credential("passwordFieldPath", "data.password"));
        // A Secret's name.
        assert!(!is_literal_credential("adminTokenSecret", "grafana-admin"));
        assert!(!is_literal_credential("tlsSecret", "release-name-tls"));
        assert!(!is_literal_credential("passwordSecretName", "db"));
        // A file name or path.
        assert!(!is_literal_credential("privateKey", "private.key"));
        assert!(!is_literal_credential("password", "/run/secrets/db-password"));
    }

    #[test]
    fn runtime_paths() {
        assert!(is_runtime_path("/var/run/docker.sock"));
        assert!(is_runtime_path("/"));
        assert!(!is_runtime_path("/var/log"));
    }
}
