//! CloudEvents 1.0 over HTTP, as Harbor (structured mode) and zot (binary mode, via the Go SDK)
//! send them: structured (`application/cloudevents+json`, the event as a JSON object), batch
//! (`application/cloudevents-batch+json`, an array), and binary (`ce-*` headers, the body is
//! `data`).

use axum::http::HeaderMap;
use serde::Deserialize;

use super::PayloadError;

/// One CloudEvent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CloudEvent {
    /// `id`.
    pub id: String,
    /// `type`, e.g. `harbor.artifact.pushed`.
    #[serde(rename = "type")]
    pub ty: String,
    /// `source`.
    #[serde(default)]
    pub source: Option<String>,
    /// `data` (JSON).
    #[serde(default)]
    pub data: serde_json::Value,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The CloudEvents in a request, or `None` when the request is not a CloudEvent at all (so the
/// caller can try the product's own format).
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Option<Vec<CloudEvent>>, PayloadError> {
    let content_type = header(headers, "content-type").unwrap_or("").to_ascii_lowercase();
    if content_type.starts_with("application/cloudevents-batch+json") {
        return Ok(Some(serde_json::from_slice::<Vec<CloudEvent>>(body)?));
    }
    if content_type.starts_with("application/cloudevents+json") {
        return Ok(Some(vec![serde_json::from_slice::<CloudEvent>(body)?]));
    }
    if header(headers, "ce-specversion").is_some() {
        let id = header(headers, "ce-id")
            .ok_or_else(|| PayloadError::Invalid("CloudEvent without a ce-id header".into()))?;
        let ty = header(headers, "ce-type")
            .ok_or_else(|| PayloadError::Invalid("CloudEvent without a ce-type header".into()))?;
        let data = if body.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(body)?
        };
        return Ok(Some(vec![CloudEvent {
            id: id.to_owned(),
            ty: ty.to_owned(),
            source: header(headers, "ce-source").map(str::to_owned),
            data,
        }]));
    }
    // Structured mode sent as plain application/json.
    let value: serde_json::Value = serde_json::from_slice(body)?;
    if value.get("specversion").is_some() {
        return Ok(Some(vec![serde_json::from_value(value)?]));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_structured_and_batch_modes() {
        let mut h = HeaderMap::new();
        h.insert("ce-specversion", "1.0".parse().unwrap());
        h.insert("ce-id", "abc".parse().unwrap());
        h.insert("ce-type", "zotregistry.image.updated".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        let ev = parse(&h, br#"{"name":"a"}"#).unwrap().unwrap();
        assert_eq!(ev[0].ty, "zotregistry.image.updated");
        assert_eq!(ev[0].data["name"], "a");

        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            "application/cloudevents+json; charset=utf-8".parse().unwrap(),
        );
        let ev = parse(
            &h,
            br#"{"specversion":"1.0","id":"1","type":"t","source":"/s","data":{"x":1}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!((ev[0].id.as_str(), ev[0].source.as_deref()), ("1", Some("/s")));

        let mut h = HeaderMap::new();
        h.insert("content-type", "application/cloudevents-batch+json".parse().unwrap());
        let ev = parse(&h, br#"[{"id":"1","type":"t"},{"id":"2","type":"t"}]"#)
            .unwrap()
            .unwrap();
        assert_eq!(ev.len(), 2);

        assert!(parse(&HeaderMap::new(), br#"{"type":"PUSH_ARTIFACT"}"#)
            .unwrap()
            .is_none());
        let mut h = HeaderMap::new();
        h.insert("ce-specversion", "1.0".parse().unwrap());
        assert!(parse(&h, b"{}").unwrap_err().to_string().contains("ce-id"));
    }
}
