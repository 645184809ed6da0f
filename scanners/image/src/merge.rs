//! Merging per-layer facts in OCI order into the image's final filesystem view, then into an
//! inventory: the operating system and every package with the layer and path it came from.
//!
//! For each layer, in manifest order: its opaque directories hide everything lower under them,
//! then its `.wh.<name>` whiteouts delete lower paths (and everything under them), then its own
//! entries replace lower ones at the same path (image-spec `layer.md`, "Applying changesets").

use std::collections::BTreeMap;

use regscan_scanner_api::Package;

use crate::analyzers::{self, FileFacts, OsInfo};
use crate::layer::LayerFacts;

/// Most symbolic links followed when resolving a release file.
const MAX_SYMLINK_HOPS: usize = 8;

/// An entry of the merged filesystem.
#[derive(Debug, Clone, PartialEq)]
enum Node<'a> {
    /// A file with facts, from layer `layer` (index in manifest order).
    File { layer: usize, facts: &'a FileFacts },
    /// A symbolic link and its target as written.
    Symlink { target: &'a str },
}

/// The merged view: only the paths the analyzers care about.
#[derive(Debug, Default)]
pub struct Merged<'a> {
    nodes: BTreeMap<String, Node<'a>>,
}

impl<'a> Merged<'a> {
    /// Merge `layers` (lowest first).
    pub fn new<I>(layers: I) -> Self
    where
        I: IntoIterator<Item = &'a LayerFacts>,
    {
        let mut merged = Merged::default();
        for (index, layer) in layers.into_iter().enumerate() {
            for dir in &layer.opaque_dirs {
                merged.remove_under(dir);
            }
            for path in &layer.whiteouts {
                merged.nodes.remove(path);
                merged.remove_under(path);
            }
            for path in &layer.shadowed {
                merged.nodes.remove(path);
            }
            for (path, target) in &layer.symlinks {
                merged.nodes.insert(path.clone(), Node::Symlink { target });
            }
            for (path, facts) in &layer.files {
                merged.nodes.insert(path.clone(), Node::File { layer: index, facts });
            }
        }
        merged
    }

    /// Remove every path strictly under `dir` (`""` is the root: everything).
    fn remove_under(&mut self, dir: &str) {
        if dir.is_empty() {
            self.nodes.clear();
            return;
        }
        let prefix = format!("{dir}/");
        let doomed: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    /// The facts at `path`, following symbolic links.
    fn resolve(&self, path: &str) -> Option<&'a FileFacts> {
        let mut current = path.to_owned();
        for _ in 0..=MAX_SYMLINK_HOPS {
            match self.nodes.get(&current)? {
                Node::File { facts, .. } => return Some(facts),
                Node::Symlink { target } => current = join_link(&current, target)?,
            }
        }
        None
    }

    /// The image's operating system: release files as the merged filesystem shows them
    /// (through symbolic links such as `etc/os-release -> ../usr/lib/os-release`), ranked by
    /// [`analyzers::pick_os`]. Returns the OS and the path it was read from.
    pub fn os(&self) -> Option<OsInfo> {
        let mut found: Vec<(&str, &OsInfo)> = Vec::new();
        for (path, node) in &self.nodes {
            let facts = match node {
                Node::File { facts, .. } => Some(*facts),
                Node::Symlink { .. } => self.resolve(path),
            };
            if let Some(FileFacts::Os(info)) = facts {
                found.push((path.as_str(), info));
            }
        }
        analyzers::pick_os(found)
    }

    /// Every package of the merged filesystem, ordered by path, each with the digest of the
    /// layer it came from (`digests[layer index]`) and the path of the file that declared it.
    /// Files reached only through symbolic links are not counted twice.
    pub fn packages(&self, digests: &[&str]) -> Vec<Package> {
        let mut out = Vec::new();
        for (path, node) in &self.nodes {
            if let Node::File {
                layer,
                facts: FileFacts::Packages(pkgs),
            } = node
            {
                // A lockfile that only stands in for another (go.sum beside a go.mod that was
                // read) is skipped.
                let superseded = analyzers::superseded_by(path).is_some_and(|other| {
                    matches!(
                        self.nodes.get(&other),
                        Some(Node::File {
                            facts: FileFacts::Packages(_),
                            ..
                        })
                    )
                });
                if superseded {
                    continue;
                }
                for p in pkgs {
                    let mut p = p.clone();
                    p.path = path.clone();
                    p.layer = digests.get(*layer).map(|d| (*d).to_owned());
                    out.push(p);
                }
            }
        }
        out
    }
}

/// The path a symbolic link at `link` pointing to `target` names, relative to the root.
fn join_link(link: &str, target: &str) -> Option<String> {
    let base = if target.starts_with('/') {
        String::new()
    } else {
        link.rsplit_once('/').map(|(dir, _)| dir.to_owned()).unwrap_or_default()
    };
    crate::layer::normalize(format!("{base}/{target}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str) -> Package {
        Package {
            ecosystem: "npm".into(),
            name: name.into(),
            version: "1.0.0".into(),
            source_name: None,
            source_version: None,
            path: String::new(),
            layer: None,
            dev: false,
        }
    }

    fn layer(files: &[(&str, &str)]) -> LayerFacts {
        let mut l = LayerFacts::default();
        for (path, name) in files {
            l.files.insert((*path).into(), FileFacts::Packages(vec![pkg(name)]));
        }
        l
    }

    fn names(m: &Merged<'_>) -> Vec<String> {
        m.packages(&["l0", "l1", "l2"])
            .into_iter()
            .map(|p| format!("{}@{}:{}", p.name, p.layer.unwrap(), p.path))
            .collect()
    }

    #[test]
    fn later_layers_replace_files_and_record_their_layer() {
        let l0 = layer(&[
            ("a/node_modules/x/package.json", "x"),
            ("b/node_modules/y/package.json", "y"),
        ]);
        let l1 = layer(&[("a/node_modules/x/package.json", "x2")]);
        let m = Merged::new([&l0, &l1]);
        assert_eq!(
            names(&m),
            [
                "x2@l1:a/node_modules/x/package.json",
                "y@l0:b/node_modules/y/package.json"
            ]
        );
    }

    #[test]
    fn go_sum_counts_only_without_a_go_mod_beside_it() {
        let l0 = layer(&[
            ("src/a/go.sum", "a-sum"),
            ("src/b/go.sum", "b-sum"),
            ("src/a/go.mod", "a-mod"),
        ]);
        let m = Merged::new([&l0]);
        assert_eq!(names(&m), ["a-mod@l0:src/a/go.mod", "b-sum@l0:src/b/go.sum"]);
        // A go.mod deleted by a later layer no longer stands in.
        let mut l1 = LayerFacts::default();
        l1.whiteouts.insert("src/a/go.mod".into());
        let m = Merged::new([&l0, &l1]);
        assert_eq!(names(&m), ["a-sum@l0:src/a/go.sum", "b-sum@l0:src/b/go.sum"]);
    }

    #[test]
    fn whiteouts_delete_paths_and_subtrees_but_not_siblings_with_a_common_prefix() {
        let l0 = layer(&[
            ("app/node_modules/x/package.json", "x"),
            ("app2/node_modules/y/package.json", "y"),
            ("f", "f"),
        ]);
        let mut l1 = LayerFacts::default();
        l1.whiteouts.insert("app".into());
        l1.whiteouts.insert("f".into());
        let m = Merged::new([&l0, &l1]);
        assert_eq!(names(&m), ["y@l0:app2/node_modules/y/package.json"]);
    }

    #[test]
    fn opaque_dirs_hide_lower_content_but_not_the_layers_own() {
        let l0 = layer(&[("opt/a/node_modules/x/package.json", "x"), ("srv/z", "z")]);
        let mut l1 = layer(&[("opt/a/node_modules/n/package.json", "n")]);
        l1.opaque_dirs.insert("opt".into());
        let m = Merged::new([&l0, &l1]);
        assert_eq!(names(&m), ["n@l1:opt/a/node_modules/n/package.json", "z@l0:srv/z"]);
        let mut root = LayerFacts::default();
        root.opaque_dirs.insert(String::new());
        assert!(Merged::new([&l0, &root]).packages(&["a", "b"]).is_empty());
    }

    #[test]
    fn shadowed_paths_and_symlinks_hide_lower_files() {
        let l0 = layer(&[("p", "p"), ("q", "q")]);
        let mut l1 = LayerFacts::default();
        l1.shadowed.insert("p".into());
        l1.symlinks.insert("q".into(), "p".into());
        assert!(Merged::new([&l0, &l1]).packages(&["a", "b"]).is_empty());
    }

    #[test]
    fn os_release_is_found_through_a_relative_or_absolute_symlink() {
        let info = OsInfo {
            id: "debian".into(),
            version_id: "12".into(),
            version_codename: Some("bookworm".into()),
            pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
            id_like: vec![],
            version: None,
            cpe_name: None,
        };
        let mut l0 = LayerFacts::default();
        l0.files
            .insert("usr/lib/os-release".into(), FileFacts::Os(info.clone()));
        l0.symlinks
            .insert("etc/os-release".into(), "../usr/lib/os-release".into());
        assert_eq!(Merged::new([&l0]).os(), Some(info.clone()));
        let mut l1 = LayerFacts::default();
        l1.whiteouts.insert("usr/lib/os-release".into());
        assert_eq!(Merged::new([&l0, &l1]).os(), None, "dangling link, file deleted");
        assert_eq!(
            join_link("etc/os-release", "/usr/lib/os-release").as_deref(),
            Some("usr/lib/os-release")
        );
        assert_eq!(join_link("etc/x", "../../../y").as_deref(), Some("y"));
    }

    #[test]
    fn symlink_loops_end() {
        let mut l0 = LayerFacts::default();
        l0.symlinks.insert("etc/os-release".into(), "os-release".into());
        assert_eq!(Merged::new([&l0]).os(), None);
    }
}
