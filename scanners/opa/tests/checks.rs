//! Policy, data and root checks on bundles built by the tests, clean and bad.

mod common;

use common::*;
use regscan_scanner_api::Severity;

fn bundle_with(extra: &[(&'static str, &[u8])]) -> Artifact {
    let mut files = clean_files();
    for (p, c) in extra {
        files.insert(p, c.to_vec());
    }
    Artifact::bundle(&as_slices(&files))
}

#[tokio::test]
async fn clean_bundle_lists_packages_and_rules() {
    let out = bundle_with(&[]).scan().await.unwrap();
    assert!(serious_ids(&out).is_empty(), "{:#?}", out.findings);
    let pkgs = out.details["packages"].as_array().unwrap();
    assert_eq!(pkgs.len(), 1);
    assert_eq!(pkgs[0]["package"], "data.authz");
    assert_eq!(pkgs[0]["rego_version"], "v1");
    let rules: Vec<&str> = pkgs[0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["allow", "allow"]);
    assert_eq!(out.details["manifest"]["revision"], "r1");
    assert_eq!(out.details["data_files"][0]["mounted_at"], "data.authz");
    assert_eq!(out.details["bundle"]["shape"], "opa-bundle-artifact");
}

#[tokio::test]
async fn network_and_runtime_builtins_found_in_the_ast() {
    let policy = br#"package authz.ext

import data.authz.mock as fake

resp := http.send({"method": "GET", "url": "http://policy.example/x", "tls_insecure_skip_verify": true})

addrs := net.lookup_ip_addr("example.com")

env := opa.runtime().env

m := rego.parse_module("x.rego", input.code)

# http.send in a comment is not a call
note := "http.send is not called here"

shadowed := fake.send(1)

claims := io.jwt.decode(input.token)

ok if { print("debug", input) }
"#;
    let out = bundle_with(&[("/authz/ext.rego", policy)]).scan().await.unwrap();
    let ids = serious_ids(&out);
    for id in [
        "OPA-NET-BUILTIN",
        "OPA-HTTP-TLS-INSECURE",
        "OPA-HTTP-PLAINTEXT",
        "OPA-RUNTIME-BUILTIN",
        "OPA-JWT-UNVERIFIED",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let net: Vec<_> = out.findings.iter().filter(|f| f.id == "OPA-NET-BUILTIN").collect();
    assert_eq!(net.len(), 2, "{net:#?}");
    let send = net.iter().find(|f| f.title.starts_with("http.send")).unwrap();
    assert_eq!(send.location.as_deref(), Some("authz/ext.rego:5"));
    assert_eq!(send.package.as_deref(), Some("data.authz.ext"));
    assert!(send.remediation.is_some());
    assert_eq!(out.findings.iter().filter(|f| f.id == "OPA-RUNTIME-BUILTIN").count(), 2);
    assert_eq!(finding(&out, "OPA-PRINT").severity, Severity::Negligible);
}

#[tokio::test]
async fn verified_jwt_and_aliases_are_not_flagged() {
    let policy = b"package authz.jwt\n\nclaims := io.jwt.decode(input.token)\n\nvalid := io.jwt.verify_rs256(input.token, data.authz.cert)\n";
    let out = bundle_with(&[("/authz/jwt.rego", policy)]).scan().await.unwrap();
    assert!(serious_ids(&out).is_empty(), "{:#?}", out.findings);
}

#[tokio::test]
async fn syntax_error_is_a_finding_with_line() {
    let out = bundle_with(&[("/authz/broken.rego", b"package authz\n\nallow if {\n  input.x ==\n}\n")])
        .scan()
        .await
        .unwrap();
    let f = finding(&out, "OPA-REGO-SYNTAX");
    assert_eq!(f.severity, Severity::High);
    let loc = f.location.as_deref().unwrap();
    assert!(loc == "authz/broken.rego:4" || loc == "authz/broken.rego:5", "{loc}");
    assert!(out.details["packages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["parse_error"].is_string()));
}

#[tokio::test]
async fn rego_dialect_problems() {
    let v0 = b"package authz.old\n\ndeny[msg] {\n  any([input.a, input.b])\n  msg := \"x\"\n}\n";
    // Bundle defaults to v1: v0 syntax is refused by OPA 1.x.
    let out = bundle_with(&[("/authz/old.rego", v0)]).scan().await.unwrap();
    let f = finding(&out, "OPA-REGO-V0");
    assert_eq!(f.location.as_deref(), Some("authz/old.rego:3"));
    assert_eq!(f.package.as_deref(), Some("data.authz.old"));
    assert_eq!(finding(&out, "OPA-REGO-DEPRECATED-BUILTIN").severity, Severity::Low);

    // Declared v0: allowed, but noted; a v1-only file in it is a mismatch.
    let manifest = br#"{"roots":["authz"],"rego_version":0}"#;
    let out = bundle_with(&[("/.manifest", manifest), ("/authz/old.rego", v0)])
        .scan()
        .await
        .unwrap();
    let ids = ids(&out);
    assert!(ids.contains(&"OPA-REGO-V0-DECLARED"), "{ids:?}");
    assert!(
        ids.contains(&"OPA-REGO-DIALECT-MISMATCH"),
        "the clean v1 policy: {ids:?}"
    );
    assert!(!ids.contains(&"OPA-REGO-V0"), "{ids:?}");

    // file_rego_versions overrides per file.
    let manifest = br#"{"roots":["authz"],"rego_version":0,"file_rego_versions":{"/authz/policy.rego":1}}"#;
    let out = bundle_with(&[("/.manifest", manifest), ("/authz/old.rego", v0)])
        .scan()
        .await
        .unwrap();
    assert!(
        !ids_of(&out).contains(&"OPA-REGO-DIALECT-MISMATCH"),
        "{:#?}",
        out.findings
    );
}

fn ids_of(out: &regscan_scanner_api::ScanOutput) -> Vec<&str> {
    ids(out)
}

#[tokio::test]
async fn roots_overlap_and_content_outside_roots() {
    let manifest = b"{\n  \"roots\": [\n    \"authz\",\n    \"authz/sub\"\n  ]\n}";
    let out = bundle_with(&[
        ("/.manifest", manifest),
        ("/other/p.rego", b"package other\n\nx := 1\n"),
        ("/data.json", b"{\n  \"authz\": {\"k\": 1},\n  \"stray\": {\"v\": 2}\n}"),
    ])
    .scan()
    .await
    .unwrap();
    assert_eq!(
        finding(&out, "OPA-MANIFEST-ROOTS-OVERLAP").location.as_deref(),
        Some(".manifest:4")
    );
    let pkg = finding(&out, "OPA-ROOT-PACKAGE-OUTSIDE");
    assert_eq!(pkg.location.as_deref(), Some("other/p.rego:1"));
    let data = finding(&out, "OPA-ROOT-DATA-OUTSIDE");
    assert!(data.title.contains("data.stray"), "{}", data.title);
    assert_eq!(data.location.as_deref(), Some("data.json:3"));
    assert_eq!(
        out.findings.iter().filter(|f| f.id == "OPA-ROOT-DATA-OUTSIDE").count(),
        1
    );
}

#[tokio::test]
async fn credentials_in_data_and_policies() {
    let yaml = b"db:\n  host: db.internal\n  password: \"Tr0ub4dor&3\"\naws_key: AKIAIOSFODNN7EXAMPLE\nplaceholder_token: ${TOKEN}\n";
    let pem = "{\"tls\":{\"key\":\"-----BEGIN PRIVATE KEY-----\\nMIIEvQ\\n-----END PRIVATE KEY-----\\n\"}}";
    let policy = b"package authz.gh\n\ntoken := \"ghp_abcdefghijklmnopqrstuvwxyz0123456789\"\n";
    let out = bundle_with(&[
        ("/authz/db/data.yaml", yaml),
        ("/authz/tls/data.json", pem.as_bytes()),
        ("/authz/gh.rego", policy),
    ])
    .scan()
    .await
    .unwrap();
    let pw = finding(&out, "OPA-SECRET-KEYNAME");
    assert_eq!(pw.location.as_deref(), Some("authz/db/data.yaml:3"));
    assert!(
        pw.title.contains("data.authz.db.db.password") && !pw.title.contains("Tr0ub4dor"),
        "{}",
        pw.title
    );
    assert_eq!(
        finding(&out, "OPA-SECRET-CLOUD-KEY").location.as_deref(),
        Some("authz/db/data.yaml:4")
    );
    assert_eq!(finding(&out, "OPA-SECRET-PRIVATE-KEY").severity, Severity::Critical);
    let gh = finding(&out, "OPA-SECRET-TOKEN");
    assert_eq!(gh.location.as_deref(), Some("authz/gh.rego:3"));
    assert!(!gh.title.contains("ghp_abcdefghij"), "{}", gh.title);
    assert_eq!(
        out.findings.iter().filter(|f| f.id.starts_with("OPA-SECRET")).count(),
        4,
        "{:#?}",
        out.findings
    );
}

#[tokio::test]
async fn wasm_modules_are_listed_and_checked() {
    let manifest = br#"{"roots":["authz"],"wasm":[{"entrypoint":"authz/allow","module":"/policy.wasm"},{"entrypoint":"authz/deny","module":"/gone.wasm"}]}"#;
    let out = bundle_with(&[("/.manifest", manifest), ("/policy.wasm", b"\0asm\x01\0\0\0")])
        .scan()
        .await
        .unwrap();
    assert_eq!(out.details["wasm_modules"][0]["path"], "policy.wasm");
    assert_eq!(out.details["wasm_modules"][0]["entrypoints"][0], "authz/allow");
    assert_eq!(finding(&out, "OPA-WASM-MODULE").severity, Severity::Negligible);
    assert!(finding(&out, "OPA-WASM-MISSING").title.contains("gone.wasm"));
}

#[tokio::test]
async fn unsafe_archive_entries_are_skipped_and_reported() {
    let files = clean_files();
    let mut entries: Vec<Entry> = files.iter().map(|(p, c)| Entry::File(p, c)).collect();
    entries.push(Entry::File("../escape.rego", b"package authz\n"));
    entries.push(Entry::Symlink("authz/link.rego", "/etc/passwd"));
    entries.push(Entry::File("/authz/data.json", br#"{"admins":["mallory"]}"#));
    let art = Artifact::new(regscan_scanner_api::media::OPA_CONFIG).layer(
        regscan_scanner_api::media::OPA_BUNDLE_LAYER,
        tarball_with(&entries),
        None,
    );
    let out = art.scan().await.unwrap();
    let ids = serious_ids(&out);
    assert_eq!(
        ids,
        ["OPA-BUNDLE-DUPLICATE", "OPA-BUNDLE-LINK", "OPA-BUNDLE-PATH"],
        "{:#?}",
        out.findings
    );
    assert_eq!(out.details["files"], 3);
}
