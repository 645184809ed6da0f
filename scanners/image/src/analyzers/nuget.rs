//! .NET (NuGet) packages: `packages.lock.json` (NuGet's restore lock file) and `*.deps.json`
//! (the dependency manifest `dotnet build`/`publish` writes next to an application).
//!
//! `packages.lock.json`: `dependencies` per target framework (`net8.0`, and `net8.0/linux-x64`
//! for runtime-specific graphs), each entry of type `Direct`, `Transitive` or
//! `CentralTransitive` (central package management) with its `resolved` version; `Project`
//! entries (other projects of the solution) are skipped. A package resolved at the same
//! version for several frameworks is reported once.
//!
//! `*.deps.json`: the `libraries` map (`"Name/Version": {"type": …}`) of type `package` (and
//! `runtimepack`, the runtime of a self-contained app, written
//! `runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/8.0.0`: the package id after the
//! `runtimepack.` prefix is itself a NuGet package with advisories); `project` and `reference`
//! entries are skipped.
//!
//! NuGet has no dev-dependency notion in these files. The one reliable sign is a test project:
//! a file whose packages include `Microsoft.NET.Test.Sdk` belongs to one, and all its packages
//! are `dev` (a test project is not deployed). Every other package is a runtime one.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;

use regscan_scanner_api::Package;
use serde::Deserialize;

use super::{package, read_all, AnalyzeError, AnalyzerId, FileFacts};

/// `packages.lock.json`.
#[derive(Deserialize)]
struct LockFile {
    /// Format version (1, or 2 with central package management).
    version: u32,
    /// Target framework -> package name -> entry.
    #[serde(default)]
    dependencies: BTreeMap<String, BTreeMap<String, LockEntry>>,
}

/// One package of a lock file's framework graph.
#[derive(Deserialize)]
struct LockEntry {
    /// `Direct`, `Transitive`, `CentralTransitive` or `Project`.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// The version restored (absent for projects).
    resolved: Option<String>,
}

/// `*.deps.json`: only `libraries` matters.
#[derive(Deserialize)]
struct DepsFile {
    /// `"Name/Version"` -> library.
    #[serde(default)]
    libraries: BTreeMap<String, Library>,
}

/// One library of a deps file.
#[derive(Deserialize)]
struct Library {
    /// `package`, `project`, `reference`, `runtimepack`, …
    #[serde(rename = "type")]
    kind: String,
}

/// The package every .NET test project references (`dotnet new xunit|nunit|mstest` add it; `dotnet
/// test` needs it): its presence makes the file a test project's.
const TEST_SDK: &str = "Microsoft.NET.Test.Sdk";

/// Mark every package `dev` when they belong to a test project.
fn mark_test_project(packages: &mut [Package]) {
    if packages.iter().any(|p| p.name.eq_ignore_ascii_case(TEST_SDK)) {
        for p in packages {
            p.dev = true;
        }
    }
}

/// Parse a `packages.lock.json` into `NuGet` packages.
pub(crate) fn analyze_lock(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::NuGetLock;
    let bytes = read_all(id, path, content)?;
    let lock: LockFile = serde_json::from_slice(&bytes)
        .map_err(|e| AnalyzeError::malformed(id, path, format!("invalid packages.lock.json: {e}")))?;
    if !(1..=2).contains(&lock.version) {
        return Err(AnalyzeError::malformed(
            id,
            path,
            format!("unknown lock file version {}", lock.version),
        ));
    }
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    let mut out: Vec<Package> = Vec::new();
    for graph in lock.dependencies.values() {
        for (name, entry) in graph {
            let wanted = matches!(
                entry.kind.as_deref(),
                Some("Direct" | "Transitive" | "CentralTransitive")
            );
            let Some(version) = entry.resolved.as_deref().filter(|v| wanted && !v.is_empty()) else {
                continue;
            };
            if seen.insert((name.as_str(), version)) {
                out.push(package("NuGet", name.as_str(), version, path));
            }
        }
    }
    mark_test_project(&mut out);
    Ok(FileFacts::Packages(out))
}

/// Parse a `*.deps.json` into `NuGet` packages.
pub(crate) fn analyze_deps(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::NuGetDeps;
    let bytes = read_all(id, path, content)?;
    let deps: DepsFile = serde_json::from_slice(&bytes)
        .map_err(|e| AnalyzeError::malformed(id, path, format!("invalid deps.json: {e}")))?;
    let mut out = Vec::new();
    for (key, lib) in deps.libraries {
        if !matches!(lib.kind.as_str(), "package" | "runtimepack") {
            continue;
        }
        // The SDK writes a runtime pack as `runtimepack.<package id>/<version>`.
        let key = match lib.kind.as_str() {
            "runtimepack" => key.strip_prefix("runtimepack.").unwrap_or(&key),
            _ => &key,
        };
        let Some((name, version)) = key.rsplit_once('/').filter(|(n, v)| !n.is_empty() && !v.is_empty()) else {
            return Err(AnalyzeError::malformed(
                id,
                path,
                format!("library {key:?} is not `Name/Version`"),
            ));
        };
        out.push(package("NuGet", name, version, path));
    }
    mark_test_project(&mut out);
    Ok(FileFacts::Packages(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like the lock files `dotnet restore --use-lock-file` writes (NuGet 6): fields and
    /// entry types as in public repositories' `packages.lock.json` (e.g.
    /// Aldaviva/GitHubActionPinner; `CentralTransitive` from central package management).
    const LOCK: &str = r#"{
  "version": 2,
  "dependencies": {
    "net8.0": {
      "Newtonsoft.Json": {
        "type": "Direct",
        "requested": "[13.0.1, )",
        "resolved": "13.0.1",
        "contentHash": "ppPFpBcvxdsfUonNcvITKqLl3bqxWbDCZIzDWHzjpdAHRFfZe0Dw9HmA0+za13IdyrgJwpkDTDA9fHaxOrt20A=="
      },
      "Serilog": {
        "type": "CentralTransitive",
        "requested": "[3.1.1, )",
        "resolved": "3.1.1",
        "contentHash": "P6G4/4Kt9bT635bhuwdXlJ2SCqqn2nhh4gqFqQueCOr9bK/e7W9ll/IoX1Ter948cV2Z/5+5v8pAfJYUISY03A=="
      },
      "System.Text.Encodings.Web": {
        "type": "Transitive",
        "resolved": "4.7.1",
        "contentHash": "ZmBsnnwd7bsHFxlfw9EnyRWzPxCpaWRbTvWsaYoROwZZvZDbJmAxkc3UDyNT/VQhS8vHqp3Sa4RlRmMUl2hcA=="
      },
      "MyCompany.Shared": {
        "type": "Project",
        "dependencies": {
          "Newtonsoft.Json": "[13.0.1, )"
        }
      }
    },
    "net8.0/linux-x64": {
      "System.Text.Encodings.Web": {
        "type": "Transitive",
        "resolved": "4.7.1",
        "contentHash": "ZmBsnnwd7bsHFxlfw9EnyRWzPxCpaWRbTvWsaYoROwZZvZDbJmAxkc3UDyNT/VQhS8vHqp3Sa4RlRmMUl2hcA=="
      },
      "runtime.linux-x64.Microsoft.NETCore.DotNetAppHost": {
        "type": "Transitive",
        "resolved": "6.0.0",
        "contentHash": "abc=="
      }
    }
  }
}"#;

    /// Shaped like the `<app>.deps.json` `dotnet publish -r linux-x64 --self-contained` writes
    /// (runtimeTarget, targets, libraries with `sha512`, `path`, `hashPath`, the runtime pack
    /// keyed `runtimepack.<id>/<version>`), as in deps files quoted in public issues (e.g. a
    /// .NET 8 `GenerateSelfSignedCertificate.deps.json`, a .NET Core 3.1 win-x86 one).
    const DEPS: &str = r#"{
  "runtimeTarget": {
    "name": ".NETCoreApp,Version=v8.0/linux-x64",
    "signature": ""
  },
  "compilationOptions": {},
  "targets": {
    ".NETCoreApp,Version=v8.0": {},
    ".NETCoreApp,Version=v8.0/linux-x64": {
      "WebApp/1.0.0": {
        "dependencies": {
          "Newtonsoft.Json": "13.0.1",
          "MyCompany.Shared": "1.0.0",
          "runtimepack.Microsoft.NETCore.App.Runtime.linux-x64": "8.0.0"
        },
        "runtime": { "WebApp.dll": {} }
      },
      "Newtonsoft.Json/13.0.1": {
        "runtime": {
          "lib/net6.0/Newtonsoft.Json.dll": { "assemblyVersion": "13.0.0.0", "fileVersion": "13.0.1.25517" }
        }
      },
      "MyCompany.Shared/1.0.0": { "runtime": { "MyCompany.Shared.dll": {} } },
      "runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/8.0.0": {
        "runtime": { "System.Private.CoreLib.dll": { "assemblyVersion": "8.0.0.0", "fileVersion": "8.0.23.53103" } },
        "native": { "libcoreclr.so": { "fileVersion": "0.0.0.0" } }
      }
    }
  },
  "libraries": {
    "WebApp/1.0.0": { "type": "project", "serviceable": false, "sha512": "" },
    "runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/8.0.0": { "type": "runtimepack", "serviceable": false, "sha512": "" },
    "PdfSharp/6.2.4.0": { "type": "reference", "serviceable": false, "sha512": "" },
    "Newtonsoft.Json/13.0.1": {
      "type": "package",
      "serviceable": true,
      "sha512": "sha512-ppPFpBcvxdsfUonNcvITKqLl3bqxWbDCZIzDWHzjpdAHRFfZe0Dw9HmA0+za13IdyrgJwpkDTDA9fHaxOrt20A==",
      "path": "newtonsoft.json/13.0.1",
      "hashPath": "newtonsoft.json.13.0.1.nupkg.sha512"
    },
    "MyCompany.Shared/1.0.0": { "type": "project", "serviceable": false, "sha512": "" }
  }
}"#;

    fn got(facts: FileFacts) -> Vec<(String, String)> {
        let FileFacts::Packages(p) = facts else {
            panic!("{facts:?}")
        };
        assert!(p.iter().all(|p| p.ecosystem == "NuGet" && !p.dev));
        p.into_iter().map(|p| (p.name, p.version)).collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
    }

    #[test]
    fn lock_file_packages_once_projects_skipped() {
        let p = got(analyze_lock("app/packages.lock.json", &mut LOCK.as_bytes()).unwrap());
        assert_eq!(
            p,
            pairs(&[
                ("Newtonsoft.Json", "13.0.1"),
                ("Serilog", "3.1.1"),
                ("System.Text.Encodings.Web", "4.7.1"),
                ("runtime.linux-x64.Microsoft.NETCore.DotNetAppHost", "6.0.0"),
            ])
        );
    }

    #[test]
    fn deps_file_packages_and_runtime_pack() {
        let p = got(analyze_deps("app/WebApp.deps.json", &mut DEPS.as_bytes()).unwrap());
        assert_eq!(
            p,
            pairs(&[
                ("Newtonsoft.Json", "13.0.1"),
                ("Microsoft.NETCore.App.Runtime.linux-x64", "8.0.0"),
            ])
        );
    }

    #[test]
    fn test_projects_are_dev() {
        let lock = r#"{"version": 1, "dependencies": {"net8.0": {
            "Microsoft.NET.Test.Sdk": {"type": "Direct", "requested": "[17.8.0, )", "resolved": "17.8.0", "contentHash": "x"},
            "xunit": {"type": "Direct", "requested": "[2.6.2, )", "resolved": "2.6.2", "contentHash": "x"},
            "Newtonsoft.Json": {"type": "Transitive", "resolved": "13.0.1", "contentHash": "x"}}}}"#;
        let FileFacts::Packages(p) = analyze_lock("tests/App.Tests/packages.lock.json", &mut lock.as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(p.len(), 3);
        assert!(p.iter().all(|p| p.dev));
        let deps = r#"{"libraries": {"App.Tests/1.0.0": {"type": "project"},
            "Microsoft.NET.Test.Sdk/17.8.0": {"type": "package"}, "Moq/4.20.69": {"type": "package"}}}"#;
        let FileFacts::Packages(p) = analyze_deps("App.Tests.deps.json", &mut deps.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|p| p.dev));
    }

    #[test]
    fn hostile_input() {
        for bad in [
            "",
            "[",
            "{\"version\": 9}",
            "{\"version\": 1, \"dependencies\": []}",
            "\u{0}\u{ff}",
        ] {
            let err = analyze_lock("packages.lock.json", &mut bad.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains("packages.lock.json"), "{err}");
        }
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(analyze_lock("packages.lock.json", &mut deep.as_bytes()).is_err());
        assert!(analyze_deps("a.deps.json", &mut deep.as_bytes()).is_err());
        let err = analyze_deps(
            "a.deps.json",
            &mut r#"{"libraries": {"NoVersion": {"type": "package"}}}"#.as_bytes(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("NoVersion"), "{err}");
        let p = got(analyze_deps("a.deps.json", &mut "{}".as_bytes()).unwrap());
        assert!(p.is_empty());
    }
}
