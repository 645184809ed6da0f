//! Azure Container Registry webhooks: one event object per request (not an envelope), with
//! `action` `push` or `chart_push` (scanned), `delete`, `chart_delete` (mark deleted), and
//! others (`quarantine`, `ping`, …) ignored. The registry is `request.host`; chart events leave
//! it empty, so the endpoint's `?registry=` names it.

use serde::Deserialize;

use super::event::{clean_digest, clean_tag, Action, RegistryEvent};
use super::PayloadError;

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
    tag: Option<String>,
}

#[derive(Deserialize, Default)]
struct Request {
    #[serde(default)]
    host: Option<String>,
}

/// Parse an ACR webhook.
pub fn parse(body: &[u8]) -> Result<Vec<RegistryEvent>, PayloadError> {
    let e: Event = serde_json::from_slice(body)?;
    let repository = e.target.repository.unwrap_or_default();
    let digest = clean_digest(e.target.digest.as_deref());
    let tag = clean_tag(e.target.tag.as_deref());
    let action = match e.action.as_str() {
        "push" | "chart_push" | "delete" | "chart_delete" if repository.is_empty() => {
            Action::Ignore(format!("{} event without target.repository", e.action))
        }
        "push" | "chart_push" | "delete" | "chart_delete" if digest.is_none() && tag.is_none() => {
            Action::Ignore(format!("{} event without target.digest or target.tag", e.action))
        }
        "push" | "chart_push" => Action::Push,
        "delete" | "chart_delete" => Action::Delete,
        "ping" => Action::Ignore("ping".into()),
        other => Action::Ignore(format!("ACR action {other:?} is not acted on")),
    };
    Ok(vec![RegistryEvent {
        id: e.id.filter(|i| !i.is_empty()),
        raw_action: e.action,
        action,
        hosts: e
            .request
            .host
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .into_iter()
            .collect(),
        repository,
        digest,
        tag,
        media_type: e.target.media_type,
    }])
}
