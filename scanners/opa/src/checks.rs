//! The bundle analysis: from an unpacked file set to findings and report details.
//!
//! Order: `.manifest` (roots, dialect, wasm), data documents (roots, credentials), Rego modules
//! (syntax, dialect, packages outside roots, risky built-ins, credentials in literals), wasm
//! modules, then `.signatures.json`. Content OPA itself would refuse to load (a `.manifest` or
//! data document that does not parse) fails the scan with a reason naming the file; problems in
//! policies are findings.

use std::collections::{BTreeMap, BTreeSet};

use regscan_scanner_api::{Finding, ScanError, ScanOutput, Severity};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::bundle::BundleFiles;
use crate::config::{BundleLimits, Verifier};
use crate::data;
use crate::manifest::{overlapping_roots, within_roots, BundleManifest};
use crate::rego::{self, Dialect, LiteralValue, ModuleInfo, Parsed};
use crate::secrets::{classify_value, mask};
use crate::signatures::{self, SIGNATURES_FILE};

/// A built-in a policy reviewer wants to see.
struct Risky {
    name: &'static str,
    id: &'static str,
    severity: Severity,
    why: &'static str,
    fix: &'static str,
}

const RISKY: &[Risky] = &[
    Risky {
        name: "http.send",
        id: "OPA-NET-BUILTIN",
        severity: Severity::High,
        why: "makes HTTP requests during evaluation (exfiltration, SSRF, decisions that depend on a remote service)",
        fix: "Load external data into OPA as bundle data instead of fetching it from policy.",
    },
    Risky {
        name: "net.lookup_ip_addr",
        id: "OPA-NET-BUILTIN",
        severity: Severity::High,
        why: "performs DNS lookups during evaluation",
        fix: "Resolve addresses outside the policy and pass them as input.",
    },
    Risky {
        name: "opa.runtime",
        id: "OPA-RUNTIME-BUILTIN",
        severity: Severity::Medium,
        why: "reads OPA's runtime configuration and environment variables",
        fix: "Pass the needed values as data; do not read the environment from policy.",
    },
    Risky {
        name: "rego.parse_module",
        id: "OPA-RUNTIME-BUILTIN",
        severity: Severity::Medium,
        why: "parses Rego code supplied at evaluation time",
        fix: "Avoid evaluating or inspecting code that comes from input.",
    },
    Risky {
        name: "net.cidr_expand",
        id: "OPA-DOS-BUILTIN",
        severity: Severity::Low,
        why: "can expand a large CIDR into millions of addresses",
        fix: "Use net.cidr_contains instead of expanding ranges.",
    },
    Risky {
        name: "time.now_ns",
        id: "OPA-NONDETERMINISTIC-BUILTIN",
        severity: Severity::Low,
        why: "makes decisions depend on the clock",
        fix: "Make sure time-dependent decisions are intended and tested.",
    },
    Risky {
        name: "rand.intn",
        id: "OPA-NONDETERMINISTIC-BUILTIN",
        severity: Severity::Low,
        why: "makes decisions random",
        fix: "Remove randomness from authorization decisions.",
    },
    Risky {
        name: "uuid.rfc4122",
        id: "OPA-NONDETERMINISTIC-BUILTIN",
        severity: Severity::Low,
        why: "generates random identifiers during evaluation",
        fix: "Remove randomness from authorization decisions.",
    },
    Risky {
        name: "print",
        id: "OPA-PRINT",
        severity: Severity::Negligible,
        why: "writes values, possibly sensitive input, to OPA's logs",
        fix: "Remove debugging output before release.",
    },
    Risky {
        name: "trace",
        id: "OPA-PRINT",
        severity: Severity::Negligible,
        why: "writes values, possibly sensitive input, to evaluation traces",
        fix: "Remove debugging output before release.",
    },
];

/// The regorus version named in "not parsed" findings.
const REGORUS: &str = "0.14";

/// Built-ins that Rego v1 removed.
const DEPRECATED: &[&str] = &[
    "any",
    "all",
    "re_match",
    "net.cidr_overlap",
    "set_diff",
    "cast_array",
    "cast_set",
    "cast_string",
    "cast_boolean",
    "cast_null",
    "cast_object",
];

/// Analyse an unpacked bundle.
pub fn analyze(
    bundle: BundleFiles,
    limits: &BundleLimits,
    verifier: Option<&Verifier>,
) -> Result<ScanOutput, ScanError> {
    let BundleFiles {
        mut files,
        findings,
        root_data,
        ..
    } = bundle;
    let mut a = Analysis {
        findings,
        details: serde_json::Map::new(),
    };
    let signatures_raw = files.remove(SIGNATURES_FILE);

    let (manifest, manifest_text) = a.manifest(&files)?;
    let roots = manifest.root_segments();
    let data_files = a.data_documents(&files, &root_data, &roots)?;
    let packages = a.modules(&files, &manifest, &roots, limits);
    let wasm = a.wasm(&files, &manifest, &manifest_text);

    if packages.is_empty() && data_files.is_empty() && wasm.is_empty() && !files.contains_key(".manifest") {
        let listed: Vec<&String> = files.keys().take(10).collect();
        return Err(ScanError::Invalid(format!(
            "no OPA bundle content (no .manifest, *.rego, data.json/yaml or wasm); files: {listed:?}"
        )));
    }
    let sig =
        signatures::check(&files, signatures_raw.as_deref(), verifier, &mut a.findings).map_err(ScanError::Invalid)?;

    let Analysis {
        mut findings,
        mut details,
    } = a;
    details.insert("packages".into(), Value::Array(packages));
    details.insert("data_files".into(), Value::Array(data_files));
    details.insert("wasm_modules".into(), Value::Array(wasm));
    details.insert("signatures".into(), sig);
    details.insert("files".into(), json!(files.len()));
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.location.cmp(&b.location))
    });
    Ok(ScanOutput {
        findings,
        packages: Vec::new(),
        details,
    })
}

/// Findings and details gathered so far.
struct Analysis {
    findings: Vec<Finding>,
    details: serde_json::Map<String, Value>,
}

impl Analysis {
    /// `.manifest`: parse, check rego versions and roots. Returns it with its text.
    fn manifest(&mut self, files: &BTreeMap<String, Vec<u8>>) -> Result<(BundleManifest, String), ScanError> {
        let Some(raw) = files.get(".manifest") else {
            return Ok((BundleManifest::default(), String::new()));
        };
        let manifest =
            BundleManifest::parse(raw).map_err(|e| ScanError::Invalid(format!(".manifest is not valid: {e}")))?;
        for v in manifest.rego_version.iter().chain(manifest.file_rego_versions.values()) {
            if !matches!(v, 0 | 1) {
                return Err(ScanError::Invalid(format!(
                    ".manifest declares rego_version {v}; only 0 and 1 exist"
                )));
            }
        }
        let text = String::from_utf8_lossy(raw).into_owned();
        for (a, b) in overlapping_roots(&manifest.root_segments()) {
            let line = data::line_of(&text, &format!("\"{b}\"")).unwrap_or(1);
            self.findings.push(
                Finding::new(
                    "OPA-MANIFEST-ROOTS-OVERLAP",
                    Severity::Medium,
                    format!("bundle roots {a:?} and {b:?} overlap; OPA refuses such a manifest"),
                )
                .at(format!(".manifest:{line}"))
                .fix("Declare roots that do not contain one another."),
            );
        }
        self.details.insert(
            "manifest".into(),
            serde_json::to_value(&manifest).unwrap_or(Value::Null),
        );
        Ok((manifest, text))
    }

    /// Data documents: parse (failing the scan on bad JSON/YAML), roots, credentials.
    fn data_documents(
        &mut self,
        files: &BTreeMap<String, Vec<u8>>,
        root_data: &BTreeSet<String>,
        roots: &[(String, Vec<String>)],
    ) -> Result<Vec<Value>, ScanError> {
        let mut listed = Vec::new();
        let mut left_out = 0usize;
        for (path, content) in files {
            let conftest = root_data.contains(path);
            if !(conftest || data::is_data_file(path)) {
                continue;
            }
            let value = data::parse(path, content).map_err(ScanError::Invalid)?;
            let text = String::from_utf8_lossy(content);
            let base = data::mount_point(path, conftest);
            data::check_roots(path, &text, &base, &value, roots, &mut self.findings);
            left_out += data::check_secrets(path, &text, &base, &value, &mut self.findings);
            listed.push(json!({"path": path, "mounted_at": data_mount(&base), "bytes": content.len()}));
        }
        if left_out > 0 {
            self.details.insert("secret_findings_left_out".into(), json!(left_out));
        }
        Ok(listed)
    }

    /// Rego modules: parse in the declared dialect, dialect findings, per-module checks.
    fn modules(
        &mut self,
        files: &BTreeMap<String, Vec<u8>>,
        manifest: &BundleManifest,
        roots: &[(String, Vec<String>)],
        limits: &BundleLimits,
    ) -> Vec<Value> {
        let findings = &mut self.findings;
        let mut packages = Vec::new();
        let mut v0_declared: Vec<String> = Vec::new();
        for (path, content) in files.iter().filter(|(p, _)| p.ends_with(".rego")) {
            let declared = manifest.dialect_for(path).unwrap_or(Dialect::V1);
            let Ok(text) = std::str::from_utf8(content) else {
                findings.push(
                    Finding::new(
                        "OPA-REGO-SYNTAX",
                        Severity::High,
                        format!("{path} is not UTF-8 text; OPA cannot load it"),
                    )
                    .at(format!("{path}:1"))
                    .fix("Save policies as UTF-8."),
                );
                continue;
            };
            // A parser bug on hostile input must not take the whole scan down.
            let parsed = std::panic::catch_unwind(|| rego::parse(path, text, declared, limits.max_file_bytes as usize))
                .unwrap_or_else(|_| Parsed::Unparsed {
                    line: 1,
                    message: "the Rego parser failed on this file".into(),
                });
            let (info, dialect) = match parsed {
                Parsed::Ok(info) => {
                    if declared == Dialect::V0 && !info.imports_rego_v1 {
                        v0_declared.push(path.clone());
                        (info, Dialect::V0)
                    } else {
                        (info, Dialect::V1)
                    }
                }
                Parsed::OtherDialect { info, line, message } => {
                    let (id, title, fix) = if declared == Dialect::V1 {
                        ("OPA-REGO-V0", format!("{path} uses Rego v0 syntax, which OPA 1.x rejects unless the bundle declares rego_version 0: {message}"),
                         "Migrate the policy with `opa fmt --v0-v1`, or declare rego_version 0 in .manifest.")
                    } else {
                        ("OPA-REGO-DIALECT-MISMATCH", format!("{path} is declared Rego v0 but only parses as Rego v1: {message}"),
                         "Declare the file as rego_version 1 in .manifest (file_rego_versions) or drop rego_version 0.")
                    };
                    findings.push(
                        Finding::new(id, Severity::Medium, title)
                            .at(format!("{path}:{line}"))
                            .on(format!("data.{}", info.package.join(".")))
                            .fix(fix),
                    );
                    let other = if declared == Dialect::V1 {
                        Dialect::V0
                    } else {
                        Dialect::V1
                    };
                    (info, other)
                }
                Parsed::Error { line, message } => {
                    findings.push(
                        Finding::new(
                            "OPA-REGO-SYNTAX",
                            Severity::High,
                            format!("{path} does not parse: {message}"),
                        )
                        .at(format!("{path}:{line}"))
                        .fix("Fix the syntax error; OPA will refuse to load this bundle."),
                    );
                    packages.push(json!({"file": path, "parse_error": message, "line": line}));
                    continue;
                }
                Parsed::Unparsed { line, message } => {
                    let mut finding = Finding::new(
                            "OPA-REGO-UNPARSED",
                            Severity::Unknown,
                            format!(
                                "{path} was not parsed by regscan (regorus {REGORUS}: {message}); OPA may accept it, but none of its rules were checked"
                            ),
                        )
                        .at(format!("{path}:{line}"))
                        .fix("Run `opa check` on the bundle: if OPA accepts the file, review it by hand (regscan could not), and report the construct to regscan.");
                    if let Some(package) = rego::package_of(text) {
                        finding = finding.on(package);
                    }
                    findings.push(finding);
                    packages.push(json!({"file": path, "unparsed": message, "line": line}));
                    continue;
                }
            };
            check_module(path, &info, dialect, roots, findings);
            let mut package = json!({
                "file": path,
                "package": format!("data.{}", info.package.join(".")),
                "rego_version": dialect,
                "imports": info.imports,
                "rules": info.rules,
            });
            if !info.workarounds.is_empty() {
                let applied: Vec<Value> = info
                    .workarounds
                    .iter()
                    .map(|(kind, line)| json!({"kind": kind, "line": line}))
                    .collect();
                package["parse_workarounds"] = Value::Array(applied);
            }
            packages.push(package);
        }

        if let Some(first) = v0_declared.first() {
            findings.push(
                Finding::new(
                    "OPA-REGO-V0-DECLARED",
                    Severity::Low,
                    format!(
                        "{} module(s) are declared Rego v0, which OPA 1.x runs only in compatibility mode",
                        v0_declared.len()
                    ),
                )
                .at(format!("{first}:1"))
                .fix("Migrate the policies to Rego v1 (`opa fmt --v0-v1`) and drop rego_version 0 from .manifest."),
            );
        }
        packages
    }

    /// Wasm modules: list them, and check the manifest's resolvers point at real files.
    fn wasm(
        &mut self,
        files: &BTreeMap<String, Vec<u8>>,
        manifest: &BundleManifest,
        manifest_text: &str,
    ) -> Vec<Value> {
        let mut wasm = Vec::new();
        for (path, content) in files.iter().filter(|(p, _)| p.ends_with(".wasm")) {
            let entrypoints: Vec<&str> = manifest
                .wasm
                .iter()
                .filter(|w| w.module.trim_start_matches('/') == path)
                .map(|w| w.entrypoint.as_str())
                .collect();
            wasm.push(json!({"path": path, "bytes": content.len(), "sha256": hex::encode(Sha256::digest(content)), "entrypoints": entrypoints}));
            self.findings.push(
                Finding::new(
                    "OPA-WASM-MODULE",
                    Severity::Negligible,
                    format!("{path} is a compiled Wasm policy; its logic cannot be reviewed from the bundle"),
                )
                .at(path.clone())
                .fix("Ship the Rego sources the module was built from, or review them separately."),
            );
        }
        for w in &manifest.wasm {
            if !files.contains_key(w.module.trim_start_matches('/')) {
                let line = data::line_of(manifest_text, &w.module).unwrap_or(1);
                self.findings.push(
                    Finding::new(
                        "OPA-WASM-MISSING",
                        Severity::Medium,
                        format!(
                            ".manifest names Wasm module {:?} for entrypoint {:?}, which is not in the bundle",
                            w.module, w.entrypoint
                        ),
                    )
                    .at(format!(".manifest:{line}"))
                    .fix("Rebuild the bundle with `opa build -t wasm`."),
                );
            }
        }
        wasm
    }
}

fn data_mount(base: &[String]) -> String {
    if base.is_empty() {
        "data".into()
    } else {
        format!("data.{}", base.join("."))
    }
}

/// Checks on one parsed module.
fn check_module(
    path: &str,
    info: &ModuleInfo,
    dialect: Dialect,
    roots: &[(String, Vec<String>)],
    findings: &mut Vec<Finding>,
) {
    let package = format!("data.{}", info.package.join("."));
    if !within_roots(roots, &info.package) {
        let declared: Vec<&str> = roots.iter().map(|(r, _)| r.as_str()).collect();
        findings.push(
            Finding::new(
                "OPA-ROOT-PACKAGE-OUTSIDE",
                Severity::High,
                format!("package {package} lies outside the bundle's roots {declared:?}"),
            )
            .at(format!("{path}:{}", info.package_line))
            .on(package.clone())
            .fix("Move the package under a declared root, or declare its root in .manifest."),
        );
    }
    let mut seen = BTreeSet::new();
    let mut push = |f: Finding| {
        if seen.insert((f.id.clone(), f.location.clone(), f.title.clone())) {
            findings.push(f);
        }
    };
    let builtin_calls = info.calls.iter().filter(|c| {
        let root = c.name.split('.').next().unwrap_or("");
        root != "data" && !info.import_aliases.iter().any(|a| a == root)
    });
    let mut jwt_decode_line = None;
    let mut jwt_verified = false;
    for call in builtin_calls {
        let at = format!("{path}:{}", call.line);
        if let Some(r) = RISKY.iter().find(|r| r.name == call.name) {
            push(
                Finding::new(r.id, r.severity, format!("{} {}", r.name, r.why))
                    .at(at.clone())
                    .on(package.clone())
                    .fix(r.fix),
            );
        }
        if call.name == "http.send" {
            for (k, v) in &call.object_arg {
                match (k.as_str(), v) {
                    ("tls_insecure_skip_verify", LiteralValue::Bool(true)) => push(
                        Finding::new(
                            "OPA-HTTP-TLS-INSECURE",
                            Severity::High,
                            "http.send disables TLS certificate verification",
                        )
                        .at(at.clone())
                        .on(package.clone())
                        .fix("Remove tls_insecure_skip_verify; trust the server's CA with tls_ca_cert instead."),
                    ),
                    ("url", LiteralValue::String(u)) if u.to_ascii_lowercase().starts_with("http://") => push(
                        Finding::new(
                            "OPA-HTTP-PLAINTEXT",
                            Severity::Medium,
                            "http.send calls a plain-HTTP URL; responses can be forged in transit",
                        )
                        .at(at.clone())
                        .on(package.clone())
                        .fix("Use https:// URLs."),
                    ),
                    _ => {}
                }
            }
        }
        if DEPRECATED.contains(&call.name.as_str()) {
            let severity = if dialect == Dialect::V1 {
                Severity::Medium
            } else {
                Severity::Low
            };
            push(
                Finding::new(
                    "OPA-REGO-DEPRECATED-BUILTIN",
                    severity,
                    format!("{} is a deprecated built-in that Rego v1 removed", call.name),
                )
                .at(at.clone())
                .on(package.clone())
                .fix("Replace it with its Rego v1 equivalent (see OPA's v0 compatibility guide)."),
            );
        }
        if call.name == "io.jwt.decode" {
            jwt_decode_line.get_or_insert(call.line);
        }
        if call.name.starts_with("io.jwt.verify_") || call.name == "io.jwt.decode_verify" {
            jwt_verified = true;
        }
    }
    if let (Some(line), false) = (jwt_decode_line, jwt_verified) {
        push(
            Finding::new(
                "OPA-JWT-UNVERIFIED",
                Severity::Medium,
                "io.jwt.decode reads token claims without verifying the signature, and this module never verifies one",
            )
            .at(format!("{path}:{line}"))
            .on(package.clone())
            .fix("Use io.jwt.decode_verify (or an io.jwt.verify_* built-in) before trusting claims."),
        );
    }
    let mut secret_count = 0;
    for (s, line) in &info.strings {
        if let Some(hit) = classify_value(s) {
            secret_count += 1;
            if secret_count > data::MAX_SECRET_FINDINGS_PER_FILE {
                break;
            }
            push(
                Finding::new(
                    hit.id,
                    hit.severity,
                    format!("{} in a Rego string literal ({})", hit.what, mask(s)),
                )
                .at(format!("{path}:{line}"))
                .on(package.clone())
                .fix("Remove the credential from the policy; rotate it and pass secrets at run time."),
            );
        }
    }
}
