//! Records stored under the keys an older regscan computed for Red Hat, SUSE and module streams
//! are re-keyed once when the store opens after migration 12 — on SQLite and PostgreSQL.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use regscan::store::Store;
use regscan_osv::{normalize_ecosystem, normalize_name, parse_advisory, Advisory, AdvisoryIndex};
use sqlx::Row;
use support::db::{sqlite_url, PgDb};

fn testdata(file: &str) -> Advisory {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scanners/osv/tests/testdata/rpm")
        .join(file);
    parse_advisory(&std::fs::read(path).unwrap()).unwrap()
}

/// The keys the old scheme gave a record: each entry's normalised ecosystem as written.
fn old_keys(adv: &Advisory) -> BTreeSet<(String, String)> {
    adv.affected
        .iter()
        .filter_map(|a| a.package.as_ref())
        .map(|p| {
            let eco = normalize_ecosystem(&p.ecosystem);
            let name = normalize_name(&eco, &p.name);
            (eco, name)
        })
        .collect()
}

async fn stored_keys(store: &Store, id: &str) -> BTreeSet<(String, String)> {
    sqlx::query("SELECT ecosystem, name FROM advisory_packages WHERE advisory_id = $1")
        .bind(id)
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("ecosystem"), r.get("name")))
        .collect()
}

async fn rekeyed_on_open(url: &str) {
    let suse = parse_advisory(
        br#"{"id": "TEST-SUSE-1", "modified": "2024-01-01T00:00:00Z",
             "affected": [{"package": {"ecosystem": "SUSE:Linux Enterprise Module for Basesystem 15 SP5", "name": "libopenssl3"},
                           "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.8-150500.5.8.1"}]}]}]}"#,
    )
    .unwrap();
    let debian = parse_advisory(
        br#"{"id": "TEST-DEB-1", "modified": "2024-01-01T00:00:00Z",
             "affected": [{"package": {"ecosystem": "Debian:12", "name": "zlib"},
                           "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-1+deb12u1"}]}]}]}"#,
    )
    .unwrap();
    let records = [
        testdata("RHSA-2023_5453.json"),
        testdata("ALSA-2022_6158.json"),
        suse,
        debian,
    ];
    let store = Store::open(url).await.unwrap();
    let rows: Vec<_> = records
        .iter()
        .map(|a| regscan::scan::advisories::import::row_of(a).unwrap())
        .collect();
    store.import_advisory_batch("test", &rows).await.unwrap();
    for adv in &records {
        let now: BTreeSet<_> = AdvisoryIndex::affected_keys(adv).into_iter().collect();
        assert_eq!(stored_keys(&store, &adv.id).await, now, "{}", adv.id);
    }
    // As an older regscan stored them.
    sqlx::query("DELETE FROM advisory_packages")
        .execute(store.pool())
        .await
        .unwrap();
    for adv in &records {
        for (eco, name) in old_keys(adv) {
            sqlx::query("INSERT INTO advisory_packages (advisory_id, ecosystem, name) VALUES ($1, $2, $3)")
                .bind(&adv.id)
                .bind(eco)
                .bind(name)
                .execute(store.pool())
                .await
                .unwrap();
        }
    }
    sqlx::query("INSERT INTO advisory_rekey_pending (scheme) VALUES ('rpm-streams')")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(stored_keys(&store, "RHSA-2023:5453")
        .await
        .contains(&("Red Hat:enterprise_linux:9::appstream".into(), "glibc-devel".into())));
    store.close().await;

    let store = Store::open(url).await.unwrap();
    for adv in &records {
        let now: BTreeSet<_> = AdvisoryIndex::affected_keys(adv).into_iter().collect();
        assert_eq!(stored_keys(&store, &adv.id).await, now, "{}", adv.id);
    }
    assert!(stored_keys(&store, "RHSA-2023:5453")
        .await
        .contains(&("Red Hat:enterprise_linux:9".into(), "glibc-devel".into())));
    assert!(stored_keys(&store, "ALSA-2022:6158")
        .await
        .contains(&("AlmaLinux:8 module:php:7.4".into(), "php".into())));
    assert!(stored_keys(&store, "TEST-SUSE-1")
        .await
        .contains(&("SUSE:15 SP5".into(), "libopenssl3".into())));
    let pending = sqlx::query("SELECT scheme FROM advisory_rekey_pending")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(pending.is_empty(), "the re-key runs once");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rekeyed_on_open_sqlite() {
    let (url, _dir) = sqlite_url();
    rekeyed_on_open(&url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rekeyed_on_open_postgres() {
    let db = PgDb::create();
    rekeyed_on_open(&db.url).await;
}
