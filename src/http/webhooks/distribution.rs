//! CNCF distribution / Docker registry notifications: an envelope `{"events": […]}` sent as
//! `application/vnd.docker.distribution.events.v1+json` (or `v2`, or plain `application/json`).
//!
//! Acted on: `push` of a manifest (→ scan) and `delete` (→ mark deleted). Ignored: blob pushes
//! (`target.url` has `/blobs/`, or media type `application/octet-stream`), `pull`, `mount`, and
//! any other action. The registry is named by `request.host` and the host of `target.url`.

use serde::Deserialize;

use super::event::{clean_digest, clean_tag, url_host, Action, RegistryEvent};
use super::PayloadError;

#[derive(Deserialize)]
struct Envelope {
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    id: Option<String>,
    action: String,
    #[serde(default)]
    target: Target,
    #[serde(default)]
    request: Request,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Target {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    tag: Option<String>,
}

#[derive(Deserialize, Default)]
struct Request {
    #[serde(default)]
    host: Option<String>,
}

/// Content types the endpoint accepts.
pub const CONTENT_TYPES: &[&str] = &[
    "application/vnd.docker.distribution.events.v1+json",
    "application/vnd.docker.distribution.events.v2+json",
    "application/json",
];

/// Parse an envelope into events.
pub fn parse(body: &[u8]) -> Result<Vec<RegistryEvent>, PayloadError> {
    let envelope: Envelope = serde_json::from_slice(body)?;
    Ok(envelope.events.into_iter().map(convert).collect())
}

fn convert(e: Event) -> RegistryEvent {
    let mut hosts = Vec::new();
    if let Some(h) = e.request.host.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
        hosts.push(h.to_owned());
    }
    if let Some(h) = e.target.url.as_deref().and_then(url_host) {
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    let is_blob = e.target.url.as_deref().is_some_and(|u| u.contains("/blobs/"))
        || e.target.media_type.as_deref() == Some("application/octet-stream");
    let digest = clean_digest(e.target.digest.as_deref());
    let tag = clean_tag(e.target.tag.as_deref());
    let repository = e.target.repository.unwrap_or_default();
    let action = match e.action.as_str() {
        "push" if is_blob => Action::Ignore("blob push (only manifests are scanned)".into()),
        "push" | "delete" if repository.is_empty() => {
            Action::Ignore(format!("{} event without target.repository", e.action))
        }
        "push" if digest.is_none() && tag.is_none() => {
            Action::Ignore("push event without target.digest or target.tag".into())
        }
        "push" => Action::Push,
        "delete" if digest.is_none() && tag.is_none() => {
            Action::Ignore("delete event without target.digest or target.tag".into())
        }
        "delete" => Action::Delete,
        "pull" => Action::Ignore("pull events are not scanned".into()),
        "mount" => Action::Ignore("blob mounts are not scanned".into()),
        other => Action::Ignore(format!("unknown action {other:?}")),
    };
    RegistryEvent {
        id: e.id.filter(|i| !i.is_empty()),
        raw_action: e.action,
        action,
        hosts,
        repository,
        digest,
        tag,
        media_type: e.target.media_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest push as distribution 2.8 sends it.
    pub const PUSH: &str = r#"{"events":[{
        "id":"320678d8-ca14-430f-8bb6-4ca139cd83f7","timestamp":"2016-03-09T14:44:26.402973972-08:00","action":"push",
        "target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":708,
          "digest":"sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf","length":708,
          "repository":"hello-world","url":"http://192.168.100.227:5000/v2/hello-world/manifests/sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf",
          "tag":"latest"},
        "request":{"id":"6df24a34-0959-4923-81ca-14f09767db19","addr":"192.168.64.11:42961","host":"192.168.100.227:5000","method":"PUT","useragent":"curl/7.38.0"},
        "actor":{},"source":{"addr":"xtal.local:5000","instanceID":"a53db899-3b4b-4a62-a067-8dd013beaca4"}}]}"#;

    #[test]
    fn a_manifest_push_is_a_push() {
        let ev = parse(PUSH.as_bytes()).unwrap();
        assert_eq!(ev.len(), 1);
        let e = &ev[0];
        assert_eq!(e.action, Action::Push);
        assert_eq!(e.id.as_deref(), Some("320678d8-ca14-430f-8bb6-4ca139cd83f7"));
        assert_eq!(e.hosts, vec!["192.168.100.227:5000".to_string()]);
        assert_eq!(e.repository, "hello-world");
        assert_eq!(e.tag.as_deref(), Some("latest"));
        assert_eq!(
            e.reference(),
            Some("sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf")
        );
    }

    #[test]
    fn blobs_pulls_mounts_and_unknown_actions_are_ignored_with_a_reason() {
        let body = r#"{"events":[
          {"id":"1","action":"push","target":{"mediaType":"application/octet-stream","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","repository":"r","url":"http://h:5000/v2/r/blobs/sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"request":{"host":"h:5000"}},
          {"id":"2","action":"pull","target":{"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","repository":"r"},"request":{"host":"h:5000"}},
          {"id":"3","action":"mount","target":{"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","repository":"r"},"request":{"host":"h:5000"}},
          {"id":"4","action":"frobnicate","target":{"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","repository":"r"},"request":{"host":"h:5000"}},
          {"id":"5","action":"delete","target":{"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","repository":"r"},"request":{"host":"h:5000"}}]}"#;
        let ev = parse(body.as_bytes()).unwrap();
        let reasons: Vec<String> = ev.iter().map(|e| format!("{:?}", e.action)).collect();
        assert!(reasons[0].contains("blob push"), "{reasons:?}");
        assert!(reasons[1].contains("pull"), "{reasons:?}");
        assert!(reasons[2].contains("mount"), "{reasons:?}");
        assert!(reasons[3].contains("frobnicate"), "{reasons:?}");
        assert_eq!(ev[4].action, Action::Delete);
    }

    #[test]
    fn malformed_envelopes_are_errors() {
        assert!(parse(b"{").is_err());
        assert!(parse(br#"{"event":[]}"#).is_err());
        assert!(parse(br#"{"events":[{"target":{}}]}"#).is_err(), "action is required");
        assert!(parse(br#"{"events":[]}"#).unwrap().is_empty());
    }
}
