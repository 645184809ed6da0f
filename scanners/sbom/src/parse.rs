//! Bounded parsing of SBOM documents: SPDX 2.x JSON, CycloneDX 1.x JSON, and either wrapped in
//! an in-toto statement, a DSSE envelope (base64 payload) or a Sigstore bundle.
//!
//! A first pass reads only the fields that say what a document is (everything else is skipped
//! without being kept); a second pass reads the format's fields regscan uses into typed structs.
//! serde_json refuses JSON nested deeper than 128 levels, so neither pass recurses without bound;
//! every array that is kept counts against one entry budget, so a document of a million empty
//! objects fails fast instead of filling memory; CycloneDX's nested components are walked with an
//! explicit stack under a depth limit.

use std::cell::Cell;
use std::marker::PhantomData;

use base64::Engine as _;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

/// Limits on one document.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// Array entries kept (packages, components, references, properties, tools), all arrays of
    /// the document together.
    pub max_entries: usize,
    /// Deepest CycloneDX component nesting (top-level components are depth 1).
    pub max_depth: usize,
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Malformed or not an SBOM.
    #[error("{0}")]
    Invalid(String),
    /// A limit was hit; the message names it.
    #[error("{0}")]
    Limit(String),
}

/// One package entry of a document, before mapping.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// The element: SPDXID, bom-ref or `components[2].components[0]`.
    pub element: String,
    /// Declared name (CycloneDX `group` is not part of it).
    pub name: String,
    /// Declared version.
    pub version: String,
    /// The purl, if declared.
    pub purl: Option<String>,
    /// Source package name and version declared outside the purl (Trivy's properties, SPDX
    /// `sourceInfo`).
    pub source: Option<(String, Option<String>)>,
}

/// A parsed SBOM document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Document {
    /// `SPDX` or `CycloneDX`.
    pub format: &'static str,
    /// `SPDX-2.3`, `1.5`.
    pub spec_version: String,
    /// Document name (SPDX `name`, CycloneDX `metadata.component.name`).
    pub name: Option<String>,
    /// SPDX `documentNamespace` or CycloneDX `serialNumber`.
    pub id: Option<String>,
    /// Tools that made it (`syft-0.100.0`, `trivy 0.50.0`).
    pub tools: Vec<String>,
    /// Wrappers around it, outermost first (`dsse`, `in-toto`).
    pub wrappers: Vec<&'static str>,
    /// The in-toto predicate type, when wrapped in a statement.
    pub predicate_type: Option<String>,
    /// Package entries.
    pub entries: Vec<Entry>,
    /// Operating systems the document declares (CycloneDX `operating-system` components, SPDX
    /// packages of purpose `OPERATING-SYSTEM`), as `name version`: not packages.
    pub operating_systems: Vec<String>,
}

/// What a blob held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// An SBOM.
    Sbom(Document),
    /// An in-toto statement whose predicate is not an SBOM (provenance…): its predicate type.
    OtherPredicate(String),
}

/// Predicate types whose predicate is an SPDX document.
pub fn is_spdx_predicate(p: &str) -> bool {
    p.starts_with("https://spdx.dev/Document")
}

/// Predicate types whose predicate is a CycloneDX BOM.
pub fn is_cyclonedx_predicate(p: &str) -> bool {
    p.starts_with("https://cyclonedx.org/bom")
}

/// Most wrappers (DSSE, in-toto, cosign's `Data`) around one document.
const MAX_WRAPPERS: usize = 4;

thread_local! {
    /// Array entries the document being parsed may still keep.
    static BUDGET: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Marks a serde error raised by the entry budget.
const BUDGET_MARK: &str = "regscan-entry-budget-exhausted";

/// A `Vec` whose entries count against the thread's [`BUDGET`].
#[derive(Debug, Default)]
struct Capped<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Capped<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Capped<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element()? {
                    let left = BUDGET.with(Cell::get);
                    if left == 0 {
                        return Err(de::Error::custom(BUDGET_MARK));
                    }
                    BUDGET.with(|b| b.set(left - 1));
                    out.push(x);
                }
                Ok(Capped(out))
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

impl<T> Capped<T> {
    fn into_vec(this: Option<Self>) -> Vec<T> {
        this.map(|c| c.0).unwrap_or_default()
    }
}

/// First pass: what is this?
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "spdxVersion")]
    spdx_version: Option<String>,
    #[serde(rename = "bomFormat")]
    bom_format: Option<String>,
    #[serde(rename = "_type")]
    statement_type: Option<String>,
    #[serde(rename = "predicateType")]
    predicate_type: Option<String>,
    #[serde(rename = "payloadType")]
    payload_type: Option<String>,
    payload: Option<String>,
    #[serde(rename = "dsseEnvelope")]
    dsse_envelope: Option<DsseEnvelope>,
    #[serde(rename = "Data")]
    data: Option<String>,
}

#[derive(Deserialize)]
struct DsseEnvelope {
    payload: String,
}

#[derive(Deserialize)]
struct Statement<T> {
    predicate: T,
}

#[derive(Deserialize)]
struct SpdxDoc {
    #[serde(rename = "spdxVersion")]
    spdx_version: Option<String>,
    name: Option<String>,
    #[serde(rename = "documentNamespace")]
    document_namespace: Option<String>,
    #[serde(rename = "creationInfo")]
    creation_info: Option<SpdxCreationInfo>,
    packages: Option<Capped<SpdxPackage>>,
    #[serde(rename = "Data")]
    data: Option<String>,
}

#[derive(Deserialize)]
struct SpdxCreationInfo {
    creators: Option<Capped<String>>,
}

#[derive(Deserialize)]
struct SpdxPackage {
    #[serde(rename = "SPDXID")]
    spdx_id: Option<String>,
    name: Option<String>,
    #[serde(rename = "versionInfo")]
    version_info: Option<String>,
    #[serde(rename = "externalRefs")]
    external_refs: Option<Capped<SpdxExternalRef>>,
    #[serde(rename = "sourceInfo")]
    source_info: Option<String>,
    #[serde(rename = "primaryPackagePurpose")]
    purpose: Option<String>,
}

#[derive(Deserialize)]
struct SpdxExternalRef {
    #[serde(rename = "referenceType")]
    reference_type: Option<String>,
    #[serde(rename = "referenceLocator")]
    reference_locator: Option<String>,
}

#[derive(Deserialize)]
struct CdxDoc {
    #[serde(rename = "bomFormat")]
    bom_format: Option<String>,
    #[serde(rename = "specVersion")]
    spec_version: Option<String>,
    #[serde(rename = "serialNumber")]
    serial_number: Option<String>,
    metadata: Option<CdxMetadata>,
    components: Option<Capped<CdxComponent>>,
    #[serde(rename = "Data")]
    data: Option<String>,
}

#[derive(Deserialize)]
struct CdxMetadata {
    tools: Option<CdxTools>,
    component: Option<CdxComponent>,
}

#[derive(Deserialize)]
struct CdxTool {
    name: Option<String>,
    version: Option<String>,
}

/// CycloneDX 1.4's array of tools, or 1.5's `{components, services}`.
#[derive(Default)]
struct CdxTools(Vec<CdxTool>);

impl<'de> Deserialize<'de> for CdxTools {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CdxTools;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of tools or an object of tool components and services")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<CdxTools, A::Error> {
                let c: Capped<CdxTool> = Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(CdxTools(c.0))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<CdxTools, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "components" || key == "services" {
                        out.extend(Capped::into_vec(map.next_value::<Option<Capped<CdxTool>>>()?));
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(CdxTools(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct CdxComponent {
    #[serde(rename = "type")]
    ty: Option<String>,
    name: Option<String>,
    version: Option<String>,
    group: Option<String>,
    purl: Option<String>,
    #[serde(rename = "bom-ref")]
    bom_ref: Option<String>,
    components: Option<Capped<CdxComponent>>,
    properties: Option<Capped<CdxProperty>>,
}

#[derive(Deserialize)]
struct CdxProperty {
    name: Option<String>,
    value: Option<String>,
}

/// Deserialize `T` from `bytes` under the entry budget, mapping serde's errors.
fn from_slice<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str, budget: usize) -> Result<T, ParseError> {
    BUDGET.with(|b| b.set(budget));
    let r = serde_json::from_slice::<T>(bytes);
    BUDGET.with(|b| b.set(usize::MAX));
    r.map_err(|e| {
        let msg = e.to_string();
        if msg.contains(BUDGET_MARK) {
            ParseError::Limit(format!(
                "{what} has more than {budget} array entries (packages, components, references, properties) (max_entries)"
            ))
        } else if msg.starts_with("recursion limit exceeded") {
            ParseError::Limit(format!(
                "{what} nests JSON deeper than 128 levels ({})",
                msg.trim_start_matches("recursion limit exceeded ")
            ))
        } else {
            ParseError::Invalid(format!("{what} is not valid JSON of its format: {msg}"))
        }
    })
}

/// Decode a DSSE payload (standard or URL-safe base64, padded or not).
fn decode_payload(payload: &str) -> Result<Vec<u8>, ParseError> {
    let p = payload.trim().trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(p)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p))
        .map_err(|e| ParseError::Invalid(format!("DSSE payload is not base64: {e}")))
}

/// Parse one blob.
pub fn parse(bytes: &[u8], limits: &ParseLimits) -> Result<Parsed, ParseError> {
    parse_wrapped(bytes, limits, Vec::new(), None)
}

fn parse_wrapped(
    bytes: &[u8],
    limits: &ParseLimits,
    mut wrappers: Vec<&'static str>,
    predicate_type: Option<String>,
) -> Result<Parsed, ParseError> {
    if wrappers.len() > MAX_WRAPPERS {
        return Err(ParseError::Invalid(format!(
            "more than {MAX_WRAPPERS} wrappers (DSSE, in-toto, Data) around the document"
        )));
    }
    let first = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace() && **b != 0xEF && **b != 0xBB && **b != 0xBF);
    match first {
        Some(b'{') => {}
        Some(b'<') => {
            return Err(ParseError::Invalid(
                "the document is XML; only SPDX and CycloneDX JSON are read".into(),
            ))
        }
        None => return Err(ParseError::Invalid("the document is empty".into())),
        Some(_) => {
            return Err(ParseError::Invalid(
                "the document is not a JSON object (SPDX tag-value is not read; only SPDX and CycloneDX JSON are)"
                    .into(),
            ))
        }
    }
    let bytes = strip_bom(bytes);
    let probe: Probe = from_slice(bytes, "the document", limits.max_entries)?;
    if let Some(env) = probe.dsse_envelope {
        wrappers.push("sigstore-bundle");
        let payload = decode_payload(&env.payload)?;
        wrappers.push("dsse");
        return parse_wrapped(&payload, limits, wrappers, predicate_type);
    }
    if let (Some(payload), Some(_)) = (&probe.payload, &probe.payload_type) {
        let payload = decode_payload(payload)?;
        wrappers.push("dsse");
        return parse_wrapped(&payload, limits, wrappers, predicate_type);
    }
    if probe.spdx_version.is_some() {
        return spdx(bytes, limits, wrappers, predicate_type);
    }
    if probe
        .bom_format
        .as_deref()
        .is_some_and(|f| f.eq_ignore_ascii_case("CycloneDX"))
    {
        return cyclonedx(bytes, limits, wrappers, predicate_type);
    }
    if let Some(pt) = probe.predicate_type.clone() {
        if probe.statement_type.is_none() && wrappers.is_empty() {
            return Err(ParseError::Invalid(
                "a predicateType without an in-toto _type: not an in-toto statement".into(),
            ));
        }
        wrappers.push("in-toto");
        if is_spdx_predicate(&pt) {
            let s: Statement<SpdxDoc> = from_slice(bytes, "the in-toto SPDX predicate", limits.max_entries)?;
            return spdx_doc(s.predicate, limits, wrappers, Some(pt));
        }
        if is_cyclonedx_predicate(&pt) {
            let s: Statement<CdxDoc> = from_slice(bytes, "the in-toto CycloneDX predicate", limits.max_entries)?;
            return cdx_doc(s.predicate, limits, wrappers, Some(pt));
        }
        return Ok(Parsed::OtherPredicate(pt));
    }
    if let Some(data) = probe.data {
        wrappers.push("data");
        return parse_wrapped(data.as_bytes(), limits, wrappers, predicate_type);
    }
    Err(ParseError::Invalid(
        "neither SPDX (no spdxVersion) nor CycloneDX (no bomFormat) nor an in-toto statement or DSSE envelope".into(),
    ))
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(b)
}

fn spdx(
    bytes: &[u8],
    limits: &ParseLimits,
    wrappers: Vec<&'static str>,
    pt: Option<String>,
) -> Result<Parsed, ParseError> {
    let doc: SpdxDoc = from_slice(bytes, "the SPDX document", limits.max_entries)?;
    spdx_doc(doc, limits, wrappers, pt)
}

fn spdx_doc(
    doc: SpdxDoc,
    limits: &ParseLimits,
    mut wrappers: Vec<&'static str>,
    pt: Option<String>,
) -> Result<Parsed, ParseError> {
    let Some(version) = doc.spdx_version else {
        if let Some(data) = doc.data {
            wrappers.push("data");
            return parse_wrapped(data.as_bytes(), limits, wrappers, pt);
        }
        return Err(ParseError::Invalid("the SPDX predicate has no spdxVersion".into()));
    };
    if !version.starts_with("SPDX-2.") {
        return Err(ParseError::Invalid(format!(
            "spdxVersion {version:?} is not read (SPDX 2.2 and 2.3 JSON are)"
        )));
    }
    let tools = doc
        .creation_info
        .map(|c| Capped::into_vec(c.creators))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.strip_prefix("Tool:").map(|t| t.trim().to_owned()))
        .collect();
    let mut operating_systems = Vec::new();
    let entries = Capped::into_vec(doc.packages)
        .into_iter()
        .enumerate()
        .filter(|(_, p)| {
            let os = p.purpose.as_deref() == Some("OPERATING-SYSTEM");
            if os {
                operating_systems.push(os_name(p.name.as_deref(), p.version_info.as_deref()));
            }
            !os
        })
        .map(|(i, p)| {
            let purl = Capped::into_vec(p.external_refs)
                .into_iter()
                .find(|r| {
                    r.reference_type
                        .as_deref()
                        .is_some_and(|t| t.eq_ignore_ascii_case("purl"))
                })
                .and_then(|r| r.reference_locator);
            Entry {
                element: p.spdx_id.unwrap_or_else(|| format!("packages[{i}]")),
                name: p.name.unwrap_or_default(),
                version: p.version_info.unwrap_or_default(),
                purl,
                source: p.source_info.as_deref().and_then(spdx_source_info),
            }
        })
        .collect();
    Ok(Parsed::Sbom(Document {
        format: "SPDX",
        spec_version: version,
        name: doc.name,
        id: doc.document_namespace,
        tools,
        wrappers,
        predicate_type: pt,
        entries,
        operating_systems,
    }))
}

fn os_name(name: Option<&str>, version: Option<&str>) -> String {
    format!("{} {}", name.unwrap_or(""), version.unwrap_or(""))
        .trim()
        .to_owned()
}

/// Trivy's `sourceInfo: "built package from: glibc 2.36-9+deb12u4"`.
fn spdx_source_info(s: &str) -> Option<(String, Option<String>)> {
    let rest = s.trim().strip_prefix("built package from:")?.trim();
    let mut parts = rest.split_whitespace();
    let name = parts.next()?.to_owned();
    Some((name, parts.next().map(str::to_owned)))
}

fn cyclonedx(
    bytes: &[u8],
    limits: &ParseLimits,
    wrappers: Vec<&'static str>,
    pt: Option<String>,
) -> Result<Parsed, ParseError> {
    let doc: CdxDoc = from_slice(bytes, "the CycloneDX document", limits.max_entries)?;
    cdx_doc(doc, limits, wrappers, pt)
}

fn cdx_doc(
    doc: CdxDoc,
    limits: &ParseLimits,
    mut wrappers: Vec<&'static str>,
    pt: Option<String>,
) -> Result<Parsed, ParseError> {
    if doc.bom_format.is_none() {
        if let Some(data) = doc.data {
            wrappers.push("data");
            return parse_wrapped(data.as_bytes(), limits, wrappers, pt);
        }
        return Err(ParseError::Invalid("the CycloneDX predicate has no bomFormat".into()));
    }
    let version = doc.spec_version.unwrap_or_default();
    if !version.starts_with("1.") {
        return Err(ParseError::Invalid(format!(
            "CycloneDX specVersion {version:?} is not read (1.4 to 1.6 JSON are)"
        )));
    }
    let (tools, name) = match doc.metadata {
        Some(m) => (
            m.tools
                .unwrap_or_default()
                .0
                .into_iter()
                .filter_map(|t| {
                    let name = t.name?;
                    Some(match t.version {
                        Some(v) => format!("{name}-{v}"),
                        None => name,
                    })
                })
                .collect(),
            m.component.and_then(|c| c.name),
        ),
        None => (Vec::new(), None),
    };
    let mut entries = Vec::new();
    let mut operating_systems = Vec::new();
    // Explicit stack: (component, depth, path), top-level components first in document order.
    let mut stack: Vec<(CdxComponent, usize, String)> = Capped::into_vec(doc.components)
        .into_iter()
        .enumerate()
        .rev()
        .map(|(i, c)| (c, 1, format!("components[{i}]")))
        .collect();
    while let Some((mut c, depth, path)) = stack.pop() {
        if depth > limits.max_depth {
            return Err(ParseError::Limit(format!(
                "CycloneDX components nest deeper than {} levels at {path} (max_depth)",
                limits.max_depth
            )));
        }
        for (i, child) in Capped::into_vec(c.components.take()).into_iter().enumerate().rev() {
            stack.push((child, depth + 1, format!("{path}.components[{i}]")));
        }
        if c.ty.as_deref() == Some("operating-system") {
            operating_systems.push(os_name(c.name.as_deref(), c.version.as_deref()));
            continue;
        }
        let props = Capped::into_vec(c.properties);
        let prop = |k: &str| {
            props
                .iter()
                .find(|p| p.name.as_deref() == Some(k))
                .and_then(|p| p.value.clone())
                .filter(|v| !v.is_empty())
        };
        let source = prop("aquasecurity:trivy:SrcName").map(|n| {
            let v = prop("aquasecurity:trivy:SrcVersion").map(|v| {
                let v = match prop("aquasecurity:trivy:SrcRelease") {
                    Some(r) => format!("{v}-{r}"),
                    None => v,
                };
                match prop("aquasecurity:trivy:SrcEpoch").filter(|e| e != "0") {
                    Some(e) => format!("{e}:{v}"),
                    None => v,
                }
            });
            (n, v)
        });
        let name = match (c.group.filter(|g| !g.is_empty()), c.name) {
            (Some(g), Some(n)) => format!("{g}/{n}"),
            (_, n) => n.unwrap_or_default(),
        };
        entries.push(Entry {
            element: c.bom_ref.filter(|r| !r.is_empty()).unwrap_or(path),
            name,
            version: c.version.unwrap_or_default(),
            purl: c.purl.filter(|p| !p.is_empty()),
            source,
        });
    }
    Ok(Parsed::Sbom(Document {
        format: "CycloneDX",
        spec_version: version,
        name,
        id: doc.serial_number,
        tools,
        wrappers,
        predicate_type: pt,
        entries,
        operating_systems,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ParseLimits = ParseLimits {
        max_entries: 1000,
        max_depth: 8,
    };

    fn sbom(json: &str) -> Document {
        match parse(json.as_bytes(), &LIMITS).unwrap() {
            Parsed::Sbom(d) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cyclonedx_nested_components_in_document_order() {
        let d = sbom(
            r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[
                {"type":"operating-system","name":"debian","version":"12.5"},
                {"name":"a","components":[{"name":"a1"},{"name":"a2","components":[{"name":"a2x"}]}]},
                {"name":"b","group":"g"}]}"#,
        );
        let names: Vec<_> = d.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "a1", "a2", "a2x", "g/b"]);
        assert_eq!(d.entries[3].element, "components[1].components[1].components[0]");
        assert_eq!(d.operating_systems, ["debian 12.5"], "an OS is not a package");
    }

    #[test]
    fn limits_name_themselves() {
        let deep = format!(
            r#"{{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{}{}]}}"#,
            r#"{"name":"x","components":["#.repeat(9),
            "]}".repeat(9)
        );
        let e = parse(deep.as_bytes(), &LIMITS).unwrap_err();
        assert!(matches!(&e, ParseError::Limit(m) if m.contains("max_depth")), "{e}");
        let many = format!(
            r#"{{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{}]}}"#,
            vec!["{}"; 1001].join(",")
        );
        let e = parse(many.as_bytes(), &LIMITS).unwrap_err();
        assert!(matches!(&e, ParseError::Limit(m) if m.contains("max_entries")), "{e}");
        // Nesting past serde_json's recursion limit fails before the depth limit is reached.
        let lax = ParseLimits {
            max_depth: 10_000,
            ..LIMITS
        };
        let e = parse(deep.as_bytes(), &lax).map(|_| ());
        assert!(e.is_ok(), "9 levels are fine under a lax limit: {e:?}");
        let deeper = format!(
            r#"{{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{}{}]}}"#,
            r#"{"components":["#.repeat(100),
            "]}".repeat(100)
        );
        let e = parse(deeper.as_bytes(), &lax).unwrap_err();
        assert!(matches!(&e, ParseError::Limit(m) if m.contains("128")), "{e}");
        // Ignored fields are skipped without recursion (serde_json walks them iteratively).
        let nested = format!(
            r#"{{"spdxVersion":"SPDX-2.3","x":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(parse(nested.as_bytes(), &LIMITS).is_ok());
    }

    #[test]
    fn not_an_sbom() {
        for (doc, words) in [
            ("<bom/>", "XML"),
            ("SPDXVersion: SPDX-2.3", "tag-value"),
            ("", "empty"),
            (r#"{"hello":1}"#, "neither"),
            (r#"{"spdxVersion":"SPDX-3.0"}"#, "SPDX-3.0"),
            (r#"{"spdxVersion":"SPDX-2.3","packages":{}}"#, "not valid JSON"),
            (r#"{"payloadType":"x","payload":"!!!"}"#, "base64"),
        ] {
            let e = parse(doc.as_bytes(), &LIMITS).unwrap_err();
            assert!(matches!(e, ParseError::Invalid(_)), "{doc}: {e}");
            assert!(e.to_string().contains(words), "{doc}: {e}");
        }
    }

    #[test]
    fn wrapper_nesting_is_bounded() {
        let mut doc = r#"{"spdxVersion":"SPDX-2.3"}"#.to_owned();
        for _ in 0..6 {
            doc = serde_json::json!({"payloadType": "application/vnd.in-toto+json", "payload": base64::engine::general_purpose::STANDARD.encode(&doc)}).to_string();
        }
        let e = parse(doc.as_bytes(), &LIMITS).unwrap_err();
        assert!(e.to_string().contains("wrappers"), "{e}");
    }

    #[test]
    fn sigstore_bundle_and_byte_order_mark() {
        let statement = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "predicateType": "https://cyclonedx.org/bom/v1.6",
            "predicate": {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": "a", "purl": "pkg:npm/a@1.0.0"}]}
        });
        let bundle = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {},
            "dsseEnvelope": {
                "payloadType": "application/vnd.in-toto+json",
                "payload": base64::engine::general_purpose::STANDARD.encode(statement.to_string()),
                "signatures": []
            }
        });
        let d = sbom(&bundle.to_string());
        assert_eq!(d.wrappers, ["sigstore-bundle", "dsse", "in-toto"]);
        assert_eq!(d.predicate_type.as_deref(), Some("https://cyclonedx.org/bom/v1.6"));
        assert_eq!(d.entries[0].purl.as_deref(), Some("pkg:npm/a@1.0.0"));
        let d = sbom("\u{feff}{\"spdxVersion\":\"SPDX-2.2\",\"packages\":[{\"name\":\"x\"}]}");
        assert_eq!((d.format, d.entries[0].element.as_str()), ("SPDX", "packages[0]"));
        // A statement of another predicate is said to be one, not an error.
        let other = serde_json::json!({"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://slsa.dev/provenance/v1", "predicate": {}});
        assert_eq!(
            parse(other.to_string().as_bytes(), &LIMITS).unwrap(),
            Parsed::OtherPredicate("https://slsa.dev/provenance/v1".into())
        );
    }

    #[test]
    fn trivy_source_hints() {
        assert_eq!(
            spdx_source_info("built package from: glibc 2.36-9+deb12u4"),
            Some(("glibc".into(), Some("2.36-9+deb12u4".into())))
        );
        let d = sbom(
            r#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"name":"libc6","version":"2.36-9+deb12u4","properties":[
            {"name":"aquasecurity:trivy:SrcName","value":"glibc"},{"name":"aquasecurity:trivy:SrcVersion","value":"2.36"},
            {"name":"aquasecurity:trivy:SrcRelease","value":"9+deb12u4"}]}]}"#,
        );
        assert_eq!(
            d.entries[0].source,
            Some(("glibc".into(), Some("2.36-9+deb12u4".into())))
        );
    }
}
