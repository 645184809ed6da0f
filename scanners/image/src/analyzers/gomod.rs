//! Go module requirements of source trees: `go.mod`, and `go.sum` where there is no `go.mod`.
//!
//! `go.mod`: every `require` (single-line and block form, direct and `// indirect`); since Go
//! 1.17 a module's `go.mod` lists every module the build needs, so this is the build list.
//! `replace` directives are honoured (`old [v] => new v` reports `new` at `v`; a replacement by
//! a local directory, `=> ../dir`, drops the module: no published version is built);
//! `exclude`, `retract`, `tool`, `godebug`, `toolchain` and the `go` line are ignored. The main
//! module itself is not a dependency and is not reported.
//!
//! `go.sum` (read only when the same directory has no `go.mod`, see [`superseded_by`]): modules
//! with a content hash (`mod v h1:…`; `mod v/go.mod h1:…` lines only say a `go.mod` was
//! consulted), the highest version per module (minimal version selection picks the highest
//! required one; lower versions with a content hash are usually left over from older builds).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io::Read;

use regscan_scanner_api::Package;

use super::{package, read_text, AnalyzeError, AnalyzerId, FileFacts};

/// Longest accepted line of `go.mod` or `go.sum` (real ones are under 200 bytes).
const MAX_LINE: usize = 64 * 1024;

/// Whether `path` (a file named `go.mod` or `go.sum`) belongs to a source tree worth reading:
/// not Go's module cache (`…/pkg/mod/…`, downloaded sources of dependencies), not a Go
/// toolchain's own sources (`usr/local/go/…`, `usr/lib/go-1.x/…`: its `go.mod` files list
/// what is vendored into the standard library, reported as `stdlib` from the `go` binary) and
/// not a `testdata` directory (fixtures the go tool ignores).
pub(crate) fn is_source_file(path: &str) -> bool {
    !(path.contains("pkg/mod/")
        || path.starts_with("usr/local/go/")
        || path.starts_with("usr/lib/go/")
        || path.starts_with("usr/lib/go-")
        || path.starts_with("testdata/")
        || path.contains("/testdata/"))
}

/// The file that makes `path` redundant when it exists in the merged filesystem: `dir/go.mod`
/// for `dir/go.sum`.
pub(crate) fn superseded_by(path: &str) -> Option<String> {
    let dir = path.strip_suffix("go.sum")?;
    (dir.is_empty() || dir.ends_with('/')).then(|| format!("{dir}go.mod"))
}

/// A replacement: the new module and version, or `None` for a local directory.
type Replacement<'a> = Option<(&'a str, &'a str)>;

/// Split a line into tokens: whitespace-separated (`(` and `)` are tokens of their own),
/// `"…"` and `` `…` `` quoted strings kept
/// whole (quotes removed; Go's escapes are not needed for module paths and versions), and a
/// `//` comment ends the line.
fn tokens(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        if rest.starts_with("//") {
            break;
        }
        let (tok, after) = match rest.as_bytes()[0] {
            q @ (b'"' | b'`') => match rest[1..].find(q as char) {
                Some(end) => (&rest[1..1 + end], &rest[2 + end..]),
                None => (&rest[1..], ""),
            },
            // `require(` is `require (`: Go's lexer makes parentheses tokens of their own.
            b'(' | b')' => (&rest[..1], &rest[1..]),
            _ => {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '(' || c == ')')
                    .unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            }
        };
        out.push(tok);
        rest = after.trim_start();
    }
    out
}

/// Whether a replacement target is a local directory (Go: starts with `./`, `../`, `/` or a
/// drive letter).
fn is_local(path: &str) -> bool {
    path.starts_with("./")
        || path.starts_with("../")
        || path.starts_with('/')
        || path == "."
        || path == ".."
        || path.as_bytes().get(1) == Some(&b':')
}

/// Parse a `go.mod` into `Go` packages.
pub(crate) fn analyze_go_mod(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::GoMod;
    let text = read_text(id, path, content)?;
    let mut requires: Vec<(&str, &str)> = Vec::new();
    // (module replaced, only this version or every version, replacement), in file order.
    let mut replaces: Vec<(&str, Option<&str>, Replacement)> = Vec::new();
    // The verb of the `verb (` block we are in.
    let mut block: Option<&str> = None;
    for (n, line) in text.lines().enumerate() {
        if line.len() > MAX_LINE {
            return Err(AnalyzeError::malformed(
                id,
                path,
                format!("line {} is over {MAX_LINE} bytes", n + 1),
            ));
        }
        let toks = tokens(line);
        let Some(&first) = toks.first() else { continue };
        let (verb, args) = match block {
            Some(_) if first == ")" => {
                block = None;
                continue;
            }
            Some(verb) => (verb, &toks[..]),
            None if toks.get(1) == Some(&"(") => {
                block = Some(first);
                continue;
            }
            None => (first, &toks[1..]),
        };
        let bad = || AnalyzeError::malformed(id, path, format!("line {}: malformed {verb} directive", n + 1));
        match verb {
            "require" => match args {
                [module, version] => requires.push((module, version)),
                _ => return Err(bad()),
            },
            "replace" => {
                let arrow = args.iter().position(|t| *t == "=>").ok_or_else(bad)?;
                let (old, old_version) = match &args[..arrow] {
                    [m] => (*m, None),
                    [m, v] => (*m, Some(*v)),
                    _ => return Err(bad()),
                };
                let new = match &args[arrow + 1..] {
                    [dir] if is_local(dir) => None,
                    [m, v] => Some((*m, *v)),
                    _ => return Err(bad()),
                };
                replaces.push((old, old_version, new));
            }
            _ => {}
        }
    }
    // One requirement per module: a module required twice builds at the higher version
    // (minimal version selection). One hash per requirement and per replace directive.
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(requires.len());
    let mut selected: Vec<(&str, &str)> = Vec::with_capacity(requires.len());
    for (module, version) in requires {
        match index.entry(module) {
            Entry::Occupied(e) => {
                let kept = &mut selected[*e.get()].1;
                if go_version_less(kept, version) {
                    *kept = version;
                }
            }
            Entry::Vacant(e) => {
                e.insert(selected.len());
                selected.push((module, version));
            }
        }
    }
    // Per selected module: (replacement of every version, of exactly its version); a later
    // directive wins, a version-specific one beats a general one.
    let mut replaced: Vec<(Option<Replacement>, Option<Replacement>)> = vec![(None, None); selected.len()];
    for (old, old_version, new) in replaces {
        if let Some(&i) = index.get(old) {
            match old_version {
                None => replaced[i].0 = Some(new),
                Some(v) if v == selected[i].1 => replaced[i].1 = Some(new),
                Some(_) => {}
            }
        }
    }
    let mut out: Vec<Package> = Vec::with_capacity(selected.len());
    for ((module, version), (general, specific)) in selected.into_iter().zip(replaced) {
        match specific.or(general) {
            Some(None) => {}
            Some(Some((m, v))) => out.push(package("Go", m, v, path)),
            None => out.push(package("Go", module, version, path)),
        }
    }
    Ok(FileFacts::Packages(out))
}

/// Parse a `go.sum` into `Go` packages (modules with a content hash, highest version each).
pub(crate) fn analyze_go_sum(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::GoSum;
    let text = read_text(id, path, content)?;
    // module -> highest version seen, and the modules in order of first appearance.
    let mut best: HashMap<&str, &str> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut f = line.split_ascii_whitespace();
        let (Some(module), Some(version), Some(hash), None) = (f.next(), f.next(), f.next(), f.next()) else {
            return Err(AnalyzeError::malformed(
                id,
                path,
                format!("line {}: not `module version hash`", n + 1),
            ));
        };
        if !hash.contains(':') || !version.starts_with('v') {
            return Err(AnalyzeError::malformed(
                id,
                path,
                format!("line {}: not `module version hash`", n + 1),
            ));
        }
        if version.ends_with("/go.mod") {
            continue;
        }
        match best.get_mut(module) {
            Some(v) => {
                if go_version_less(v, version) {
                    *v = version;
                }
            }
            None => {
                best.insert(module, version);
                order.push(module);
            }
        }
    }
    let out = order.into_iter().map(|m| package("Go", m, best[m], path)).collect();
    Ok(FileFacts::Packages(out))
}

/// Go module version order (SemVer precedence with `v`, `+incompatible` ignored): whether `a`
/// sorts before `b`. Versions that do not parse sort before those that do.
fn go_version_less(a: &str, b: &str) -> bool {
    fn parse(v: &str) -> Option<([u64; 3], Option<&str>)> {
        let v = v.strip_prefix('v')?;
        let v = v.split('+').next()?;
        let (core, pre) = match v.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (v, None),
        };
        let mut nums = [0u64; 3];
        let mut parts = core.split('.');
        for n in &mut nums {
            *n = parts.next()?.parse().ok()?;
        }
        parts.next().is_none().then_some((nums, pre))
    }
    fn pre_less(a: &str, b: &str) -> bool {
        let (mut x, mut y) = (a.split('.'), b.split('.'));
        loop {
            match (x.next(), y.next()) {
                (None, None) | (Some(_), None) => return false,
                (None, Some(_)) => return true,
                (Some(p), Some(q)) if p == q => {}
                (Some(p), Some(q)) => {
                    return match (p.parse::<u64>(), q.parse::<u64>()) {
                        (Ok(i), Ok(j)) => i < j,
                        (Ok(_), Err(_)) => true,
                        (Err(_), Ok(_)) => false,
                        (Err(_), Err(_)) => p < q,
                    }
                }
            }
        }
    }
    match (parse(a), parse(b)) {
        (None, Some(_)) => true,
        (_, None) => false,
        (Some((x, p)), Some((y, q))) => {
            x < y
                || (x == y
                    && match (p, q) {
                        (Some(_), None) => true,
                        (Some(p), Some(q)) => pre_less(p, q),
                        _ => false,
                    })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like a real Go 1.21 module's `go.mod` (a Kubernetes-style controller): a
    /// direct block, an indirect block, replace directives of each form, exclude and retract.
    const GO_MOD: &str = r#"module github.com/example/controller

go 1.21

toolchain go1.21.5

require (
	github.com/go-logr/logr v1.3.0
	github.com/prometheus/client_golang v1.17.0
	k8s.io/apimachinery v0.28.4
	"sigs.k8s.io/controller-runtime" v0.16.3 // pinned
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	golang.org/x/net v0.17.0 // indirect
	github.com/example/internal-lib v0.0.0-00010101000000-000000000000 // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
)

require github.com/pkg/errors v0.9.1

require github.com/pkg/errors v0.8.0

require github.com/pkg/errors v0.9.0

require(
	go.uber.org/zap v1.26.0
)

replace github.com/example/internal-lib => ../internal-lib

replace golang.org/x/net v0.17.0 => golang.org/x/net v0.19.0

replace (
	gopkg.in/yaml.v2 => github.com/example/yaml v2.4.1-patched.1
	gopkg.in/yaml.v2 v2.0.0 => gopkg.in/yaml.v2 v2.0.1
)

exclude github.com/pkg/errors v0.8.0

retract v1.0.0 // published by mistake
"#;

    fn got(facts: FileFacts) -> Vec<(String, String)> {
        let FileFacts::Packages(p) = facts else {
            panic!("{facts:?}")
        };
        assert!(p.iter().all(|p| p.ecosystem == "Go" && !p.dev));
        p.into_iter().map(|p| (p.name, p.version)).collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
    }

    #[test]
    fn go_mod_requires_and_replaces() {
        let p = got(analyze_go_mod("src/go.mod", &mut GO_MOD.as_bytes()).unwrap());
        assert_eq!(
            p,
            pairs(&[
                ("github.com/go-logr/logr", "v1.3.0"),
                ("github.com/prometheus/client_golang", "v1.17.0"),
                ("k8s.io/apimachinery", "v0.28.4"),
                ("sigs.k8s.io/controller-runtime", "v0.16.3"),
                ("github.com/beorn7/perks", "v1.0.1"),
                ("golang.org/x/net", "v0.19.0"),
                ("github.com/example/yaml", "v2.4.1-patched.1"),
                ("github.com/pkg/errors", "v0.9.1"),
                ("go.uber.org/zap", "v1.26.0"),
            ])
        );
    }

    #[test]
    fn go_mod_hostile_input() {
        for bad in [
            "require (\nfoo\n)\n",
            "require a b c\n",
            "replace a => b c d\n",
            "replace a b c => d v1\n",
        ] {
            let err = analyze_go_mod("go.mod", &mut bad.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("go.mod") && err.contains("line"), "{bad:?}: {err}");
        }
        // Unterminated blocks and quotes, stray parentheses, binary junk: no panic.
        for odd in [
            "require (\n",
            "require \"a",
            "(\n)\n)\n",
            "\u{0}\u{1}\u{ff}",
            "require `x` `v1",
        ] {
            let _ = analyze_go_mod("go.mod", &mut odd.as_bytes());
        }
        let long = format!("// {}\n", "x".repeat(MAX_LINE));
        assert!(analyze_go_mod("go.mod", &mut long.as_bytes()).is_err());
    }

    #[test]
    fn duplicate_requires_keep_the_highest_version_in_first_place() {
        let text = "module m\nrequire a v1.0.0\nrequire b v2.0.0\nrequire a v1.2.0\nrequire c v0.1.0\n\
require a v1.10.0\nrequire a v1.9.0\nreplace a v1.2.0 => x v9.0.0\nreplace c v0.1.0 => ./c\n";
        let p = got(analyze_go_mod("go.mod", &mut text.as_bytes()).unwrap());
        // The replace of a's v1.2.0 does not apply: v1.10.0 is the version built.
        assert_eq!(p, pairs(&[("a", "v1.10.0"), ("b", "v2.0.0")]));
    }

    #[test]
    fn go_mod_many_replaces_stay_linear() {
        // 100,000 requires each with a replace: a linear scan of the replaces per require
        // would take minutes.
        let mut text = String::from("module x\n\nrequire (\n");
        for i in 0..100_000 {
            text.push_str(&format!("\tgithub.com/o/r{i} v1.0.{i}\n"));
        }
        text.push_str(")\n\nreplace (\n");
        for i in 0..100_000 {
            text.push_str(&format!("\tgithub.com/o/r{i} => github.com/fork/r{i} v1.0.{i}-fix\n"));
        }
        text.push_str(")\n");
        let start = std::time::Instant::now();
        let p = got(analyze_go_mod("go.mod", &mut text.as_bytes()).unwrap());
        assert_eq!(p.len(), 100_000);
        assert_eq!(p[7], ("github.com/fork/r7".to_owned(), "v1.0.7-fix".to_owned()));
        assert!(start.elapsed().as_secs() < 30, "{:?}", start.elapsed());
    }

    #[test]
    fn go_sum_highest_hashed_version() {
        let sum = "github.com/pkg/errors v0.8.0/go.mod h1:bwawxfHBFNV+L2hUp1rHADufV3IMtnDRdf1r5NINEl0=
github.com/pkg/errors v0.9.1 h1:FEBLx1zS214owpjy7qsBeixbURkuhQAwrK5UwLGTwt4=
github.com/pkg/errors v0.9.1/go.mod h1:bwawxfHBFNV+L2hUp1rHADufV3IMtnDRdf1r5NINEl0=
golang.org/x/net v0.10.0 h1:X2//UzNDwYmtCLn7To6G58Wr6f5ahEAQgKNzv9Y951M=
golang.org/x/net v0.17.0 h1:pVaXccu2ozPjCXewfr1S2xoAx+FsHkvUW6cxB2ThEaU=
golang.org/x/net v0.17.0-rc.1 h1:pVaXccu2ozPjCXewfr1S2xoAx+FsHkvUW6cxB2ThEaU=
golang.org/x/sys v0.13.0/go.mod h1:oPkhp1MJrh7nUepCBck5+mAzfO9JrbApNNgaTdGDITg=

";
        let p = got(analyze_go_sum("go.sum", &mut sum.as_bytes()).unwrap());
        assert_eq!(
            p,
            pairs(&[("github.com/pkg/errors", "v0.9.1"), ("golang.org/x/net", "v0.17.0")])
        );
        for bad in ["a b\n", "a v1 h1:x extra\n", "a 1.0 h1:x\n", "a v1 nohash\n"] {
            assert!(analyze_go_sum("go.sum", &mut bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn version_order() {
        assert!(go_version_less("v0.9.1", "v0.10.0"));
        assert!(go_version_less("v1.0.0-rc.1", "v1.0.0"));
        assert!(go_version_less("v0.0.0-20200124225646-8b5121be2f68", "v0.0.1"));
        assert!(go_version_less("v1.0.0-alpha", "v1.0.0-alpha.1"));
        assert!(!go_version_less("v2.0.0+incompatible", "v2.0.0"));
        assert!(go_version_less("junk", "v0.0.1"));
    }

    #[test]
    fn paths() {
        assert!(is_source_file("src/app/go.mod"));
        assert!(!is_source_file("root/go/pkg/mod/golang.org/x/net@v0.17.0/go.mod"));
        assert!(!is_source_file("usr/local/go/src/go.mod"));
        assert!(!is_source_file("usr/lib/go-1.19/src/cmd/go.mod"));
        assert!(!is_source_file("src/app/testdata/mod/go.mod"));
        assert_eq!(superseded_by("src/go.sum").as_deref(), Some("src/go.mod"));
        assert_eq!(superseded_by("go.sum").as_deref(), Some("go.mod"));
        assert_eq!(superseded_by("src/xgo.sum"), None);
    }
}
