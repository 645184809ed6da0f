//! Harbor webhooks: the default JSON payload (`type: PUSH_ARTIFACT`, `occur_at`,
//! `event_data.resources[]`, `event_data.repository`) and the CloudEvents format
//! (`type: harbor.artifact.pushed`, `data.resources[]`, `data.repository`).
//!
//! Each resource (`digest`, `tag`, `resource_url`) is one event; the registry host is the first
//! segment of `resource_url`. Pushes are scanned, deletions mark deleted, everything else
//! (pulls, scan results, quota, replication) is ignored. The default payload has no event id:
//! the deduplication key is built from `occur_at`, the repository and the resource.

use axum::http::HeaderMap;
use serde::Deserialize;

use super::event::{clean_digest, clean_tag, reference_host, Action, RegistryEvent};
use super::{cloudevents, PayloadError};

#[derive(Deserialize)]
struct Default {
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    occur_at: Option<i64>,
    event_data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    #[serde(default)]
    resources: Vec<Resource>,
    #[serde(default)]
    repository: Option<Repository>,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    resource_url: Option<String>,
}

#[derive(Deserialize)]
struct Repository {
    #[serde(default)]
    repo_full_name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

fn action_of(ty: &str) -> Action {
    match ty {
        "PUSH_ARTIFACT" | "harbor.artifact.pushed" => Action::Push,
        "DELETE_ARTIFACT" | "harbor.artifact.deleted" => Action::Delete,
        "PULL_ARTIFACT" | "harbor.artifact.pulled" => Action::Ignore("pull events are not scanned".into()),
        other => Action::Ignore(format!("Harbor event type {other:?} is not acted on")),
    }
}

/// Parse a Harbor webhook (either format).
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Vec<RegistryEvent>, PayloadError> {
    if let Some(events) = cloudevents::parse(headers, body)? {
        let mut out = Vec::new();
        for ce in events {
            let data: EventData = serde_json::from_value(ce.data)
                .map_err(|e| PayloadError::Invalid(format!("Harbor CloudEvent {} has no valid data: {e}", ce.id)))?;
            let id = ce.id;
            out.extend(convert(&ce.ty, data, |i, n, _| {
                Some(if n == 1 { id.clone() } else { format!("{id}#{i}") })
            })?);
        }
        return Ok(out);
    }
    let payload: Default = serde_json::from_slice(body)?;
    let occur_at = payload.occur_at;
    // No id in this format: Harbor resends the same payload, so the time and what it names is
    // a stable key.
    convert(&payload.ty, payload.event_data, |_, _, what| {
        occur_at.map(|t| {
            let id = format!("harbor:{t}:{what}");
            // Long names would make an id over the 256-byte limit: use their hash instead.
            if id.len() > super::event::MAX_EVENT_ID_BYTES {
                use sha2::Digest as _;
                format!(
                    "harbor:{t}:sha256:{}",
                    hex::encode(sha2::Sha256::digest(what.as_bytes()))
                )
            } else {
                id
            }
        })
    })
}

fn convert(
    ty: &str,
    data: EventData,
    id: impl Fn(usize, usize, &str) -> Option<String>,
) -> Result<Vec<RegistryEvent>, PayloadError> {
    let repository = data
        .repository
        .as_ref()
        .and_then(|r| {
            r.repo_full_name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| match (&r.namespace, &r.name) {
                    (Some(ns), Some(n)) if !ns.is_empty() && !n.is_empty() => Some(format!("{ns}/{n}")),
                    _ => None,
                })
        })
        .ok_or_else(|| PayloadError::Invalid("Harbor event without event_data.repository.repo_full_name".into()))?;
    let action = action_of(ty);
    let n = data.resources.len();
    if n == 0 && action != Action::Push && action != Action::Delete {
        return Ok(vec![RegistryEvent {
            id: None,
            raw_action: ty.to_owned(),
            action,
            hosts: vec![],
            repository,
            digest: None,
            tag: None,
            media_type: None,
        }]);
    }
    if n == 0 {
        return Err(PayloadError::Invalid(format!(
            "Harbor {ty} event without event_data.resources"
        )));
    }
    Ok(data
        .resources
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let digest = clean_digest(r.digest.as_deref());
            let tag = clean_tag(r.tag.as_deref());
            let mut action = action.clone();
            if matches!(action, Action::Push | Action::Delete) && digest.is_none() && tag.is_none() {
                action = Action::Ignore("resource without digest or tag".into());
            }
            let what = format!("{repository}@{}", digest.as_deref().or(tag.as_deref()).unwrap_or(""));
            RegistryEvent {
                id: id(i, n, &what),
                raw_action: ty.to_owned(),
                action,
                hosts: r.resource_url.as_deref().and_then(reference_host).into_iter().collect(),
                repository: repository.clone(),
                digest,
                tag,
                media_type: None,
            }
        })
        .collect())
}
