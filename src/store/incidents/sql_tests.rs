//! The SQL of the cross-artifact queries, run on SQLite (`tests/incidents.rs` runs the queries
//! end to end on both backends).

use regscan_scanner_api::{ArtifactRef, Kind, ScannerRef, Status};

use super::*;
use crate::store::{NewArtifact, ScanResult};

fn package(ecosystem: &str, version: &str) -> Package {
    Package {
        ecosystem: ecosystem.into(),
        name: "x".into(),
        version: version.into(),
        source_name: None,
        source_version: None,
        path: "lib/x".into(),
        layer: None,
        dev: false,
    }
}

/// A name in two ecosystems at different versions is looked up by (ecosystem, name,
/// version) keys and pages through the cursor; a version the predicate refuses stays out.
#[tokio::test]
async fn packages_by_keys_page_through_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    let stored = [
        ("Debian:12", "1.0.0"),
        ("npm", "2.0.0"),
        ("npm", "0.5.0"),
        ("npm", "1.0.0"),
    ];
    for (n, (eco, version)) in stored.into_iter().enumerate() {
        let digest = format!("sha256:{}", n.to_string().repeat(64));
        let id = store
            .upsert_artifact(&NewArtifact {
                artifact: &ArtifactRef::parse("r.example", "team/app", &digest).unwrap(),
                manifest_media_type: "application/vnd.oci.image.manifest.v1+json",
                artifact_type: None,
                kind: &Kind::Image,
                size: 1,
                parent_digest: None,
                platform: None,
            })
            .await
            .unwrap();
        let result = ScanResult {
            packages: vec![package(eco, version)],
            ..Default::default()
        };
        store
            .record_scan(
                id,
                Some(&ScannerRef::new("image", "1")),
                Status::Succeeded,
                None,
                &result,
            )
            .await
            .unwrap();
    }
    // Three keys over two ecosystems and two versions: not every combination is one, so
    // the page is asked for by (ecosystem, name, version) keys; one pair a page.
    let predicate = VersionPredicate::parse(">=1.0.0").unwrap();
    let mut found = BTreeSet::new();
    let mut before = None;
    let mut pages = 0;
    for _ in 0..5 {
        pages += 1;
        let filter = PackageFilter {
            name: Some("x".into()),
            version: Some(predicate.clone()),
            limit: Some(1),
            before: before.take(),
            ..Default::default()
        };
        let page = store.packages_in_use(&filter).await.unwrap();
        found.extend(page.items.into_iter().map(|i| (i.ecosystem, i.version)));
        match page.next_cursor {
            Some(c) => before = Some(c),
            None => break,
        }
    }
    let want: BTreeSet<(String, String)> = [("Debian:12", "1.0.0"), ("npm", "1.0.0"), ("npm", "2.0.0")]
        .into_iter()
        .map(|(e, v)| (e.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(found, want);
    assert_eq!(pages, 3, "one pair a page");
}
