//! Quay `repo_push` notifications: `repository`, `docker_url` (`quay.io/ns/repo`: its first
//! segment is the registry host) and `updated_tags[]`. There is no digest (each tag is resolved
//! when scanned) and no event id (a payload repeated for a later push of the same tag is
//! identical, so these events are never deduplicated).

use serde::Deserialize;

use super::event::{clean_tag, reference_host, Action, RegistryEvent};
use super::PayloadError;

#[derive(Deserialize)]
struct Push {
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    docker_url: Option<String>,
    #[serde(default)]
    updated_tags: Option<Vec<String>>,
}

/// Parse a Quay notification.
pub fn parse(body: &[u8]) -> Result<Vec<RegistryEvent>, PayloadError> {
    let p: Push = serde_json::from_slice(body)?;
    let repository = p
        .repository
        .filter(|r| !r.is_empty())
        .ok_or_else(|| PayloadError::Invalid("Quay notification without repository".into()))?;
    let hosts: Vec<String> = p.docker_url.as_deref().and_then(reference_host).into_iter().collect();
    let Some(tags) = p.updated_tags else {
        return Ok(vec![RegistryEvent {
            id: None,
            raw_action: "notification".into(),
            action: Action::Ignore("not a repo_push notification (no updated_tags)".into()),
            hosts,
            repository,
            digest: None,
            tag: None,
            media_type: None,
        }]);
    };
    Ok(tags
        .iter()
        .map(|t| {
            let tag = clean_tag(Some(t));
            RegistryEvent {
                id: None,
                raw_action: "repo_push".into(),
                action: if tag.is_some() {
                    Action::Push
                } else {
                    Action::Ignore(format!("tag {t:?} is not a tag"))
                },
                hosts: hosts.clone(),
                repository: repository.clone(),
                digest: None,
                tag,
                media_type: None,
            }
        })
        .collect())
}
