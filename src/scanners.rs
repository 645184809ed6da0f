//! The one place scanner plugins are registered, and the type table built from them.

use std::collections::BTreeMap;
use std::sync::Arc;

use regscan_scanner_api::types::TypeTableError;
use regscan_scanner_api::{Scanner, TypeTable};

use crate::config::Config;

/// Every scanner regscan runs, configured. Adding a scanner crate means adding one line here.
/// Fails when a scanner's configuration is invalid (e.g. an unreadable verification key).
pub fn registered(config: &Config) -> anyhow::Result<Vec<Arc<dyn Scanner>>> {
    let s = &config.scanners;
    s.image
        .validate()
        .map_err(|e| anyhow::anyhow!("[scanners.image]: {e}"))?;
    s.helm.validate().map_err(|e| anyhow::anyhow!("[scanners.helm]: {e}"))?;
    Ok(vec![
        Arc::new(regscan_scanner_image::ImageScanner::new(s.image.clone())),
        Arc::new(regscan_scanner_helm::HelmScanner::new(s.helm.clone())),
        Arc::new(
            regscan_scanner_opa::OpaScanner::new(s.opa.clone()).map_err(|e| anyhow::anyhow!("[scanners.opa]: {e}"))?,
        ),
        Arc::new(regscan_scanner_sbom::SbomScanner::new(s.sbom.clone())),
        Arc::new(regscan_scanner_cosign::CosignScanner::new(s.cosign.clone()).map_err(|e| anyhow::anyhow!("{e}"))?),
    ])
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
    }
}
