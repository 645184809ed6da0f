//! Maven project files (`pom.xml`) with explicit versions.
//!
//! Read: `project/dependencies/dependency` whose version is literal, or a `${…}` reference the
//! same file resolves: its own `<properties>`, `${project.version}`, `${project.groupId}`,
//! `${project.artifactId}` and `${project.parent.version|groupId}` (a module without its own
//! version or group inherits the parent's). A dependency without a `<version>` takes the one
//! of the same file's `dependencyManagement` (and its scope, when it has none). `test` and
//! `provided` scopes are `dev` (`provided` jars come from the runtime container, not the
//! application; `compile`, `runtime`, `system` and no scope are not).
//!
//! Not read, nothing invented: the parent pom and imported BOMs (no resolution outside the
//! file), so a dependency whose version comes from them — or whose `${…}` reference the file
//! does not define, or is cyclic — is **skipped** and counted in a `debug` log line; profiles,
//! plugins and their dependencies; version ranges (`[1.0,2.0)`) and `LATEST`/`RELEASE`.
//! Transitive dependencies are not in a pom at all: jars in the image (`java` analyzer) and
//! Gradle lock files cover them.
//!
//! The XML is parsed as a stream of events (quick-xml over the bounded file): no DTD, no entity
//! expansion beyond XML's five predefined entities and character references, nesting limited
//! to [`MAX_DEPTH`].

use std::collections::HashMap;
use std::io::Read;

use quick_xml::events::Event;
use quick_xml::Reader;
use regscan_scanner_api::Package;

use super::{package, read_all, AnalyzeError, AnalyzerId, FileFacts};

/// Deepest element nesting accepted (real poms stay under 10).
const MAX_DEPTH: usize = 64;

/// Most `${…}` substitutions while resolving one value (chains and cycles).
const MAX_EXPANSIONS: usize = 16;

/// Longest value a substitution may produce.
const MAX_RESOLVED_LEN: usize = 1024;

/// Whether a `pom.xml` is a project's build file: not a copy in Maven's local repository
/// (`.m2/`), not the `META-INF/maven/…/pom.xml` of an exploded library jar (its dependencies
/// are the library's, resolved by whoever built the application) and not test resources.
pub(crate) fn is_project_pom(path: &str) -> bool {
    !(path.contains(".m2/") || path.contains("META-INF/maven/") || path.contains("src/test/"))
}

/// Elements whose position matters; everything else is `Other`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tag {
    Project,
    Parent,
    Properties,
    DependencyManagement,
    Dependencies,
    Dependency,
    GroupId,
    ArtifactId,
    Version,
    Scope,
    Other,
}

impl Tag {
    fn of(local_name: &[u8]) -> Tag {
        match local_name {
            b"project" => Tag::Project,
            b"parent" => Tag::Parent,
            b"properties" => Tag::Properties,
            b"dependencyManagement" => Tag::DependencyManagement,
            b"dependencies" => Tag::Dependencies,
            b"dependency" => Tag::Dependency,
            b"groupId" => Tag::GroupId,
            b"artifactId" => Tag::ArtifactId,
            b"version" => Tag::Version,
            b"scope" => Tag::Scope,
            _ => Tag::Other,
        }
    }
}

/// A `<dependency>` as written.
#[derive(Default)]
struct Dependency {
    group: String,
    artifact: String,
    version: Option<String>,
    scope: Option<String>,
}

/// Where the text of the element being read goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// A child of `project/properties`.
    Property,
    /// `project/{groupId,artifactId,version}` and `project/parent/{groupId,version}`.
    Project(&'static str),
    /// A field of the dependency being read.
    Dep(Tag),
    None,
}

/// Which slot an element opens, given the tags from the root down to it.
fn slot_for(stack: &[Tag]) -> Slot {
    use Tag::*;
    match stack {
        [Project, Properties, _] => Slot::Property,
        [Project, GroupId] => Slot::Project("project.groupId"),
        [Project, ArtifactId] => Slot::Project("project.artifactId"),
        [Project, Version] => Slot::Project("project.version"),
        [Project, Parent, GroupId] => Slot::Project("project.parent.groupId"),
        [Project, Parent, Version] => Slot::Project("project.parent.version"),
        [Project, Dependencies, Dependency, field]
        | [Project, DependencyManagement, Dependencies, Dependency, field]
            if matches!(field, GroupId | ArtifactId | Version | Scope) =>
        {
            Slot::Dep(*field)
        }
        _ => Slot::None,
    }
}

/// Whether `stack` is at a `dependency` element, and whether it is a managed one.
fn dependency_at(stack: &[Tag]) -> Option<bool> {
    use Tag::*;
    match stack {
        [Project, Dependencies, Dependency] => Some(false),
        [Project, DependencyManagement, Dependencies, Dependency] => Some(true),
        _ => None,
    }
}

/// What a pom declares, before resolution.
#[derive(Default)]
struct Pom {
    /// `<properties>` and the `project.*` values.
    props: HashMap<String, String>,
    dependencies: Vec<Dependency>,
    managed: Vec<Dependency>,
}

/// Read the elements that matter out of a pom.
fn read_pom(id: AnalyzerId, path: &str, bytes: &[u8]) -> Result<Pom, AnalyzeError> {
    let bad = |problem: String| AnalyzeError::malformed(id, path, problem);
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut pom = Pom::default();
    let mut stack: Vec<Tag> = Vec::new();
    let mut property: Option<String> = None;
    let mut current: Option<Dependency> = None;
    let mut slot = Slot::None;
    let mut text = String::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| bad(format!("invalid XML at byte {}: {e}", reader.error_position())))?;
        match event {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(bad(format!("elements nested deeper than {MAX_DEPTH}")));
                }
                stack.push(Tag::of(e.local_name().as_ref()));
                slot = slot_for(&stack);
                if slot == Slot::Property {
                    property = Some(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                }
                if dependency_at(&stack).is_some() {
                    current = Some(Dependency::default());
                }
                text.clear();
            }
            Event::Text(t) if slot != Slot::None => {
                let t = t
                    .xml10_content()
                    .map_err(|e| bad(format!("invalid text at byte {}: {e}", reader.buffer_position())))?;
                text.push_str(&t);
            }
            Event::CData(t) if slot != Slot::None => text.push_str(&String::from_utf8_lossy(&t)),
            Event::GeneralRef(r) if slot != Slot::None => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match &*r {
                        b"amp" => '&',
                        b"lt" => '<',
                        b"gt" => '>',
                        b"quot" => '"',
                        b"apos" => '\'',
                        other => {
                            return Err(bad(format!("unknown entity &{};", String::from_utf8_lossy(other))));
                        }
                    },
                    Err(e) => return Err(bad(format!("invalid character reference: {e}"))),
                };
                text.push(c);
            }
            Event::End(_) => {
                let value = text.trim().to_owned();
                match slot {
                    Slot::Property => {
                        if let Some(name) = property.take() {
                            pom.props.insert(name, value);
                        }
                    }
                    Slot::Project(key) => {
                        pom.props.insert(key.to_owned(), value);
                    }
                    Slot::Dep(field) => {
                        if let Some(d) = current.as_mut() {
                            match field {
                                Tag::GroupId => d.group = value,
                                Tag::ArtifactId => d.artifact = value,
                                Tag::Version => d.version = Some(value),
                                Tag::Scope => d.scope = Some(value),
                                _ => {}
                            }
                        }
                    }
                    Slot::None => {}
                }
                if let Some(managed) = dependency_at(&stack) {
                    let list = if managed {
                        &mut pom.managed
                    } else {
                        &mut pom.dependencies
                    };
                    list.extend(current.take());
                }
                stack.pop();
                slot = Slot::None;
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(bad("document ends inside an element".to_owned()));
    }
    Ok(pom)
}

/// Parse a `pom.xml` into `Maven` packages.
pub(crate) fn analyze_pom(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::Pom;
    let bytes = read_all(id, path, content)?;
    let mut pom = read_pom(id, path, &bytes)?;
    // A module inherits its parent's group and version unless it sets its own.
    for (own, parent) in [
        ("project.version", "project.parent.version"),
        ("project.groupId", "project.parent.groupId"),
    ] {
        if let Some(v) = pom.props.get(parent).cloned() {
            pom.props.entry(own.to_owned()).or_insert(v);
        }
    }
    let props = &pom.props;
    // Managed versions and scopes by resolved `group:artifact` (BOM imports skipped: they name
    // another pom, not a dependency).
    let mut managed: HashMap<String, (Option<String>, Option<String>)> = HashMap::new();
    for m in &pom.managed {
        if m.scope.as_deref() == Some("import") {
            continue;
        }
        if let (Some(g), Some(a)) = (resolve(&m.group, props), resolve(&m.artifact, props)) {
            let version = m.version.as_deref().and_then(|v| resolve(v, props));
            managed.entry(format!("{g}:{a}")).or_insert((version, m.scope.clone()));
        }
    }
    let mut out: Vec<Package> = Vec::with_capacity(pom.dependencies.len());
    let mut skipped = 0usize;
    for d in &pom.dependencies {
        let (Some(group), Some(artifact)) = (resolve(&d.group, props), resolve(&d.artifact, props)) else {
            skipped += 1;
            continue;
        };
        let name = format!("{group}:{artifact}");
        let from_management = managed.get(&name);
        let version = match d.version.as_deref() {
            Some(v) => resolve(v, props),
            None => from_management.and_then(|(v, _)| v.clone()),
        };
        // Ranges (`[1.0,2.0)`) and Maven 2's LATEST/RELEASE markers are not versions.
        let Some(version) = version.filter(|v| !v.starts_with(['[', '(']) && v != "LATEST" && v != "RELEASE") else {
            skipped += 1;
            continue;
        };
        let scope = d.scope.as_deref().or(from_management.and_then(|(_, s)| s.as_deref()));
        let mut p = package("Maven", name, version, path);
        p.dev = matches!(scope, Some("test" | "provided"));
        out.push(p);
    }
    if skipped > 0 {
        tracing::debug!(
            path,
            skipped,
            "pom.xml dependencies without a version this file resolves (parent pom, BOM, undefined property or range) are not reported"
        );
    }
    Ok(FileFacts::Packages(out))
}

/// Expand `${name}` references in `value` from `props`; `None` when the result is empty, a
/// reference is undefined or unterminated, the result grows past [`MAX_RESOLVED_LEN`], or after
/// [`MAX_EXPANSIONS`] substitutions (cycles).
fn resolve(value: &str, props: &HashMap<String, String>) -> Option<String> {
    let mut v = value.to_owned();
    for _ in 0..MAX_EXPANSIONS {
        let Some(start) = v.find("${") else {
            return (!v.is_empty()).then_some(v);
        };
        let end = start + v[start..].find('}')?;
        let replacement = props.get(&v[start + 2..end])?;
        if v.len() - (end + 1 - start) + replacement.len() > MAX_RESOLVED_LEN {
            return None;
        }
        v.replace_range(start..=end, replacement);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::test_support::{maven_triples as got, triples};

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
    <snakeyaml.version>2.2</snakeyaml.version>
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
      <dependency>
        <groupId>org.yaml</groupId>
        <artifactId>snakeyaml</artifactId>
        <version>${snakeyaml.version}</version>
      </dependency>
      <dependency>
        <groupId>org.assertj</groupId>
        <artifactId>assertj-core</artifactId>
        <version>3.24.2</version>
        <scope>test</scope>
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
      <groupId>org.yaml</groupId>
      <artifactId>snakeyaml</artifactId>
    </dependency>
    <dependency>
      <groupId>org.assertj</groupId>
      <artifactId>assertj-core</artifactId>
    </dependency>
    <dependency>
      <groupId>${project.groupId}</groupId>
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
                ("org.yaml:snakeyaml", "2.2", false),
                ("org.assertj:assertj-core", "3.24.2", true),
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
        for bad in [
            "<project><a></b></project>",
            "<project>",
            "<project><version>&bogus;</version></project>",
        ] {
            let err = analyze_pom("pom.xml", &mut bad.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("pom.xml"), "{bad}: {err}");
        }
        // Entity expansion is not performed: a DTD-declared entity is just unknown.
        let lol = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>
<project><dependencies><dependency><groupId>a</groupId><artifactId>b</artifactId><version>&lol;</version></dependency></dependencies></project>"#;
        assert!(analyze_pom("pom.xml", &mut lol.as_bytes()).is_err());
        let _ = analyze_pom("pom.xml", &mut "\u{0}\u{ff}<<>>".as_bytes());
    }

    fn names(xml: &str) -> Vec<(String, String, bool)> {
        let FileFacts::Packages(p) = analyze_pom("pom.xml", &mut xml.as_bytes()).unwrap() else {
            panic!()
        };
        p.into_iter().map(|p| (p.name, p.version, p.dev)).collect()
    }

    #[test]
    fn module_inherits_parent_version_and_group() {
        let xml = r#"<project>
  <parent><groupId>org.acme</groupId><artifactId>parent</artifactId><version>4.2.0</version></parent>
  <artifactId>acme-web</artifactId>
  <dependencies>
    <dependency><groupId>${project.groupId}</groupId><artifactId>acme-core</artifactId><version>${project.version}</version></dependency>
    <dependency><groupId>${project.parent.groupId}</groupId><artifactId>acme-util</artifactId><version>${project.parent.version}</version></dependency>
    <dependency><groupId>org.projectlombok</groupId><artifactId>lombok</artifactId><version>1.18.30</version><scope>provided</scope></dependency>
    <dependency><groupId>com.h2database</groupId><artifactId>h2</artifactId><version>2.2.224</version><scope>runtime</scope></dependency>
  </dependencies>
</project>"#;
        assert_eq!(
            names(xml),
            [
                ("org.acme:acme-core", "4.2.0", false),
                ("org.acme:acme-util", "4.2.0", false),
                ("org.projectlombok:lombok", "1.18.30", true),
                ("com.h2database:h2", "2.2.224", false),
            ]
            .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c))
        );
    }

    #[test]
    fn nothing_outside_project_dependencies() {
        // Profiles, plugins and a dependency outside <project> are not the build's dependencies.
        let xml = r#"<project><profiles><profile><dependencies><dependency><groupId>a</groupId>
<artifactId>b</artifactId><version>1</version></dependency></dependencies></profile></profiles></project>"#;
        assert!(names(xml).is_empty());
        assert!(names("<other><dependencies><dependency><groupId>a</groupId><artifactId>b</artifactId><version>1</version></dependency></dependencies></other>").is_empty());
    }

    #[test]
    fn byte_order_mark_comments_and_namespace_prefixes() {
        let xml = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- generated -->\n<m:project xmlns:m=\"http://maven.apache.org/POM/4.0.0\"><m:dependencies>\
<m:dependency><!-- pinned --><m:groupId>org.yaml</m:groupId><m:artifactId>snakeyaml</m:artifactId>\
<m:version> 1.33 </m:version></m:dependency></m:dependencies></m:project>";
        assert_eq!(
            names(xml),
            [("org.yaml:snakeyaml".to_owned(), "1.33".to_owned(), false)]
        );
    }

    #[test]
    fn resolution_is_bounded() {
        let mut props = HashMap::new();
        props.insert("a".to_owned(), "${a}${a}".to_owned());
        props.insert("big".to_owned(), "x".repeat(600));
        assert_eq!(resolve("${a}", &props), None);
        assert_eq!(resolve("${big}${big}", &props), None);
        assert_eq!(resolve("${big}", &props).map(|s| s.len()), Some(600));
        assert_eq!(resolve("${unterminated", &props), None);
        assert_eq!(resolve("", &props), None);
    }
}
