//! The internal event every registry flavour's payload is parsed into, and what to do with it:
//! which configured registry it names (the SSRF guard), and the jobs a push becomes.

use crate::config::Config;
use crate::queue::Job;

/// What an event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A manifest was pushed: scan it.
    Push,
    /// A manifest or tag was deleted: mark it deleted, keep its history.
    Delete,
    /// Nothing to do; the reason says why (blob push, pull, mount, unknown action, …).
    Ignore(String),
    /// The event is malformed: a repository, tag or digest outside the distribution spec's
    /// grammar, or an event id over [`MAX_EVENT_ID_BYTES`]. Recorded `rejected` with the reason;
    /// never queued, never an artifact.
    Reject(String),
}

/// Longest event id accepted, in bytes.
pub const MAX_EVENT_ID_BYTES: usize = 256;

/// One registry event, whatever product sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEvent {
    /// The event id from the payload, for deduplication (None: no id, never deduplicated).
    pub id: Option<String>,
    /// The action as the payload spelled it (`push`, `PUSH_ARTIFACT`, `repo_push`, …).
    pub raw_action: String,
    /// What to do.
    pub action: Action,
    /// Registry hosts the event names (`request.host`, the host of `target.url`, …); empty when
    /// the payload names none (zot, some ACR events).
    pub hosts: Vec<String>,
    /// Repository (`team/app`).
    pub repository: String,
    /// Manifest digest, when the payload gives one.
    pub digest: Option<String>,
    /// Tag, when the payload gives one (never a digest).
    pub tag: Option<String>,
    /// Manifest media type, when the payload gives one.
    pub media_type: Option<String>,
}

impl RegistryEvent {
    /// The reference to scan: the digest if known, else the tag.
    pub fn reference(&self) -> Option<&str> {
        self.digest.as_deref().or(self.tag.as_deref())
    }
}

/// A tag as payloads give it, or None when empty or actually a digest (Harbor puts the digest in
/// `tag` for pushes by digest). A malformed tag is kept, for [`validate`] to reject.
pub fn clean_tag(tag: Option<&str>) -> Option<String> {
    tag.map(str::trim)
        .filter(|t| !t.is_empty() && !t.starts_with("sha256:") && !t.starts_with("sha512:"))
        .map(str::to_owned)
}

/// A digest as payloads give it, or None when empty. A malformed digest is kept, for
/// [`validate`] to reject.
pub fn clean_digest(digest: Option<&str>) -> Option<String> {
    digest.map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned)
}

/// Check an event's names against the distribution spec (repository: lowercase path components,
/// at most 255 characters; tag `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`; digest `sha256:` + 64 or
/// `sha512:` + 128 lowercase hex) and its id against [`MAX_EVENT_ID_BYTES`]. A bad event becomes
/// [`Action::Reject`] with a reason that quotes the bad value safely ([`excerpt`]); an oversize
/// id is dropped, so it is neither stored nor remembered for deduplication.
pub fn validate(mut ev: RegistryEvent) -> RegistryEvent {
    use crate::registry::reference::{valid_digest, valid_repository, valid_tag};
    let mut problems = Vec::new();
    if let Some(id) = &ev.id {
        if id.len() > MAX_EVENT_ID_BYTES {
            problems.push(format!(
                "event id is {} bytes, over the {MAX_EVENT_ID_BYTES}-byte limit",
                id.len()
            ));
            ev.id = None;
        }
    }
    if !ev.repository.is_empty() && !valid_repository(&ev.repository) {
        problems.push(format!(
            "repository {} is not a repository name (distribution spec: at most 255 characters, path components of lowercase letters and digits separated by '.', '_', '__' or '-', joined by '/')",
            excerpt(&ev.repository)
        ));
    }
    if let Some(t) = ev.tag.as_deref().filter(|t| !valid_tag(t)) {
        problems.push(format!(
            "tag {} is not a tag (distribution spec: [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})",
            excerpt(t)
        ));
    }
    if let Some(d) = ev.digest.as_deref().filter(|d| !valid_digest(d)) {
        problems.push(format!(
            "digest {} is not a digest (sha256: and 64 or sha512: and 128 lowercase hex digits)",
            excerpt(d)
        ));
    }
    if !problems.is_empty() {
        ev.action = Action::Reject(problems.join("; "));
    }
    ev
}

/// A bad value quoted for a reason: at most 64 characters, with anything but printable ASCII
/// escaped (`\u{202e}`), and its length when cut.
pub fn excerpt(s: &str) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        if i == 64 {
            out.push_str(&format!("…\" ({} bytes)", s.len()));
            return out;
        }
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// The host of a URL (`http://h:5000/v2/…` → `h:5000`).
pub fn url_host(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?;
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    })
}

/// The host of a reference-like string (`harbor.example.com/library/nginx:latest`,
/// `quay.io/ns/repo`) — its first path segment, if it looks like a host.
pub fn reference_host(reference: &str) -> Option<String> {
    let reference = reference.split_once("://").map(|(_, r)| r).unwrap_or(reference);
    let (first, _) = reference.split_once('/')?;
    crate::registry::reference::is_registry_host(first).then(|| first.to_owned())
}

/// The configured registry (its canonical `host`) that every host named by the event — or, when
/// the event names none, `fallback` (the endpoint's `?registry=`) — belongs to. Err with a
/// reason a person can act on otherwise.
pub fn resolve_registry(config: &Config, hosts: &[String], fallback: Option<&str>) -> Result<String, String> {
    let mut named: Vec<&str> = hosts.iter().map(String::as_str).filter(|h| !h.is_empty()).collect();
    if let Some(f) = fallback.filter(|f| !f.is_empty()) {
        named.push(f);
    }
    if named.is_empty() {
        return Err("the event names no registry host; add ?registry=HOST to the webhook URL".into());
    }
    let mut found: Option<&str> = None;
    for host in named {
        let Some(r) = config.registry(host) else {
            return Err(format!(
                "registry {host:?} is not configured; regscan only contacts the registries in its config"
            ));
        };
        match found {
            Some(prev) if prev != r.host => {
                return Err(format!(
                    "the event names two different registries ({prev} and {})",
                    r.host
                ));
            }
            _ => found = Some(&r.host),
        }
    }
    Ok(found.expect("at least one host").to_owned())
}

/// The job a push event becomes, on `registry` (as configured).
pub fn job_for(event: &RegistryEvent, registry: &str, endpoint: &str, id: String) -> Option<Job> {
    Some(Job {
        id,
        registry: registry.to_owned(),
        repository: event.repository.clone(),
        reference: event.reference()?.to_owned(),
        tag: event.tag.clone(),
        source: format!("webhook:{endpoint}"),
        force: false,
        attempt: 0,
    })
}

/// A fresh job id for events without one.
pub fn fresh_id(endpoint: &str) -> String {
    use rand::Rng;
    let n: u128 = rand::thread_rng().gen();
    format!("{endpoint}-{n:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RegistryConfig;

    fn config() -> Config {
        Config {
            registries: vec![
                RegistryConfig {
                    host: "127.0.0.1:5000".into(),
                    insecure: true,
                    aliases: vec!["registry.internal:5000".into()],
                    ..Default::default()
                },
                RegistryConfig {
                    host: "other.example".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn hosts_must_all_name_one_configured_registry() {
        let c = config();
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            resolve_registry(&c, &h(&["127.0.0.1:5000", "registry.internal:5000"]), None).unwrap(),
            "127.0.0.1:5000"
        );
        let err = resolve_registry(&c, &h(&["evil.example"]), None).unwrap_err();
        assert!(err.contains("evil.example") && err.contains("not configured"), "{err}");
        let err = resolve_registry(&c, &h(&["127.0.0.1:5000", "other.example"]), None).unwrap_err();
        assert!(err.contains("two different"), "{err}");
        assert!(resolve_registry(&c, &[], None).unwrap_err().contains("?registry="));
        assert_eq!(
            resolve_registry(&c, &[], Some("other.example")).unwrap(),
            "other.example"
        );
        // A fallback cannot widen what the payload names.
        assert!(resolve_registry(&c, &h(&["evil.example"]), Some("127.0.0.1:5000")).is_err());
    }

    fn event(repository: &str, tag: Option<&str>, digest: Option<&str>) -> RegistryEvent {
        RegistryEvent {
            id: Some("1".into()),
            raw_action: "push".into(),
            action: Action::Push,
            hosts: vec!["127.0.0.1:5000".into()],
            repository: repository.into(),
            digest: clean_digest(digest),
            tag: clean_tag(tag),
            media_type: None,
        }
    }

    #[test]
    fn bad_names_references_and_ids_are_rejected_with_a_safe_reason() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(validate(event("team/app", Some("1.0"), Some(&d))).action, Action::Push);
        let long = "a".repeat(5000);
        for (repo, tag, digest, says) in [
            (
                "../../../etc/passwd",
                None,
                Some(d.as_str()),
                "repository \"../../../etc/passwd\"",
            ),
            (
                "<script>alert(1)</script>",
                None,
                Some(d.as_str()),
                "repository \"<script>",
            ),
            ("a\r\nX-Injected: 1", None, Some(d.as_str()), "\\u{d}\\u{a}X-Injected"),
            (long.as_str(), None, Some(d.as_str()), "(5000 bytes)"),
            ("team/\u{202e}ppa", None, Some(d.as_str()), "team/\\u{202e}ppa"),
            ("Team/App", None, Some(d.as_str()), "\"Team/App\""),
            ("team/app", Some("-x"), None, "tag \"-x\""),
            ("team/app", Some(&"v".repeat(129)), None, "tag"),
            ("team/app", None, Some("sha256:00"), "digest \"sha256:00\""),
            ("team/app", None, Some("md5:d41d8cd98f00b204e9800998ecf8427e"), "digest"),
        ] {
            let ev = validate(event(repo, tag, digest));
            match &ev.action {
                Action::Reject(reason) => {
                    assert!(reason.contains(says), "{reason} should contain {says}");
                    assert!(
                        !reason.contains('\u{202e}') && !reason.contains('\r') && reason.len() < 400,
                        "{reason}"
                    );
                }
                other => panic!("{repo:?} {tag:?} {digest:?}: {other:?}"),
            }
        }
        let mut ev = event("team/app", Some("1.0"), None);
        ev.id = Some("x".repeat(300));
        let ev = validate(ev);
        assert!(
            matches!(&ev.action, Action::Reject(r) if r.contains("300 bytes")),
            "{:?}",
            ev.action
        );
        assert_eq!(ev.id, None, "an oversize id is not kept");
        let mut ev = event("team/app", Some("1.0"), None);
        ev.id = Some("x".repeat(256));
        assert_eq!(validate(ev).action, Action::Push);
    }

    #[test]
    fn hosts_are_found_in_urls_and_references() {
        assert_eq!(
            url_host("http://127.0.0.1:5000/v2/a/manifests/sha256:00").as_deref(),
            Some("127.0.0.1:5000")
        );
        assert_eq!(url_host("https://quay.io/v2/").as_deref(), Some("quay.io"));
        assert_eq!(
            reference_host("harbor.example.com/library/nginx:latest").as_deref(),
            Some("harbor.example.com")
        );
        assert_eq!(
            reference_host("localhost/harbor/alpine@sha256:95").as_deref(),
            Some("localhost")
        );
        assert_eq!(reference_host("library/nginx"), None);
        assert_eq!(clean_tag(Some("sha256:954b")), None);
        assert_eq!(clean_tag(Some(" v1 ")).as_deref(), Some("v1"));
        assert_eq!(
            clean_digest(Some(
                "sha256:ab00000000000000000000000000000000000000000000000000000000000000"
            ))
            .as_deref(),
            Some("sha256:ab00000000000000000000000000000000000000000000000000000000000000")
        );
        assert_eq!(
            clean_digest(Some("nonsense")).as_deref(),
            Some("nonsense"),
            "kept, to be rejected"
        );
        assert_eq!(clean_digest(Some(" ")), None);
    }
}
