//! The store's claim rules, on a temporary SQLite database with a manual clock: a claim is
//! exclusive while its lease runs, renewing keeps it, an expired claim is taken over and
//! counted, and a finished scan is what later deliveries find.

use std::sync::Arc;
use std::time::Duration;

use regscan_scanner_api::{ArtifactRef, Kind, ScannerRef, Status};

use super::{Claim, NewArtifact, ScanResult, Store};
use crate::time::ManualClock;

const LEASE_MS: i64 = 30_000;

/// The image scanner at `version`.
fn image(version: &str) -> ScannerRef {
    ScannerRef::new("image", version)
}

/// A fresh store whose clock stands at a fixed time, and that clock.
pub(crate) async fn store_at_manual_time() -> (Store, ManualClock, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let clock = ManualClock::at(1_700_000_000_000);
    let store = Store::open(&url).await.unwrap().with_clock(Arc::new(clock.clone()));
    (store, clock, dir)
}

async fn artifact(store: &Store) -> i64 {
    store
        .upsert_artifact(&NewArtifact {
            artifact: &ArtifactRef::parse("r.example", "team/app", &format!("sha256:{}", "a".repeat(64))).unwrap(),
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json",
            artifact_type: None,
            kind: &Kind::Image,
            size: 1,
            parent_digest: None,
            platform: None,
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_claim_is_exclusive_until_its_lease_runs_out_then_taken_over_and_counted() {
    let (store, clock, _dir) = store_at_manual_time().await;
    let a = artifact(&store).await;
    let Claim::Claimed(first) = store.claim_scan(a, Some(&image("1")), "w1", LEASE_MS).await.unwrap() else {
        panic!("nobody held the claim")
    };
    assert_eq!(
        store.claim_scan(a, Some(&image("1")), "w2", LEASE_MS).await.unwrap(),
        Claim::Busy
    );
    clock.advance(Duration::from_millis(LEASE_MS as u64 - 1));
    assert_eq!(
        store.claim_scan(a, Some(&image("1")), "w2", LEASE_MS).await.unwrap(),
        Claim::Busy,
        "the lease has not run out yet"
    );
    assert_eq!(store.abandoned_scans(a).await.unwrap(), 0);
    clock.advance(Duration::from_millis(2));
    let Claim::Claimed(second) = store.claim_scan(a, Some(&image("1")), "w2", LEASE_MS).await.unwrap() else {
        panic!("an expired claim is taken over")
    };
    assert_ne!(first, second);
    assert!(
        store.scan(first).await.unwrap().is_none(),
        "the abandoned attempt produced nothing"
    );
    assert_eq!(store.abandoned_scans(a).await.unwrap(), 1, "the take-over is counted");
}

#[tokio::test]
async fn renewing_a_claim_keeps_it_past_its_first_lease() {
    let (store, clock, _dir) = store_at_manual_time().await;
    let a = artifact(&store).await;
    let Claim::Claimed(id) = store.claim_scan(a, Some(&image("1")), "w1", LEASE_MS).await.unwrap() else {
        panic!("nobody held the claim")
    };
    for _ in 0..3 {
        clock.advance(Duration::from_millis(LEASE_MS as u64 * 2 / 3));
        store.renew_claim(id, LEASE_MS).await.unwrap();
        assert_eq!(
            store.claim_scan(a, Some(&image("1")), "w2", LEASE_MS).await.unwrap(),
            Claim::Busy
        );
    }
    assert_eq!(store.abandoned_scans(a).await.unwrap(), 0);
}

#[tokio::test]
async fn a_released_claim_is_free_at_once_and_a_finished_scan_is_found() {
    let (store, _clock, _dir) = store_at_manual_time().await;
    let a = artifact(&store).await;
    let Claim::Claimed(id) = store.claim_scan(a, Some(&image("1")), "w1", LEASE_MS).await.unwrap() else {
        panic!("nobody held the claim")
    };
    store.release_claim(id).await.unwrap();
    let Claim::Claimed(id) = store.claim_scan(a, Some(&image("1")), "w2", LEASE_MS).await.unwrap() else {
        panic!("a released claim is free")
    };
    assert_eq!(store.completed_scan(a, Some(&image("1"))).await.unwrap(), None);
    store
        .finish_scan(id, Status::Succeeded, None, &ScanResult::default())
        .await
        .unwrap();
    assert_eq!(store.completed_scan(a, Some(&image("1"))).await.unwrap(), Some(id));
    assert_eq!(
        store.completed_scan(a, Some(&image("2"))).await.unwrap(),
        None,
        "another scanner version has not scanned it"
    );
    let Claim::Claimed(_) = store.claim_scan(a, Some(&image("2")), "w1", LEASE_MS).await.unwrap() else {
        panic!("a finished scan holds no claim")
    };
}
