//! The one place scanner plugins are registered, and the type table built from them.

use std::collections::BTreeMap;
use std::sync::Arc;

use regscan_scanner_api::types::TypeTableError;
use regscan_scanner_api::{Scanner, TypeTable};

use crate::config::Config;

/// Names of the built-in scanners, which `[[scanners.external]]` entries may not take. A test
/// checks it against [`registered`].
pub const BUILT_IN: &[&str] = &["image", "helm", "opa", "sbom", "cosign"];

/// Every scanner regscan runs, configured: the built-ins (adding a scanner crate means adding
/// one line here), then one external scanner per `[[scanners.external]]` entry. Fails when a
/// scanner's configuration is invalid (e.g. an unreadable verification key).
pub fn registered(config: &Config) -> anyhow::Result<Vec<Arc<dyn Scanner>>> {
    let s = &config.scanners;
    s.image
        .validate()
        .map_err(|e| anyhow::anyhow!("[scanners.image]: {e}"))?;
    s.helm.validate().map_err(|e| anyhow::anyhow!("[scanners.helm]: {e}"))?;
    let mut scanners: Vec<Arc<dyn Scanner>> = vec![
        Arc::new(regscan_scanner_image::ImageScanner::new(s.image.clone())),
        Arc::new(regscan_scanner_helm::HelmScanner::new(s.helm.clone())),
        Arc::new(
            regscan_scanner_opa::OpaScanner::new(s.opa.clone()).map_err(|e| anyhow::anyhow!("[scanners.opa]: {e}"))?,
        ),
        Arc::new(regscan_scanner_sbom::SbomScanner::new(s.sbom.clone())),
        Arc::new(regscan_scanner_cosign::CosignScanner::new(s.cosign.clone()).map_err(|e| anyhow::anyhow!("{e}"))?),
    ];
    for (i, e) in s.external.iter().enumerate() {
        let at = || format!("[[scanners.external]] #{} ({:?})", i + 1, e.name);
        if let Some(taken) = scanners.iter().find(|s| s.name() == e.name) {
            anyhow::bail!("{}: the name is taken by scanner {}", at(), taken.name());
        }
        let scanner =
            regscan_scanner_external::ExternalScanner::new(e.clone()).map_err(|m| anyhow::anyhow!("{}: {m}", at()))?;
        scanners.push(Arc::new(scanner));
    }
    Ok(scanners)
}

/// Scanners by name.
pub fn by_name(scanners: &[Arc<dyn Scanner>]) -> BTreeMap<String, Arc<dyn Scanner>> {
    scanners.iter().map(|s| (s.name().to_owned(), s.clone())).collect()
}

/// The type table: what the scanners accept, the well-known unsupported types, and the user's
/// `[[types]]` rows. Fails when two scanners claim one media type.
pub fn type_table(scanners: &[Arc<dyn Scanner>], config: &Config) -> Result<TypeTable, TypeTableError> {
    let names: Vec<&str> = scanners.iter().map(|s| s.name()).collect();
    TypeTable::build(
        scanners.iter().flat_map(|s| s.accepts()),
        config.types.iter().cloned(),
        &names,
    )
}

#[cfg(test)]
mod tests {
    use regscan_scanner_api::media;

    use super::*;

    #[test]
    fn built_in_scanners_claim_distinct_types_and_route_the_core_kinds() {
        let config = Config::default();
        let scanners = registered(&config).unwrap();
        let table = type_table(&scanners, &config).expect("no two scanners claim one media type");
        for (mt, kind, scanner) in [
            (media::OCI_CONFIG, "image", "image"),
            (media::DOCKER_CONFIG, "image", "image"),
            (media::HELM_CONFIG, "helm", "helm"),
            (media::HELM_CONFIG_V3, "helm", "helm"),
            (media::OPA_CONFIG, "opa", "opa"),
            ("application/spdx+json", "sbom", "sbom"),
            ("application/vnd.cyclonedx+json", "sbom", "sbom"),
            (
                "application/vnd.in-toto+json; predicateType=https://spdx.dev/Document",
                "sbom",
                "sbom",
            ),
            (media::COSIGN_SIMPLESIGNING, "signature", "cosign"),
        ] {
            let e = table.lookup(mt).unwrap_or_else(|| panic!("{mt} missing"));
            assert_eq!((e.kind.as_str(), e.scanner.as_deref()), (kind, Some(scanner)), "{mt}");
        }
        let names: Vec<_> = scanners.iter().map(|s| s.name()).collect();
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(names.len(), unique.len(), "scanner names must be unique");
        assert_eq!(names, BUILT_IN, "BUILT_IN lists the built-in scanners");
    }

    fn external(name: &str, accepts: &str) -> regscan_scanner_external::ExternalConfig {
        regscan_scanner_external::ExternalConfig {
            name: name.into(),
            version: "1.0".into(),
            command: vec!["/opt/plugin".into()],
            accepts: vec![accepts.into()],
            kind: "wasm".into(),
            ..Default::default()
        }
    }

    #[test]
    fn external_scanners_are_registered_after_the_built_ins_and_routed() {
        let mut config = Config::default();
        config.scanners.external = vec![external("wasm-audit", "application/vnd.wasm.config.v0+json")];
        let scanners = registered(&config).unwrap();
        let last = scanners.last().unwrap();
        assert_eq!((last.name(), last.version()), ("wasm-audit", "1.0"));
        let table = type_table(&scanners, &config).unwrap();
        let e = table.lookup("application/vnd.wasm.config.v0+json").unwrap();
        assert_eq!((e.kind.as_str(), e.scanner.as_deref()), ("wasm", Some("wasm-audit")));
    }

    #[test]
    fn a_media_type_claimed_twice_names_both_claimants() {
        let mut config = Config::default();
        config.scanners.external = vec![external("chart-lint", media::HELM_CONFIG)];
        let scanners = registered(&config).unwrap();
        let err = type_table(&scanners, &config).unwrap_err().to_string();
        assert!(
            err.contains(media::HELM_CONFIG) && err.contains("helm") && err.contains("chart-lint"),
            "{err}"
        );
        config.scanners.external = vec![
            external("one", "application/vnd.acme.v1+json"),
            external("two", "application/vnd.acme.v1+json"),
        ];
        let scanners = registered(&config).unwrap();
        let err = type_table(&scanners, &config).unwrap_err().to_string();
        assert!(
            err.contains("application/vnd.acme.v1+json") && err.contains("one") && err.contains("two"),
            "{err}"
        );
    }

    #[test]
    fn an_external_scanner_may_not_take_a_built_in_name() {
        let mut config = Config::default();
        config.scanners.external = vec![external("opa", "application/vnd.acme.v1+json")];
        let err = registered(&config).err().expect("name clash refused").to_string();
        assert!(err.contains("\"opa\"") && err.contains("taken"), "{err}");
    }
}
