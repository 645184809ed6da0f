//! Go, NuGet and Maven/Gradle build files in an image, end to end: which files count, the
//! `dev` marks, the purls, and a `go.sum` that only counts while no `go.mod` sits beside it.

mod common;

use common::*;
use regscan_scanner_api::media;

const GZ: &str = media::OCI_LAYER_GZIP;

const GO_MOD: &str = "module github.com/example/svc\n\ngo 1.21\n\nrequire (\n\tgithub.com/gorilla/mux v1.8.1\n\tgolang.org/x/net v0.17.0 // indirect\n)\n";
const GO_SUM: &str = "github.com/gorilla/mux v1.8.0 h1:i40aqfkR1h2SlN9hojwV5ZA91wcXFOvkdNIeFDP5koI=
github.com/gorilla/mux v1.8.0/go.mod h1:DVbg23sWSpFRCP0SfiEN6jmj59UnW/n46BH5rLB71So=
golang.org/x/text v0.13.0 h1:ablQoSUd0tRdKxZewP80B+BaqeKJuVhuRxj/dkrun3k=
";
const LOCK: &str = r#"{"version": 1, "dependencies": {"net8.0": {
  "Newtonsoft.Json": {"type": "Direct", "requested": "[13.0.1, )", "resolved": "13.0.1", "contentHash": "x"}}}}"#;
const POM: &str = "<project><dependencies>
<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.14.1</version></dependency>
<dependency><groupId>junit</groupId><artifactId>junit</artifactId><version>4.13.2</version><scope>test</scope></dependency>
</dependencies></project>";
const GRADLE: &str =
    "com.google.guava:guava:32.1.3-jre=runtimeClasspath\norg.mockito:mockito-core:5.7.0=testRuntimeClasspath\nempty=\n";

#[tokio::test]
async fn build_files_are_inventoried_with_dev_marks_and_purls() {
    let blobs = Blobs::default();
    let cache = MemCache::default();
    let base = Layer::new()
        .file("src/svc/go.mod", GO_MOD)
        .file("src/svc/go.sum", GO_SUM)
        .file("src/tool/go.sum", GO_SUM)
        .file(
            "root/go/pkg/mod/github.com/gorilla/mux@v1.8.1/go.mod",
            "module github.com/gorilla/mux\n\nrequire github.com/x/y v1.0.0\n",
        )
        .file("app/packages.lock.json", LOCK)
        .file("app/pom.xml", POM)
        .file("app/gradle.lockfile", GRADLE)
        .gzip();
    let m = image(&blobs, config_json(Some("app"), &[], &[]), vec![(GZ, base.clone())]);
    let out = scan(&m, &blobs, &cache).await.unwrap();
    let mut got: Vec<String> = out
        .packages
        .iter()
        .map(|p| {
            format!(
                "{} {} {}{}",
                p.path,
                p.purl(),
                p.ecosystem,
                if p.dev { " dev" } else { "" }
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "app/gradle.lockfile pkg:maven/com.google.guava/guava@32.1.3-jre Maven",
            "app/gradle.lockfile pkg:maven/org.mockito/mockito-core@5.7.0 Maven dev",
            "app/packages.lock.json pkg:nuget/Newtonsoft.Json@13.0.1 NuGet",
            "app/pom.xml pkg:maven/junit/junit@4.13.2 Maven dev",
            "app/pom.xml pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1 Maven",
            "src/svc/go.mod pkg:golang/github.com/gorilla/mux@v1.8.1 Go",
            "src/svc/go.mod pkg:golang/golang.org/x/net@v0.17.0 Go",
            "src/tool/go.sum pkg:golang/github.com/gorilla/mux@v1.8.0 Go",
            "src/tool/go.sum pkg:golang/golang.org/x/text@v0.13.0 Go",
        ]
    );

    // A later layer deletes the service's go.mod: its go.sum counts again.
    let upper = Layer::new().whiteout("src/svc/go.mod").gzip();
    let m = image(
        &blobs,
        config_json(Some("app"), &[], &[]),
        vec![(GZ, base), (GZ, upper)],
    );
    let out = scan(&m, &blobs, &cache).await.unwrap();
    let svc: Vec<String> = out
        .packages
        .iter()
        .filter(|p| p.path.starts_with("src/svc/"))
        .map(|p| format!("{} {} {}", p.path, p.name, p.version))
        .collect();
    assert_eq!(
        svc,
        [
            "src/svc/go.sum github.com/gorilla/mux v1.8.0",
            "src/svc/go.sum golang.org/x/text v0.13.0"
        ]
    );
}
