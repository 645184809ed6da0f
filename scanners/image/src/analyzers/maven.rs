//! JVM dependencies declared by build files: `gradle.lockfile` (Gradle's dependency locking)
//! and `pom.xml` with explicit versions.
//!
//! `gradle.lockfile`: `group:artifact:version=configuration,…` lines (`empty=…` and comments
//! skipped). A dependency locked only for test configurations (`test…`, `…Test…`, such as
//! `testRuntimeClasspath`, `integrationTestCompileClasspath`, `androidTestImplementation`) is
//! `dev`; so is everything in `buildscript-gradle.lockfile` (build-time plugins). Gradle 6's
//! per-configuration files (`gradle/dependency-locks/<configuration>.lockfile`) are read the
//! same way, the configuration taken from the file name.
//!
//! `pom.xml`: `project/dependencies/dependency` with a literal version, or a `${property}`
//! version resolved from the same pom's `<properties>` (and `${project.version}` /
//! `${project.parent.version}`); `test` and `provided` scopes are `dev`. Not read: the parent
//! pom and imported BOMs (no resolution outside the file), `dependencyManagement` entries (they
//! only pin versions), profiles, plugins, version ranges; a dependency whose version is missing
//! or cannot be resolved in the file is left out.

use std::collections::HashMap;
use std::io::Read;

use quick_xml::events::Event;
use quick_xml::Reader;
use regscan_scanner_api::Package;

use super::{package, read_all, read_text, AnalyzeError, AnalyzerId, FileFacts};

/// Deepest element nesting accepted in a pom (real poms stay under 10).
const MAX_DEPTH: usize = 64;

/// Most `${…}` substitutions while resolving one version (chains and cycles).
const MAX_EXPANSIONS: usize = 16;

/// Whether a file name is a Gradle lock file: `gradle.lockfile`, `buildscript-gradle.lockfile`,
/// or a Gradle 6 `gradle/dependency-locks/<configuration>.lockfile`.
pub(crate) fn is_gradle_lockfile(path: &str, file_name: &str) -> bool {
    file_name == "gradle.lockfile"
        || file_name == "buildscript-gradle.lockfile"
        || (file_name.ends_with(".lockfile") && in_dependency_locks(path, file_name))
}

/// Whether a `pom.xml` is a project's build file: not a copy in Maven's local repository
/// (`.m2/`), not the `META-INF/maven/…/pom.xml` of an exploded library jar (its dependencies
/// are the library's, resolved by whoever built the application) and not test resources.
pub(crate) fn is_project_pom(path: &str) -> bool {
    !(path.contains(".m2/") || path.contains("META-INF/maven/") || path.contains("src/test/"))
}

/// Whether `path` lies directly in a `gradle/dependency-locks/` directory.
pub(crate) fn in_dependency_locks(path: &str, file_name: &str) -> bool {
    let dir = &path[..path.len() - file_name.len()];
    dir == "gradle/dependency-locks/" || dir.ends_with("/gradle/dependency-locks/")
}

/// Whether a Gradle configuration only serves tests.
fn is_test_configuration(conf: &str) -> bool {
    conf.starts_with("test") || conf.contains("Test")
}

/// Parse a Gradle lock file into `Maven` packages.
pub(crate) fn analyze_gradle(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::GradleLock;
    let text = read_text(id, path, content)?;
    let file_name = path.rsplit('/').next().unwrap_or(path);
    let build_only = file_name == "buildscript-gradle.lockfile";
    // Gradle 6: the configuration is the file name, lines have no `=…`.
    let legacy_conf = (file_name != "gradle.lockfile" && !build_only)
        .then(|| file_name.trim_end_matches(".lockfile"));
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
                return Err(AnalyzeError::malformed(id, path, format!("line {}: no `=configurations`", n + 1)));
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
        p.dev = build_only || confs.split(',').map(str::trim).all(is_test_configuration);
        out.push(p);
    }
    Ok(FileFacts::Packages(out))
}

/// A `<dependency>` being read.
#[derive(Default)]
struct Dependency {
    group: String,
    artifact: String,
    version: Option<String>,
    scope: Option<String>,
}

/// Where in the pom an element's text goes.
#[derive(Clone, Copy, PartialEq)]
enum Slot {
    Property,
    ProjectVersion,
    ProjectGroup,
    ParentVersion,
    DepGroup,
    DepArtifact,
    DepVersion,
    DepScope,
    None,
}

/// Parse a `pom.xml` into `Maven` packages.
pub(crate) fn analyze_pom(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::Pom;
    let bytes = read_all(id, path, content)?;
    let bad = |problem: String| AnalyzeError::malformed(id, path, problem);
    let mut reader = Reader::from_reader(bytes.as_slice());
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut props: HashMap<String, String> = HashMap::new();
    let mut project_version: Option<String> = None;
    let mut parent_version: Option<String> = None;
    let mut deps: Vec<Dependency> = Vec::new();
    let mut current: Option<Dependency> = None;
    let mut slot = Slot::None;
    let mut text = String::new();
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| bad(format!("invalid XML at byte {}: {e}", reader.error_position())))?;
        match event {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(bad(format!("elements nested deeper than {MAX_DEPTH}")));
                }
                stack.push(e.local_name().as_ref().to_vec());
                let names: Vec<&[u8]> = stack.iter().map(Vec::as_slice).collect();
                slot = match names.as_slice() {
                    [b"project", b"properties", _] => Slot::Property,
                    [b"project", b"version"] => Slot::ProjectVersion,
                    [b"project", b"groupId"] => Slot::ProjectGroup,
                    [b"project", b"parent", b"version"] => Slot::ParentVersion,
                    [b"project", b"dependencies", b"dependency"] => {
                        current = Some(Dependency::default());
                        Slot::None
                    }
                    [b"project", b"dependencies", b"dependency", b"groupId"] => Slot::DepGroup,
                    [b"project", b"dependencies", b"dependency", b"artifactId"] => Slot::DepArtifact,
                    [b"project", b"dependencies", b"dependency", b"version"] => Slot::DepVersion,
                    [b"project", b"dependencies", b"dependency", b"scope"] => Slot::DepScope,
                    _ => Slot::None,
                };
                text.clear();
            }
            Event::Text(t) => {
                if slot != Slot::None {
                    let t = t
                        .xml10_content()
                        .map_err(|e| bad(format!("invalid text at byte {}: {e}", reader.buffer_position())))?;
                    text.push_str(&t);
                }
            }
            Event::CData(t) => {
                if slot != Slot::None {
                    text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) => {
                if slot != Slot::None {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => text.push(c),
                        _ => {
                            let name = r
                                .decode()
                                .map_err(|e| bad(format!("invalid reference at byte {}: {e}", reader.buffer_position())))?;
                            let c = match name.as_ref() {
                                "amp" => '&',
                                "lt" => '<',
                                "gt" => '>',
                                "quot" => '"',
                                "apos" => '\'',
                                other => return Err(bad(format!("unknown entity &{other};"))),
                            };
                            text.push(c);
                        }
                    }
                }
            }
            Event::End(_) => {
                let value = text.trim().to_owned();
                let name = stack.pop().unwrap_or_default();
                match slot {
                    Slot::Property => {
                        props.insert(String::from_utf8_lossy(&name).into_owned(), value);
                    }
                    Slot::ProjectVersion => project_version = Some(value),
                    Slot::ParentVersion => parent_version = Some(value),
                    Slot::DepGroup | Slot::DepArtifact | Slot::DepVersion | Slot::DepScope => {
                        if let Some(d) = current.as_mut() {
                            match slot {
                                Slot::DepGroup => d.group = value,
                                Slot::DepArtifact => d.artifact = value,
                                Slot::DepVersion => d.version = Some(value),
                                _ => d.scope = Some(value),
                            }
                        }
                    }
                    Slot::ProjectGroup | Slot::None => {}
                }
                if stack.len() == 2 && name == b"dependency" && stack[1] == b"dependencies" && stack[0] == b"project" {
                    deps.extend(current.take());
                }
                slot = Slot::None;
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err(bad("document ends inside an element".to_owned()));
    }
    if let Some(v) = &project_version {
        props.entry("project.version".to_owned()).or_insert_with(|| v.clone());
    }
    if let Some(v) = &parent_version {
        props.entry("project.parent.version".to_owned()).or_insert_with(|| v.clone());
        if project_version.is_none() {
            // A module without its own version inherits the parent's.
            props.entry("project.version".to_owned()).or_insert_with(|| v.clone());
        }
    }
    let mut out = Vec::new();
    for d in deps {
        let Some(version) = d.version.as_deref().and_then(|v| resolve(v, &props)) else {
            continue;
        };
        if d.group.is_empty() || d.artifact.is_empty() || d.group.contains("${") || d.artifact.contains("${") {
            continue;
        }
        // Ranges (`[1.0,2.0)`) and Maven's old LATEST/RELEASE markers are not versions.
        if version.starts_with(['[', '(']) || version == "LATEST" || version == "RELEASE" {
            continue;
        }
        let mut p = package("Maven", format!("{}:{}", d.group, d.artifact), version, path);
        p.dev = matches!(d.scope.as_deref(), Some("test" | "provided"));
        out.push(p);
    }
    Ok(FileFacts::Packages(out))
}

/// Expand `${name}` references in `value` from `props`; `None` when one is undefined, or after
/// [`MAX_EXPANSIONS`] substitutions (cycles).
fn resolve(value: &str, props: &HashMap<String, String>) -> Option<String> {
    let mut v = value.to_owned();
    for _ in 0..MAX_EXPANSIONS {
        let Some(start) = v.find("${") else {
            return (!v.is_empty()).then_some(v);
        };
        let end = start + v[start..].find('}')?;
        let replacement = props.get(&v[start + 2..end])?;
        if v.len() + replacement.len() > 1024 {
            return None;
        }
        v.replace_range(start..=end, replacement);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn got(facts: FileFacts) -> Vec<(String, String, bool)> {
        let FileFacts::Packages(p) = facts else { panic!("{facts:?}") };
        assert!(p.iter().all(|p| p.ecosystem == "Maven"));
        p.into_iter().map(|p| (p.name, p.version, p.dev)).collect()
    }

    fn triples(v: &[(&str, &str, bool)]) -> Vec<(String, String, bool)> {
        v.iter().map(|(a, b, d)| ((*a).to_owned(), (*b).to_owned(), *d)).collect()
    }

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
        let p = got(
            analyze_gradle("app/gradle/dependency-locks/testRuntimeClasspath.lockfile", &mut legacy.as_bytes()).unwrap(),
        );
        assert_eq!(p, triples(&[("org.slf4j:slf4j-api", "2.0.9", true)]));
        let build = "org.springframework.boot:spring-boot-gradle-plugin:3.1.5=classpath\n";
        let p = got(analyze_gradle("buildscript-gradle.lockfile", &mut build.as_bytes()).unwrap());
        assert_eq!(p[0].2, true);
    }

    #[test]
    fn gradle_hostile_input() {
        for bad in ["a:b=c\n", "a:b:c:d:e=x\n", ":b:1=x\n", "no-equals\n"] {
            let err = analyze_gradle("gradle.lockfile", &mut bad.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("gradle.lockfile") && err.contains("line 1"), "{bad:?}: {err}");
        }
        let _ = analyze_gradle("gradle.lockfile", &mut "\u{0}\u{ff}=\n=\n==\n".as_bytes());
    }

    /// A Spring Boot style module pom: parent, properties, dependencyManagement, scopes.
    const POM: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <parent>
    <groupId>org.springframework.boot</groupId>
    <artifactId>spring-boot-starter-parent</artifactId>
    <version>3.1.5</version>
    <relativePath/>
  </parent>
  <groupId>com.example</groupId>
  <artifactId>demo</artifactId>
  <version>0.0.1-SNAPSHOT</version>
  <properties>
    <java.version>17</java.version>
    <jackson.version>2.15.3</jackson.version>
    <jackson.core>${jackson.version}</jackson.core>
    <loop>${loop}</loop>
  </properties>
  <dependencyManagement>
    <dependencies>
      <dependency>
        <groupId>org.apache.logging.log4j</groupId>
        <artifactId>log4j-bom</artifactId>
        <version>2.14.1</version>
        <type>pom</type>
        <scope>import</scope>
      </dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency>
      <groupId>org.springframework.boot</groupId>
      <artifactId>spring-boot-starter-web</artifactId>
    </dependency>
    <dependency>
      <groupId>com.fasterxml.jackson.core</groupId>
      <artifactId>jackson-databind</artifactId>
      <version>${jackson.core}</version>
    </dependency>
    <dependency>
      <groupId>com.example</groupId>
      <artifactId>demo-api</artifactId>
      <version>${project.version}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.commons</groupId>
      <artifactId>commons-text</artifactId>
      <version><![CDATA[1.10.0]]></version>
    </dependency>
    <dependency>
      <groupId>jakarta.servlet</groupId>
      <artifactId>jakarta.servlet-api</artifactId>
      <version>6.0.0</version>
      <scope>provided</scope>
    </dependency>
    <dependency>
      <groupId>org.junit.jupiter</groupId>
      <artifactId>junit-jupiter</artifactId>
      <version>5.10.0</version>
      <scope>test</scope>
    </dependency>
    <dependency>
      <groupId>org.undefined</groupId>
      <artifactId>x</artifactId>
      <version>${not.defined}</version>
    </dependency>
    <dependency>
      <groupId>org.cycle</groupId>
      <artifactId>x</artifactId>
      <version>${loop}</version>
    </dependency>
    <dependency>
      <groupId>org.range</groupId>
      <artifactId>x</artifactId>
      <version>[1.0,2.0)</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.springframework.boot</groupId>
        <artifactId>spring-boot-maven-plugin</artifactId>
        <dependencies>
          <dependency><groupId>p</groupId><artifactId>q</artifactId><version>1</version></dependency>
        </dependencies>
      </plugin>
    </plugins>
  </build>
</project>
"#;

    #[test]
    fn pom_explicit_versions() {
        let p = got(analyze_pom("src/demo/pom.xml", &mut POM.as_bytes()).unwrap());
        assert_eq!(
            p,
            triples(&[
                ("com.fasterxml.jackson.core:jackson-databind", "2.15.3", false),
                ("com.example:demo-api", "0.0.1-SNAPSHOT", false),
                ("org.apache.commons:commons-text", "1.10.0", false),
                ("jakarta.servlet:jakarta.servlet-api", "6.0.0", true),
                ("org.junit.jupiter:junit-jupiter", "5.10.0", true),
            ])
        );
    }

    #[test]
    fn pom_hostile_input() {
        let deep = format!("<project>{}</project>", "<a>".repeat(10_000));
        let err = analyze_pom("pom.xml", &mut deep.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("pom.xml") && err.contains("deeper"), "{err}");
        for bad in ["<project><a></b></project>", "<project>", "<project><version>&bogus;</version></project>"] {
            let err = analyze_pom("pom.xml", &mut bad.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("pom.xml"), "{bad}: {err}");
        }
        // Entity expansion is not performed: a DTD-declared entity is just unknown.
        let lol = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>
<project><dependencies><dependency><groupId>a</groupId><artifactId>b</artifactId><version>&lol;</version></dependency></dependencies></project>"#;
        assert!(analyze_pom("pom.xml", &mut lol.as_bytes()).is_err());
        let _ = analyze_pom("pom.xml", &mut "\u{0}\u{ff}<<>>".as_bytes());
    }
}
