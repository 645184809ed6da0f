//! Gradle dependency locking: `gradle.lockfile`, `buildscript-gradle.lockfile` and Gradle 6's
//! per-configuration `gradle/dependency-locks/<configuration>.lockfile`.
//!
//! Lines are `group:artifact:version=configuration,…` (`empty=…` and `#` comments skipped; the
//! Gradle 6 files have no `=…`, the configuration is the file name). A dependency is `dev` when
//! every configuration that locks it is a test or build-tool one (see
//! [`is_dev_configuration`]); everything in `buildscript-gradle.lockfile` (the build's own
//! plugins) is `dev`.

use std::io::Read;

use super::{package, read_text, AnalyzeError, AnalyzerId, FileFacts};

/// Whether a file name is a Gradle lock file: `gradle.lockfile`, `buildscript-gradle.lockfile`,
/// or a Gradle 6 `gradle/dependency-locks/<configuration>.lockfile`.
pub(crate) fn is_gradle_lockfile(path: &str, file_name: &str) -> bool {
    file_name == "gradle.lockfile"
        || file_name == "buildscript-gradle.lockfile"
        || (file_name.ends_with(".lockfile") && in_dependency_locks(path, file_name))
}

/// Whether `path` lies directly in a `gradle/dependency-locks/` directory.
pub(crate) fn in_dependency_locks(path: &str, file_name: &str) -> bool {
    let dir = &path[..path.len() - file_name.len()];
    dir == "gradle/dependency-locks/" || dir.ends_with("/gradle/dependency-locks/")
}

/// Whether a Gradle configuration only serves tests or build tools, so what it alone locks never
/// ships: test configurations (`test…` and `…Test…`: `testRuntimeClasspath`,
/// `integrationTestCompileClasspath`, `debugAndroidTestRuntimeClasspath`, `testFixtures…`),
/// annotation processors (`annotationProcessor`, `testAnnotationProcessor`, Kotlin's `kapt…` and
/// `ksp…`) and the code-quality and coverage plugins' tool classpaths.
pub(crate) fn is_dev_configuration(conf: &str) -> bool {
    const TOOLS: &[&str] = &[
        "checkstyle",
        "pmd",
        "spotbugs",
        "spotbugsPlugins",
        "jacocoAgent",
        "jacocoAnt",
        "detekt",
        "ktlint",
        "errorprone",
        "codenarc",
    ];
    conf.starts_with("test")
        || conf.contains("Test")
        || conf == "annotationProcessor"
        || conf.ends_with("AnnotationProcessor")
        || conf.starts_with("kapt")
        || conf.starts_with("ksp")
        || TOOLS.contains(&conf)
}

/// Parse a Gradle lock file into `Maven` packages.
pub(crate) fn analyze_gradle(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::GradleLock;
    let text = read_text(id, path, content)?;
    let file_name = path.rsplit('/').next().unwrap_or(path);
    let build_only = file_name == "buildscript-gradle.lockfile";
    // Gradle 6: the configuration is the file name, lines have no `=…`.
    let legacy_conf = (file_name != "gradle.lockfile" && !build_only).then(|| file_name.trim_end_matches(".lockfile"));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (coords, confs) = match (line.split_once('='), legacy_conf) {
            (Some((c, confs)), _) => (c, confs),
            (None, Some(conf)) => (line, conf),
            (None, None) => {
                return Err(AnalyzeError::malformed(
                    id,
                    path,
                    format!("line {}: no `=configurations`", n + 1),
                ));
            }
        };
        if coords == "empty" {
            continue;
        }
        let mut parts = coords.split(':');
        let (Some(group), Some(artifact), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AnalyzeError::malformed(
                id,
                path,
                format!("line {}: not `group:artifact:version`", n + 1),
            ));
        };
        if group.is_empty() || artifact.is_empty() || version.is_empty() || parts.next().is_some() {
            return Err(AnalyzeError::malformed(
                id,
                path,
                format!("line {}: not `group:artifact:version`", n + 1),
            ));
        }
        let mut p = package("Maven", format!("{group}:{artifact}"), version, path);
        p.dev = build_only || confs.split(',').map(str::trim).all(is_dev_configuration);
        out.push(p);
    }
    Ok(FileFacts::Packages(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::test_support::{maven_triples as got, triples};

    /// The header and line format Gradle 7/8 writes (`./gradlew dependencies --write-locks`).
    const GRADLE: &str = "# This is a Gradle generated file for dependency locking.
# Manual edits can break the build and are not advised.
# This file is expected to be part of source control.
com.fasterxml.jackson.core:jackson-databind:2.15.3=compileClasspath,runtimeClasspath,testCompileClasspath,testRuntimeClasspath
com.google.guava:guava:32.1.3-jre=runtimeClasspath
junit:junit:4.13.2=testCompileClasspath,testRuntimeClasspath
org.mockito:mockito-core:5.7.0=integrationTestRuntimeClasspath,testRuntimeClasspath
empty=annotationProcessor,testAnnotationProcessor
";

    #[test]
    fn gradle_lockfile_with_test_configurations() {
        let p = got(analyze_gradle("app/gradle.lockfile", &mut GRADLE.as_bytes()).unwrap());
        assert_eq!(
            p,
            triples(&[
                ("com.fasterxml.jackson.core:jackson-databind", "2.15.3", false),
                ("com.google.guava:guava", "32.1.3-jre", false),
                ("junit:junit", "4.13.2", true),
                ("org.mockito:mockito-core", "5.7.0", true),
            ])
        );
        let legacy = "# comment\norg.slf4j:slf4j-api:2.0.9\n";
        let p = got(analyze_gradle(
            "app/gradle/dependency-locks/testRuntimeClasspath.lockfile",
            &mut legacy.as_bytes(),
        )
        .unwrap());
        assert_eq!(p, triples(&[("org.slf4j:slf4j-api", "2.0.9", true)]));
        let build = "org.springframework.boot:spring-boot-gradle-plugin:3.1.5=classpath\n";
        let p = got(analyze_gradle("buildscript-gradle.lockfile", &mut build.as_bytes()).unwrap());
        assert!(p[0].2);
    }

    #[test]
    fn gradle_hostile_input() {
        for bad in ["a:b=c\n", "a:b:c:d:e=x\n", ":b:1=x\n", "no-equals\n"] {
            let err = analyze_gradle("gradle.lockfile", &mut bad.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("gradle.lockfile") && err.contains("line 1"),
                "{bad:?}: {err}"
            );
        }
        let _ = analyze_gradle("gradle.lockfile", &mut "\u{0}\u{ff}=\n=\n==\n".as_bytes());
    }
}
