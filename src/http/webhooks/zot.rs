//! zot events: CloudEvents (binary mode from zot's HTTP sink, structured also accepted) of type
//! `zotregistry.image.updated` (scanned), `zotregistry.image.deleted` (mark deleted) and others
//! (`zotregistry.repository.created`, `zotregistry.image.lint_failed`) ignored. `data` holds
//! `name` (repository), `reference` (tag or digest), `digest`, `mediaType` and `manifest`. zot
//! names no host, so the endpoint's `?registry=` says which registry sent it.

use axum::http::HeaderMap;
use serde::Deserialize;

use super::event::{clean_digest, clean_tag, Action, RegistryEvent};
use super::{cloudevents, PayloadError};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Data {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    media_type: Option<String>,
}

/// Parse a zot event.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Vec<RegistryEvent>, PayloadError> {
    let events = cloudevents::parse(headers, body)?
        .ok_or_else(|| PayloadError::Invalid("not a CloudEvent (no ce-* headers and no specversion)".into()))?;
    events
        .into_iter()
        .map(|ce| {
            let data: Data = if ce.data.is_null() {
                Data::default()
            } else {
                serde_json::from_value(ce.data)
                    .map_err(|e| PayloadError::Invalid(format!("zot event {} has no valid data: {e}", ce.id)))?
            };
            let repository = data.name.unwrap_or_default();
            // `reference` is a tag or, for a push by digest, the digest.
            let reference = data.reference.as_deref().map(str::trim).filter(|r| !r.is_empty());
            let by_digest = reference.is_some_and(|r| r.contains(':'));
            let digest = clean_digest(data.digest.as_deref()).or_else(|| clean_digest(reference.filter(|_| by_digest)));
            let tag = clean_tag(reference.filter(|_| !by_digest));
            let action = match ce.ty.as_str() {
                "zotregistry.image.updated" | "zotregistry.image.deleted" if repository.is_empty() => {
                    Action::Ignore(format!("{} event without data.name", ce.ty))
                }
                "zotregistry.image.updated" | "zotregistry.image.deleted" if digest.is_none() && tag.is_none() => {
                    Action::Ignore(format!("{} event without data.digest or data.reference", ce.ty))
                }
                "zotregistry.image.updated" => Action::Push,
                "zotregistry.image.deleted" => Action::Delete,
                other => Action::Ignore(format!("zot event type {other:?} is not acted on")),
            };
            Ok(RegistryEvent {
                id: Some(ce.id),
                raw_action: ce.ty,
                action,
                hosts: vec![],
                repository,
                digest,
                tag,
                media_type: data.media_type,
            })
        })
        .collect()
}
