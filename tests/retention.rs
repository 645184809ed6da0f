//! Retention: the webhook event log and scan history are pruned in batches by age and count,
//! and what reports need (each artifact's current scan, inventories in use) is kept. On SQLite
//! and PostgreSQL.

mod support;

use regscan::config::RetentionConfig;
use regscan::store::events::EventRecord;
use regscan::store::{NewArtifact, ScanResult, Store};
use regscan::time::now_ms;
use regscan_scanner_api::{ArtifactRef, Package, ScannerRef, Status};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn artifact(at: &ArtifactRef) -> NewArtifact<'_> {
    support::image_artifact(at)
}

fn package() -> Package {
    Package {
        ecosystem: "Debian:12".into(),
        name: "libc6".into(),
        version: "2.36".into(),
        source_name: None,
        source_version: None,
        path: "var/lib/dpkg/status".into(),
        layer: None,
        dev: false,
    }
}

async fn prunes_by_age_and_count(store: Store) {
    let config = RetentionConfig {
        batch_size: 1000,
        ..Default::default()
    };
    // 2,500 webhook events: three batches.
    let records: Vec<EventRecord> = (0..2500)
        .map(|i| EventRecord::rejected("distribution", 401, format!("flood {i}")))
        .collect();
    store.record_events(&records).await.unwrap();

    let a = store
        .upsert_artifact(&artifact(&support::artifact_ref(
            "team/app",
            &format!("sha256:{}", "a".repeat(64)),
        )))
        .await
        .unwrap();
    let b = store
        .upsert_artifact(&artifact(&support::artifact_ref(
            "team/app",
            &format!("sha256:{}", "b".repeat(64)),
        )))
        .await
        .unwrap();
    let with_packages = ScanResult {
        packages: vec![package()],
        ..Default::default()
    };
    let mut scans = Vec::new();
    for i in 0..15 {
        let result = match i {
            // s3 re-matched s1's inventory: s1 stays while s3 does.
            2 => ScanResult {
                inventory_scan_id: Some(scans[0]),
                ..Default::default()
            },
            _ => with_packages.clone(),
        };
        scans.push(
            store
                .record_scan(
                    a,
                    Some(&ScannerRef::new("image", "1")),
                    Status::Succeeded,
                    None,
                    &result,
                )
                .await
                .unwrap(),
        );
    }
    let only_b = store
        .record_scan(
            b,
            Some(&ScannerRef::new("image", "1")),
            Status::Succeeded,
            None,
            &with_packages,
        )
        .await
        .unwrap();

    // Now: nothing is 30 days old; A keeps its newest 10, s1 kept for s3's sake.
    let now = now_ms();
    let p = store.prune(&config, now).await.unwrap();
    assert_eq!((p.webhook_events, p.scans), (0, 4));
    let left: Vec<i64> = store.scans_of(a).await.unwrap().iter().map(|s| s.id).collect();
    assert!(
        left.contains(&scans[0]) && !left.contains(&scans[2]) && left.len() == 11,
        "{left:?}"
    );
    // s3 is gone, so s1 goes next.
    assert_eq!(store.prune(&config, now).await.unwrap().scans, 1);
    assert_eq!(store.prune(&config, now).await.unwrap().scans, 0, "nothing more");
    assert_eq!(store.scans_of(a).await.unwrap().len(), 10);

    // 91 days later: every event goes, in batches; each artifact keeps its current scan only.
    let later = now + 91 * DAY_MS;
    let p = store.prune(&config, later).await.unwrap();
    assert_eq!((p.webhook_events, p.scans), (2500, 9));
    assert!(store.recent_events(10).await.unwrap().is_empty());
    let left: Vec<i64> = store.scans_of(a).await.unwrap().iter().map(|s| s.id).collect();
    assert_eq!(left, vec![scans[14]]);
    let left: Vec<i64> = store.scans_of(b).await.unwrap().iter().map(|s| s.id).collect();
    assert_eq!(left, vec![only_b]);
    assert_eq!(
        store.packages(scans[14]).await.unwrap().len(),
        1,
        "the current scan is whole"
    );
    assert_eq!(store.packages(scans[0]).await.unwrap().len(), 0, "pruned with its scan");
    let art = store.artifact_by_id(a).await.unwrap().unwrap();
    assert_eq!(art.latest_scan_id, Some(scans[14]));

    // Small batches get there too.
    store.record_events(&records[..25]).await.unwrap();
    let small = RetentionConfig {
        batch_size: 10,
        ..Default::default()
    };
    assert_eq!(store.prune(&small, later).await.unwrap().webhook_events, 25);

    // 0 turns a rule off.
    store.record_events(&records[..5]).await.unwrap();
    let off = RetentionConfig {
        webhook_events_days: 0,
        ..Default::default()
    };
    assert_eq!(store.prune(&off, later).await.unwrap().webhook_events, 0);
}

#[tokio::test]
async fn prunes_by_age_and_count_on_sqlite() {
    let (url, _dir) = support::db::sqlite_url();
    prunes_by_age_and_count(Store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn prunes_by_age_and_count_on_postgres() {
    let db = support::db::PgDb::create();
    let store = Store::open(&db.url).await.unwrap();
    prunes_by_age_and_count(store.clone()).await;
    store.close().await;
}
