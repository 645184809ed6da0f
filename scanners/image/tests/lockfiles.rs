//! Lockfiles in images end to end: read from layers, and superseded by what is installed from
//! them (`regscan_scanner_image::lockfiles`).

mod common;

use common::*;
use regscan_scanner_api::media;

const GZ: &str = media::OCI_LAYER_GZIP;

fn fixture(path: &str) -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/analyzers/testdata/lockfiles/");
    std::fs::read(format!("{dir}{path}")).unwrap()
}

fn installed(name: &str, version: &str) -> String {
    format!(r#"{{"name": "{name}", "version": "{version}", "license": "MIT"}}"#)
}

#[tokio::test]
async fn installed_node_modules_win_over_their_lockfile_other_lockfiles_stay() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    // Layer 1: the sources with their lockfiles (one JS project, one Python, one standalone).
    let sources = Layer::new()
        .file("app/package.json", fixture("js/package.json"))
        .file("app/package-lock.json", fixture("js/package-lock.v3.json"))
        .file("app/poetry.lock", fixture("py/poetry.lock"))
        .file("srv/web/yarn.lock", fixture("js/yarn-berry.lock"))
        .gzip();
    // Layer 2: `npm ci` installed two of the app's packages (one dev-only per the lockfile),
    // and npm's hidden lockfile, which is not read.
    let install = Layer::new()
        .file("app/node_modules/express/package.json", installed("express", "4.18.2"))
        .file("app/node_modules/ms/package.json", installed("ms", "2.1.2"))
        .file(
            "app/node_modules/.package-lock.json",
            fixture("js/package-lock.v3.json"),
        )
        .gzip();
    let m = image(
        &blobs,
        config_json(Some("app"), &[], &[]),
        vec![(GZ, sources), (GZ, install)],
    );
    let out = scan(&m, &blobs, &cache).await.unwrap();

    let from = |path: &str| out.packages.iter().filter(|p| p.path == path).count();
    assert_eq!(from("app/package-lock.json"), 0, "superseded by app/node_modules");
    assert_eq!(from("srv/web/yarn.lock"), 81);
    assert_eq!(from("app/poetry.lock"), 11);
    assert_eq!(out.details["package_counts"]["npm"], 83);
    assert_eq!(out.details["package_counts"]["PyPI"], 11);

    let npm = |path: &str, name: &str| {
        out.packages
            .iter()
            .find(|p| p.path == path && p.name == name)
            .unwrap_or_else(|| panic!("{name} in {path}"))
    };
    let ms = npm("app/node_modules/ms/package.json", "ms");
    assert!(ms.dev, "dev-only per app/package-lock.json");
    assert_eq!(ms.layer.as_deref(), Some(m.layers[1].digest.as_str()));
    assert!(!npm("app/node_modules/express/package.json", "express").dev);
    // yarn.lock records no dev flag: all of it is runtime.
    assert!(!npm("srv/web/yarn.lock", "chalk").dev);
    let pytest = out.packages.iter().find(|p| p.name == "pytest").unwrap();
    assert!(pytest.dev && pytest.path == "app/poetry.lock" && pytest.ecosystem == "PyPI");
    assert_eq!(pytest.layer.as_deref(), Some(m.layers[0].digest.as_str()));
}

#[tokio::test]
async fn a_lockfile_deleted_in_a_later_layer_is_gone() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let l0 = Layer::new().file("app/Gemfile.lock", fixture("rb/Gemfile.lock")).gzip();
    let l1 = Layer::new().whiteout("app/Gemfile.lock").gzip();
    let m = image(&blobs, config_json(Some("app"), &[], &[]), vec![(GZ, l0.clone())]);
    assert_eq!(scan(&m, &blobs, &cache).await.unwrap().packages.len(), 15);
    let m = image(&blobs, config_json(Some("app"), &[], &[]), vec![(GZ, l0), (GZ, l1)]);
    assert!(scan(&m, &blobs, &cache).await.unwrap().packages.is_empty());
}
