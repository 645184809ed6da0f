//! The statements the store assembles at run time (multi-row inserts, `IN` lists, optional
//! filters), on SQLite and PostgreSQL: findings and packages of a scan spanning several
//! multi-row batches come back whole and in order; the event log's batches and deduplication
//! look-up; listing filters whose values hold SQL and `LIKE` metacharacters.

mod support;

use std::collections::HashSet;

use regscan::store::events::{EventOutcome, EventRecord};
use regscan::store::{ArtifactFilter, FindingSource, ScanResult, Store};
use regscan_scanner_api::{Finding, Package, ScannerRef, Severity, Status};
use support::{artifact_ref, image_artifact};

fn digest(n: u32) -> String {
    format!("sha256:{n:064x}")
}

/// Values a naive statement would break on.
const ODD: &str = "it's \"$1\" ? -- ; DROP TABLE scans; \u{202E} 100%_\\";

async fn batches(store: Store) {
    // 1,000 findings (400 a statement: three statements) and 1,234 packages (500 a statement),
    // with NULLs, odd text and both sources.
    let checks: Vec<Finding> = (0..150)
        .map(|i| Finding::new(format!("CHECK-{i:04}"), Severity::Medium, format!("check {i} {ODD}")).at(ODD))
        .collect();
    let advisories: Vec<Finding> = (0..850)
        .map(|i| {
            let mut f = Finding::new(format!("CVE-2099-{i:04}"), Severity::High, format!("advisory {i}"))
                .on(format!("pkg-{i}"));
            f.installed_version = Some(format!("1.{i}"));
            f.fixed_version = (i % 2 == 0).then(|| format!("2.{i}"));
            f.references = vec![format!("https://example.com/{i}"), ODD.into()];
            f.remediation = (i % 3 == 0).then(|| ODD.to_owned());
            f
        })
        .collect();
    let packages: Vec<Package> = (0..1234)
        .map(|i| Package {
            ecosystem: "npm".into(),
            name: format!("pkg-{i:05}"),
            version: format!("1.{i}"),
            source_name: (i % 2 == 0).then(|| ODD.to_owned()),
            source_version: None,
            path: format!("app/node_modules/pkg-{i}/package.json"),
            layer: (i % 5 == 0).then(|| digest(i)),
            dev: i % 7 == 0,
        })
        .collect();
    let id = store
        .upsert_artifact(&image_artifact(&artifact_ref("team/app", &digest(1))))
        .await
        .unwrap();
    let result = ScanResult {
        checks: checks.clone(),
        advisories: advisories.clone(),
        packages: packages.clone(),
        ..Default::default()
    };
    let scan = store
        .record_scan(
            id,
            Some(&ScannerRef::new("image", "1")),
            Status::Succeeded,
            None,
            &result,
        )
        .await
        .unwrap();

    let sorted = |mut v: Vec<Finding>| {
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    };
    assert_eq!(
        sorted(store.findings(scan, Some(FindingSource::Check)).await.unwrap()),
        sorted(checks.clone())
    );
    assert_eq!(
        sorted(store.findings(scan, Some(FindingSource::Advisory)).await.unwrap()),
        sorted(advisories.clone())
    );
    assert_eq!(store.findings(scan, None).await.unwrap().len(), 1000);
    // Stored ordered by ecosystem, name, version, path: the names sort as generated.
    assert_eq!(store.packages(scan).await.unwrap(), packages);
    let stored = store.scan(scan).await.unwrap().unwrap();
    assert_eq!((stored.summary.high, stored.summary.medium), (850, 150));

    // The event log: 250 events (three statements), then which ids were seen (two IN lists).
    let records: Vec<EventRecord> = (0..250)
        .map(|i| EventRecord {
            endpoint: "distribution".into(),
            event_id: Some(format!("ev-{i}")),
            outcome: if i % 2 == 0 {
                EventOutcome::Queued
            } else {
                EventOutcome::Ignored
            },
            status_code: 202,
            reason: (i % 2 == 1).then(|| ODD.to_owned()),
            action: Some("push".into()),
            registry: Some("registry.example.com".into()),
            repository: Some(ODD.into()),
            reference: None,
        })
        .collect();
    store.record_events(&records).await.unwrap();
    let asked: Vec<String> = (0..300).map(|i| format!("ev-{i}")).chain([ODD.to_owned()]).collect();
    let asked: Vec<&str> = asked.iter().map(String::as_str).collect();
    let seen = store.seen_events("distribution", &asked).await.unwrap();
    let queued: HashSet<String> = (0..250).step_by(2).map(|i| format!("ev-{i}")).collect();
    assert_eq!(seen, queued);
    assert!(store.seen_events("harbor", &asked).await.unwrap().is_empty());
    let recent = store.recent_events(1).await.unwrap();
    assert_eq!(recent[0].record, records[249]);

    // Listing filters: values are bound, and `%`, `_` and `\` in a repository prefix are literal.
    for (n, repo) in [
        (2, "team/a_b"),
        (3, "team/axb"),
        (4, "team/100%"),
        (5, "team/1000"),
        (6, "team\\x"),
    ] {
        let id = store
            .upsert_artifact(&image_artifact(&artifact_ref(repo, &digest(n))))
            .await
            .unwrap();
        store
            .record_scan(
                id,
                Some(&ScannerRef::new("image", "1")),
                Status::Succeeded,
                None,
                &ScanResult::default(),
            )
            .await
            .unwrap();
    }
    let repos = |prefix: &str| {
        let store = store.clone();
        let filter = ArtifactFilter {
            repository: Some(prefix.to_owned()),
            ..Default::default()
        };
        async move {
            let mut r: Vec<String> = store
                .list_artifacts(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.artifact.repository)
                .collect();
            r.sort();
            r
        }
    };
    assert_eq!(repos("team/a_").await, ["team/a_b"]);
    assert_eq!(repos("team/100%").await, ["team/100%"]);
    assert_eq!(repos("team\\").await, ["team\\x"]);
    assert_eq!(repos("team/").await.len(), 5);
    assert!(repos(ODD).await.is_empty());
    let filter = ArtifactFilter {
        registry: Some("registry.example.com".into()),
        kind: Some("image".into()),
        status: Some(Status::Succeeded),
        min_severity: Some(Severity::High),
        since_ms: Some(0),
        limit: Some(10),
        ..Default::default()
    };
    let listed = store.list_artifacts(&filter).await.unwrap();
    assert_eq!(listed.len(), 1, "only team/app has high findings");
    assert_eq!(listed[0].summary.high, 850);
    let page = ArtifactFilter {
        limit: Some(2),
        ..Default::default()
    };
    let first = store.list_artifacts(&page).await.unwrap();
    let next = ArtifactFilter {
        before_id: Some(first[1].artifact.id),
        ..page
    };
    let second = store.list_artifacts(&next).await.unwrap();
    assert_eq!((first.len(), second.len()), (2, 2));
    assert!(second[0].artifact.id < first[1].artifact.id);
    let queued = ArtifactFilter {
        status: Some(Status::Queued),
        ..Default::default()
    };
    assert!(store.list_artifacts(&queued).await.unwrap().is_empty());
    store
        .upsert_artifact(&image_artifact(&artifact_ref("team/new", &digest(7))))
        .await
        .unwrap();
    let queued = store.list_artifacts(&queued).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].status, Status::Queued);
}

#[tokio::test]
async fn batched_statements_on_sqlite() {
    let (url, _dir) = support::db::sqlite_url();
    batches(Store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn batched_statements_on_postgres() {
    let db = support::db::PgDb::create();
    let store = Store::open(&db.url).await.unwrap();
    batches(store.clone()).await;
    store.close().await;
}
