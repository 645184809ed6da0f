//! Operating system identification (`os-release`, `debian_version`, `alpine-release`) and the
//! mapping from the operating system to the OSV ecosystem of its packages.

use std::io::Read;

use regscan_scanner_api::Package;

use super::text::shell_assignments;
use super::{read_text, AnalyzeError, AnalyzerId, FileFacts, OsInfo};

/// Debian release codenames and their major versions, for testing/unstable images that carry
/// no `VERSION_ID` (their `debian_version` reads `trixie/sid`).
const DEBIAN_CODENAMES: &[(&str, u32)] = &[
    ("squeeze", 6),
    ("wheezy", 7),
    ("jessie", 8),
    ("stretch", 9),
    ("buster", 10),
    ("bullseye", 11),
    ("bookworm", 12),
    ("trixie", 13),
    ("forky", 14),
    ("duke", 15),
];

/// Parse `etc/os-release` / `usr/lib/os-release` (os-release(5)). A missing `ID` means `linux`,
/// as the manual page says.
pub(crate) fn analyze_os_release(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let id = AnalyzerId::OsRelease;
    let text = read_text(id, path, content)?;
    if text.contains('\0') {
        return Err(AnalyzeError::malformed(id, path, "contains NUL bytes; not a text file"));
    }
    let mut info = OsInfo {
        id: "linux".to_owned(),
        version_id: String::new(),
        version_codename: None,
        pretty_name: String::new(),
        id_like: Vec::new(),
    };
    let mut name = String::new();
    for (key, value) in shell_assignments(&text) {
        match key {
            "ID" if !value.is_empty() => info.id = value.to_ascii_lowercase(),
            "VERSION_ID" => info.version_id = value,
            "VERSION_CODENAME" if !value.is_empty() => info.version_codename = Some(value),
            "PRETTY_NAME" => info.pretty_name = value,
            "NAME" => name = value,
            "ID_LIKE" => info.id_like = value.split_whitespace().map(|s| s.to_ascii_lowercase()).collect(),
            _ => {}
        }
    }
    if info.pretty_name.is_empty() {
        let base = if name.is_empty() { info.id.clone() } else { name };
        info.pretty_name = format!("{base} {}", info.version_id).trim_end().to_owned();
    }
    Ok(FileFacts::Os(info))
}

/// The first non-empty line of a one-line release file, or a [`AnalyzeError::Malformed`].
fn one_line(id: AnalyzerId, path: &str, content: &mut dyn Read) -> Result<String, AnalyzeError> {
    let text = read_text(id, path, content)?;
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    if line.is_empty() {
        return Err(AnalyzeError::malformed(id, path, "the file is empty"));
    }
    if line.len() > 64 || !line.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AnalyzeError::malformed(id, path, "expected a short version string"));
    }
    Ok(line.to_owned())
}

/// Parse `etc/debian_version`: `12.5` (a release) or `trixie/sid` (testing/unstable).
pub(crate) fn analyze_debian_version(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let line = one_line(AnalyzerId::DebianVersion, path, content)?;
    let (version_id, codename) = match line.split_once('/') {
        Some((codename, _)) => (String::new(), Some(codename.to_owned())),
        None => (line.clone(), None),
    };
    Ok(FileFacts::Os(OsInfo {
        id: "debian".to_owned(),
        version_id,
        version_codename: codename,
        pretty_name: format!("Debian GNU/Linux {line}"),
        id_like: Vec::new(),
    }))
}

/// Parse `etc/alpine-release`: `3.19.1`.
pub(crate) fn analyze_alpine_release(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let line = one_line(AnalyzerId::AlpineRelease, path, content)?;
    Ok(FileFacts::Os(OsInfo {
        id: "alpine".to_owned(),
        pretty_name: format!("Alpine Linux v{line}"),
        version_id: line,
        version_codename: None,
        id_like: Vec::new(),
    }))
}

/// How much a release file is trusted; lower wins.
fn path_rank(path: &str) -> u8 {
    match path {
        "etc/os-release" => 0,
        "usr/lib/os-release" => 1,
        "etc/alpine-release" => 2,
        "etc/debian_version" => 3,
        _ => 4,
    }
}

/// Choose the image's operating system from the OS facts of the merged filesystem, given as
/// `(path, info)` pairs. `etc/os-release` wins over `usr/lib/os-release`, which wins over
/// `etc/alpine-release` and `etc/debian_version` (Ubuntu images carry a `debian_version` too).
/// A winner without `VERSION_ID` or codename borrows them from a lower-ranked file of the same
/// distribution (Debian testing: os-release has no `VERSION_ID`, `debian_version` says
/// `trixie/sid`).
pub fn pick_os<'a, I>(found: I) -> Option<OsInfo>
where
    I: IntoIterator<Item = (&'a str, &'a OsInfo)>,
{
    let mut all: Vec<(&str, &OsInfo)> = found.into_iter().collect();
    all.sort_by_key(|(path, _)| path_rank(path));
    let (_, best) = all.first()?;
    let mut best = (*best).clone();
    for (_, other) in &all[1..] {
        if other.id != best.id {
            continue;
        }
        if best.version_id.is_empty() && !other.version_id.is_empty() {
            best.version_id = other.version_id.clone();
        }
        if best.version_codename.is_none() {
            best.version_codename = other.version_codename.clone();
        }
    }
    Some(best)
}

/// The package manager family whose database declared `path`.
fn package_manager(path: &str) -> Option<&'static str> {
    if path.starts_with("var/lib/dpkg/") {
        Some("dpkg")
    } else if path.starts_with("lib/apk/") || path.starts_with("usr/lib/apk/") {
        Some("apk")
    } else if path.starts_with("var/lib/rpm/") || path.starts_with("usr/lib/sysimage/rpm/") {
        Some("rpm")
    } else {
        None
    }
}

/// The OSV ecosystem of `os`'s packages and the package manager it uses, when regscan knows the
/// distribution and version.
fn os_ecosystem(os: &OsInfo) -> Option<(&'static str, String)> {
    let mut parts = os.version_id.split('.');
    let major = parts
        .next()
        .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()));
    let minor = parts
        .next()
        .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()));
    match os.id.as_str() {
        "debian" => {
            let major = match major {
                Some(m) => m.parse::<u32>().ok()?,
                None => {
                    let codename = os.version_codename.as_deref()?;
                    DEBIAN_CODENAMES.iter().find(|(c, _)| *c == codename)?.1
                }
            };
            Some(("dpkg", format!("Debian:{major}")))
        }
        "ubuntu" => Some(("dpkg", format!("Ubuntu:{}.{}", major?, minor?))),
        "alpine" => Some(("apk", format!("Alpine:v{}.{}", major?, minor?))),
        "rhel" => Some(("rpm", "Red Hat".to_owned())),
        // OSV names these by major release (`Rocky Linux:9`, `AlmaLinux:8`).
        "rocky" => Some(("rpm", format!("Rocky Linux:{}", major?))),
        "almalinux" => Some(("rpm", format!("AlmaLinux:{}", major?))),
        // Rolling distributions: OSV has no release in their ecosystem names.
        "wolfi" => Some(("apk", "Wolfi".to_owned())),
        "chainguard" => Some(("apk", "Chainguard".to_owned())),
        _ => None,
    }
}

/// Give OS packages (those with an empty `ecosystem`) the OSV ecosystem of `os`: `Debian:12`,
/// `Ubuntu:22.04`, `Alpine:v3.19`, `Red Hat`, `Rocky Linux:9`, `AlmaLinux:8`, `Wolfi`, `Chainguard`. Packages of an unknown
/// OS, or whose package manager does not match the OS, get the package manager's name (`dpkg`,
/// `apk`, `rpm`) so nothing is lost. Returns the OS ecosystem, when known.
#[allow(clippy::ptr_arg)] // the signature is the walker's contract
pub fn finish(os: Option<&OsInfo>, packages: &mut Vec<Package>) -> Option<String> {
    let os_eco = os.and_then(os_ecosystem);
    for p in packages.iter_mut().filter(|p| p.ecosystem.is_empty()) {
        let pm = package_manager(&p.path);
        p.ecosystem = match (&os_eco, pm) {
            (Some((family, eco)), Some(pm)) if *family == pm => eco.clone(),
            (_, Some(pm)) => pm.to_owned(),
            (_, None) => "unknown".to_owned(),
        };
    }
    os_eco.map(|(_, eco)| eco)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(path: &str, text: &str) -> OsInfo {
        let id = super::super::wanted(path, text.len() as u64).unwrap().analyzer;
        match super::super::analyze(id, path, &mut text.as_bytes()).unwrap() {
            FileFacts::Os(info) => info,
            other => panic!("not an OS: {other:?}"),
        }
    }

    const DEBIAN: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"#;

    const UBUNTU: &str = r#"PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=jammy
"#;

    const ALPINE: &str = "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\nHOME_URL=\"https://alpinelinux.org/\"\n";

    const ROCKY: &str = "NAME=\"Rocky Linux\"\nVERSION=\"9.3 (Blue Onyx)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\nPRETTY_NAME=\"Rocky Linux 9.3 (Blue Onyx)\"\n";

    const DEBIAN_SID: &str =
        "PRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nNAME=\"Debian GNU/Linux\"\nVERSION_CODENAME=trixie\nID=debian\n";

    fn pkg(path: &str) -> Package {
        Package {
            ecosystem: String::new(),
            name: "x".into(),
            version: "1".into(),
            source_name: None,
            source_version: None,
            path: path.into(),
            layer: None,
            dev: false,
        }
    }

    #[test]
    fn parses_os_release_files() {
        let d = os("etc/os-release", DEBIAN);
        assert_eq!(d.id, "debian");
        assert_eq!(d.version_id, "12");
        assert_eq!(d.version_codename.as_deref(), Some("bookworm"));
        assert_eq!(d.pretty_name, "Debian GNU/Linux 12 (bookworm)");
        let u = os("usr/lib/os-release", UBUNTU);
        assert_eq!(u.id_like, vec!["debian"]);
        let r = os("etc/os-release", ROCKY);
        assert_eq!(r.id_like, vec!["rhel", "centos", "fedora"]);
        let none = os("etc/os-release", "NAME=Thing\n");
        assert_eq!((none.id.as_str(), none.pretty_name.as_str()), ("linux", "Thing"));
    }

    #[test]
    fn parses_one_line_release_files() {
        let d = os("etc/debian_version", "12.5\n");
        assert_eq!((d.id.as_str(), d.version_id.as_str()), ("debian", "12.5"));
        let sid = os("etc/debian_version", "trixie/sid\n");
        assert_eq!(sid.version_id, "");
        assert_eq!(sid.version_codename.as_deref(), Some("trixie"));
        let a = os("etc/alpine-release", "3.19.1\n");
        assert_eq!((a.id.as_str(), a.version_id.as_str()), ("alpine", "3.19.1"));
        let err = analyze_alpine_release("etc/alpine-release", &mut "\n\n".as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("etc/alpine-release") && err.to_string().contains("empty"),
            "{err}"
        );
        let err = analyze_debian_version("etc/debian_version", &mut [0x7f, b'E', b'L', b'F', 0].as_slice());
        assert!(err.is_err());
    }

    #[test]
    fn os_ecosystems() {
        let cases = [
            ("etc/os-release", DEBIAN, "var/lib/dpkg/status", Some("Debian:12")),
            ("etc/debian_version", "11.9\n", "var/lib/dpkg/status", Some("Debian:11")),
            (
                "etc/debian_version",
                "trixie/sid\n",
                "var/lib/dpkg/status",
                Some("Debian:13"),
            ),
            ("etc/os-release", UBUNTU, "var/lib/dpkg/status", Some("Ubuntu:22.04")),
            ("etc/os-release", ALPINE, "lib/apk/db/installed", Some("Alpine:v3.19")),
            (
                "etc/alpine-release",
                "3.20.0_alpha20240329\n",
                "lib/apk/db/installed",
                Some("Alpine:v3.20"),
            ),
            (
                "etc/os-release",
                ROCKY,
                "var/lib/rpm/rpmdb.sqlite",
                Some("Rocky Linux:9"),
            ),
            (
                "etc/os-release",
                "ID=wolfi\nNAME=\"Wolfi\"\nPRETTY_NAME=\"Wolfi\"\nVERSION_ID=\"20230201\"\n",
                "usr/lib/apk/db/installed",
                Some("Wolfi"),
            ),
        ];
        for (file, text, pkg_path, want) in cases {
            let info = os(file, text);
            let mut pkgs = vec![pkg(pkg_path)];
            let got = finish(Some(&info), &mut pkgs);
            assert_eq!(got.as_deref(), want, "{file}: {text}");
            assert_eq!(Some(pkgs[0].ecosystem.as_str()), want);
        }
    }

    #[test]
    fn unknown_or_mismatched_os_keeps_package_manager_name() {
        let mut pkgs = vec![
            pkg("var/lib/dpkg/status"),
            pkg("lib/apk/db/installed"),
            pkg("var/lib/rpm/rpmdb.sqlite"),
        ];
        assert_eq!(finish(None, &mut pkgs), None);
        let ecos: Vec<_> = pkgs.iter().map(|p| p.ecosystem.as_str()).collect();
        assert_eq!(ecos, ["dpkg", "apk", "rpm"]);

        let alpine = os("etc/os-release", ALPINE);
        let mut pkgs = vec![pkg("var/lib/dpkg/status"), pkg("lib/apk/db/installed")];
        let mut already = pkg("app/node_modules/x/package.json");
        already.ecosystem = "npm".into();
        pkgs.push(already);
        assert_eq!(finish(Some(&alpine), &mut pkgs).as_deref(), Some("Alpine:v3.19"));
        let ecos: Vec<_> = pkgs.iter().map(|p| p.ecosystem.as_str()).collect();
        assert_eq!(ecos, ["dpkg", "Alpine:v3.19", "npm"]);

        let unknown = os("etc/os-release", "ID=plan9\nVERSION_ID=4\n");
        let mut pkgs = vec![pkg("lib/apk/db/installed")];
        assert_eq!(finish(Some(&unknown), &mut pkgs), None);
        assert_eq!(pkgs[0].ecosystem, "apk");
    }

    #[test]
    fn pick_os_prefers_os_release_and_fills_gaps() {
        let sid = os("etc/os-release", DEBIAN_SID);
        let dv = os("etc/debian_version", "trixie/sid\n");
        let picked = pick_os([("etc/debian_version", &dv), ("etc/os-release", &sid)]).unwrap();
        assert_eq!(picked.pretty_name, "Debian GNU/Linux trixie/sid");
        assert_eq!(picked.version_codename.as_deref(), Some("trixie"));

        let ubuntu = os("etc/os-release", UBUNTU);
        let dv = os("etc/debian_version", "bookworm/sid\n");
        let picked = pick_os([("etc/debian_version", &dv), ("etc/os-release", &ubuntu)]).unwrap();
        assert_eq!(picked.id, "ubuntu");
        assert_eq!(picked.version_codename.as_deref(), Some("jammy"));

        let only = os("etc/debian_version", "12.5\n");
        assert_eq!(pick_os([("etc/debian_version", &only)]).unwrap().version_id, "12.5");
        assert_eq!(pick_os(std::iter::empty()), None);
    }
}
