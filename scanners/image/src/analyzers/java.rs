//! Java archives (`.jar`, `.war`, `.ear`, Jenkins `.jpi`/`.hpi`): Maven coordinates from
//! `META-INF/maven/<groupId>/<artifactId>/pom.properties`, in the archive and in the archives it
//! nests (`WEB-INF/lib/*.jar`, `BOOT-INF/lib/*.jar`, an ear's wars, …), two levels deep. An
//! archive without any `pom.properties` falls back to `META-INF/MANIFEST.MF`.
//!
//! Zip needs random access, so an archive is read into memory: the outer archive up to
//! [`MAX_ARCHIVE_BYTES`], each nested one up to [`MAX_NESTED_BYTES`] decompressed, and all
//! decompressed data of one outer archive together up to [`MAX_TOTAL_BYTES`].

use std::collections::BTreeSet;
use std::io::{Cursor, Read};

use regscan_scanner_api::Package;
use zip::ZipArchive;

use super::{package, read_all, AnalyzeError, AnalyzerId, FileFacts};

/// Largest outer archive read.
pub(crate) const MAX_ARCHIVE_BYTES: u64 = 64 * 1024 * 1024;

/// Largest nested archive read (decompressed).
const MAX_NESTED_BYTES: u64 = 32 * 1024 * 1024;

/// Decompressed bytes read from one outer archive, nested archives included.
const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024;

/// Largest `pom.properties` or `MANIFEST.MF` read.
const MAX_META_BYTES: u64 = 256 * 1024;

/// Nesting depth: the outer archive is level 0; archives inside it level 1, inside those 2.
const MAX_DEPTH: u32 = 2;

/// Most entries looked at per archive.
const MAX_ENTRIES: usize = 100_000;

/// Whether a file name is a Java archive (case-insensitive extension).
pub(crate) fn is_archive_name(name: &str) -> bool {
    let b = name.as_bytes();
    if b.len() < 5 {
        return false;
    }
    let ext = &b[b.len() - 4..];
    [b".jar", b".war", b".ear", b".jpi", b".hpi"]
        .iter()
        .any(|e| ext.eq_ignore_ascii_case(*e))
}

/// What is left of the decompression budget.
struct Budget {
    /// Decompressed bytes that may still be read.
    bytes: u64,
}

/// Read a Java archive and return its Maven packages.
pub(crate) fn analyze(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::Java;
    let bytes = read_all(id, path, content)?;
    let mut budget = Budget { bytes: MAX_TOTAL_BYTES };
    let mut found = BTreeSet::new();
    scan_archive(path, &bytes, 0, &mut budget, &mut found, archive_stem(path))
        .map_err(|problem| AnalyzeError::malformed(id, path, problem))?;
    let packages: Vec<Package> = found
        .into_iter()
        .map(|(name, version)| package("Maven", name, version, path))
        .collect();
    Ok(if packages.is_empty() {
        FileFacts::Nothing
    } else {
        FileFacts::Packages(packages)
    })
}

/// The file name of `path` without directory and extension.
fn archive_stem(path: &str) -> &str {
    let name = path.rsplit(['/', '!']).next().unwrap_or(path);
    name.rsplit_once('.').map_or(name, |(stem, _)| stem)
}

/// Read one entry fully, within `limit` and the budget.
fn read_entry<R: Read + std::io::Seek>(
    zip: &mut ZipArchive<R>,
    index: usize,
    limit: u64,
    budget: &mut Budget,
) -> Result<Vec<u8>, String> {
    let mut entry = zip.by_index(index).map_err(|e| format!("entry {index}: {e}"))?;
    let name = entry.name().to_owned();
    let cap = limit.min(budget.bytes);
    if entry.size() > cap {
        return Err(format!("{name} is {} bytes, over the {cap}-byte limit", entry.size()));
    }
    let mut out = Vec::with_capacity(entry.size() as usize);
    (&mut entry)
        .take(cap + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("{name}: {e}"))?;
    if out.len() as u64 > cap {
        return Err(format!("{name} decompresses past the {cap}-byte limit"));
    }
    budget.bytes -= out.len() as u64;
    Ok(out)
}

/// Collect `(groupId:artifactId, version)` pairs from an archive and its nested archives.
/// Problems with the outer archive are errors; a nested archive that cannot be read is skipped
/// (it is reported through the outer archive's packages only when it could be read).
fn scan_archive(
    label: &str,
    bytes: &[u8],
    depth: u32,
    budget: &mut Budget,
    found: &mut BTreeSet<(String, String)>,
    stem: &str,
) -> Result<(), String> {
    let mut zip =
        ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("{label}: not a readable zip archive: {e}"))?;
    if zip.len() > MAX_ENTRIES {
        return Err(format!(
            "{label}: {} entries, over the {MAX_ENTRIES}-entry limit",
            zip.len()
        ));
    }
    let mut poms = Vec::new();
    let mut manifest = None;
    let mut nested = Vec::new();
    for (index, name) in zip.file_names().enumerate() {
        if name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties") {
            poms.push(index);
        } else if name.eq_ignore_ascii_case("META-INF/MANIFEST.MF") {
            manifest = Some(index);
        } else if depth < MAX_DEPTH && is_archive_name(name) {
            nested.push((index, name.to_owned()));
        }
    }
    // `file_names` yields in central directory order, which `by_index` uses too.
    let mut own = BTreeSet::new();
    for index in poms {
        let text = read_entry(&mut zip, index, MAX_META_BYTES, budget)?;
        if let Some(coords) = pom_coordinates(&String::from_utf8_lossy(&text)) {
            own.insert(coords);
        }
    }
    if own.is_empty() {
        if let Some(index) = manifest {
            let text = read_entry(&mut zip, index, MAX_META_BYTES, budget)?;
            if let Some(coords) = manifest_coordinates(&String::from_utf8_lossy(&text), stem) {
                own.insert(coords);
            }
        }
    }
    found.extend(own);
    for (index, name) in nested {
        let Ok(inner) = read_entry(&mut zip, index, MAX_NESTED_BYTES, budget) else {
            continue;
        };
        let inner_label = format!("{label}!{name}");
        // A nested file named .jar that is not a zip is not this archive's fault.
        let _ = scan_archive(&inner_label, &inner, depth + 1, budget, found, archive_stem(&name));
    }
    Ok(())
}

/// `key=value` pairs of a Java properties file (comments, `:` separators, `\` escapes of the
/// separator characters handled; line continuations are not needed for Maven's files).
fn properties(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            return None;
        }
        let sep = line.find(['=', ':'])?;
        Some((line[..sep].trim(), line[sep + 1..].trim()))
    })
}

/// `(groupId:artifactId, version)` from a `pom.properties`.
fn pom_coordinates(text: &str) -> Option<(String, String)> {
    let (mut group, mut artifact, mut version) = (None, None, None);
    for (key, value) in properties(text) {
        match key {
            "groupId" => group = Some(value),
            "artifactId" => artifact = Some(value),
            "version" => version = Some(value),
            _ => {}
        }
    }
    let (g, a, v) = (group?, artifact?, version?);
    (!g.is_empty() && !a.is_empty() && !v.is_empty()).then(|| (format!("{g}:{a}"), v.to_owned()))
}

/// `(groupId:artifactId, version)` from a manifest, when it names a group: `Implementation-
/// Vendor-Id` (Maven's default manifest entries) or an OSGi `Bundle-SymbolicName` ending in the
/// artifact. The artifact comes from the archive's file name (`commons-io-2.15.1.jar` ->
/// `commons-io`) or `Implementation-Title` when that is one word; the version from
/// `Implementation-Version`, else `Bundle-Version`.
fn manifest_coordinates(text: &str, stem: &str) -> Option<(String, String)> {
    let mut attrs = std::collections::HashMap::new();
    for line in text.lines() {
        // Continuation lines (leading space) only extend long values; the ones used here are short.
        if let Some((k, v)) = line.split_once(": ") {
            attrs.entry(k.trim()).or_insert(v.trim());
        }
    }
    let version = attrs
        .get("Implementation-Version")
        .or(attrs.get("Bundle-Version"))
        .copied()?;
    let artifact = match stem_artifact(stem, version) {
        Some(a) => a.to_owned(),
        None => attrs
            .get("Implementation-Title")
            .filter(|t| !t.contains(' '))
            .map(|t| t.to_string())?,
    };
    let group = match attrs.get("Implementation-Vendor-Id") {
        Some(g) if !g.is_empty() && !g.contains(' ') => g.to_string(),
        _ => {
            let bsn = attrs.get("Bundle-SymbolicName")?.split(';').next()?.trim();
            bsn.strip_suffix(&format!(".{artifact}"))?.to_owned()
        }
    };
    (!version.is_empty()).then(|| (format!("{group}:{artifact}"), version.to_owned()))
}

/// The artifact id from a file stem `artifact-version` whose version matches `version`.
fn stem_artifact<'a>(stem: &'a str, version: &str) -> Option<&'a str> {
    let artifact = stem.strip_suffix(version)?.strip_suffix('-')?;
    (!artifact.is_empty()).then_some(artifact)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipWriter};

    use super::*;

    fn jar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        for (name, data) in files {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn pom(g: &str, a: &str, v: &str) -> Vec<u8> {
        format!("#Generated by Maven\n#Tue Jan 16 10:00:00 UTC 2024\nartifactId={a}\ngroupId={g}\nversion={v}\n")
            .into_bytes()
    }

    fn coords(facts: FileFacts) -> Vec<(String, String)> {
        match facts {
            FileFacts::Packages(p) => {
                assert!(p.iter().all(|p| p.ecosystem == "Maven"));
                p.into_iter().map(|p| (p.name, p.version)).collect()
            }
            FileFacts::Nothing => Vec::new(),
            other => panic!("{other:?}"),
        }
    }

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_owned(), b.to_owned())
    }

    #[test]
    fn plain_jar_with_pom_properties() {
        let data = jar(&[
            (
                "META-INF/MANIFEST.MF",
                b"Manifest-Version: 1.0\r\nImplementation-Version: 9.9\r\n",
            ),
            (
                "META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties",
                &pom("org.apache.logging.log4j", "log4j-core", "2.14.1"),
            ),
            ("org/apache/logging/log4j/core/Logger.class", b"\xca\xfe\xba\xbe"),
        ]);
        let got = coords(analyze("app/lib/log4j-core-2.14.1.jar", &mut data.as_slice()).unwrap());
        assert_eq!(got, [pair("org.apache.logging.log4j:log4j-core", "2.14.1")]);
    }

    #[test]
    fn spring_boot_jar_with_nested_jars() {
        let inner1 = jar(&[(
            "META-INF/maven/com.fasterxml.jackson.core/jackson-databind/pom.properties",
            &pom("com.fasterxml.jackson.core", "jackson-databind", "2.13.0"),
        )]);
        let inner2 = jar(&[(
            "META-INF/MANIFEST.MF",
            b"Manifest-Version: 1.0\nBundle-SymbolicName: org.yaml.snakeyaml\nBundle-Version: 1.30\nImplementation-Version: 1.30\n",
        )]);
        let not_a_zip: &[u8] = b"this is not a zip";
        let outer = jar(&[
            (
                "META-INF/maven/com.example/demo/pom.properties",
                &pom("com.example", "demo", "0.0.1-SNAPSHOT"),
            ),
            ("BOOT-INF/lib/jackson-databind-2.13.0.jar", &inner1),
            ("BOOT-INF/lib/snakeyaml-1.30.jar", &inner2),
            ("BOOT-INF/lib/broken.jar", not_a_zip),
        ]);
        let got = coords(analyze("app/demo.jar", &mut outer.as_slice()).unwrap());
        assert_eq!(
            got,
            [
                pair("com.example:demo", "0.0.1-SNAPSHOT"),
                pair("com.fasterxml.jackson.core:jackson-databind", "2.13.0"),
                pair("org.yaml:snakeyaml", "1.30"),
            ]
        );
    }

    #[test]
    fn ear_war_jar_two_levels() {
        let lib = jar(&[(
            "META-INF/maven/commons-io/commons-io/pom.properties",
            &pom("commons-io", "commons-io", "2.15.1"),
        )]);
        let war = jar(&[("WEB-INF/lib/commons-io-2.15.1.jar", &lib)]);
        let ear = jar(&[("web.war", &war)]);
        let got = coords(analyze("srv/app.ear", &mut ear.as_slice()).unwrap());
        assert_eq!(got, [pair("commons-io:commons-io", "2.15.1")]);
    }

    #[test]
    fn manifest_fallback() {
        let data = jar(&[(
            "META-INF/MANIFEST.MF",
            b"Manifest-Version: 1.0\nImplementation-Title: guava\nImplementation-Vendor-Id: com.google.guava\nImplementation-Version: 31.1-jre\n",
        )]);
        let got = coords(analyze("opt/x/guava.jar", &mut data.as_slice()).unwrap());
        assert_eq!(got, [pair("com.google.guava:guava", "31.1-jre")]);
        // No group: nothing is invented.
        let data = jar(&[(
            "META-INF/MANIFEST.MF",
            b"Manifest-Version: 1.0\nImplementation-Version: 1.0\n",
        )]);
        assert_eq!(
            analyze("opt/x/thing-1.0.jar", &mut data.as_slice()).unwrap(),
            FileFacts::Nothing
        );
    }

    #[test]
    fn bad_archives_are_errors() {
        let err = analyze("app/x.jar", &mut b"PK\x03\x04garbage".as_slice())
            .unwrap_err()
            .to_string();
        assert!(err.contains("app/x.jar") && err.contains("zip"), "{err}");
    }

    #[test]
    fn zip_bomb_is_bounded() {
        let zeros = vec![0u8; (MAX_META_BYTES + 10) as usize];
        let data = jar(&[("META-INF/maven/a/b/pom.properties", &zeros)]);
        let err = analyze("app/bomb.jar", &mut data.as_slice()).unwrap_err().to_string();
        assert!(err.contains("limit"), "{err}");
    }

    #[test]
    fn archive_names() {
        assert!(
            is_archive_name("a.jar")
                && is_archive_name("B.WAR")
                && is_archive_name("x.ear")
                && is_archive_name("p.hpi")
        );
        assert!(!is_archive_name(".jar") && !is_archive_name("jar") && !is_archive_name("a.jar.sha1"));
        assert_eq!(stem_artifact("commons-io-2.15.1", "2.15.1"), Some("commons-io"));
        assert_eq!(stem_artifact("commons-io", "2.15.1"), None);
    }
}
