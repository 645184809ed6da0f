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
        version: None,
        cpe_name: None,
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
            "VERSION" if !value.is_empty() => info.version = Some(value),
            "CPE_NAME" if !value.is_empty() => info.cpe_name = Some(value),
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
        version: None,
        cpe_name: None,
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
        version: None,
        cpe_name: None,
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

/// The major release of `os`: the digits of `VERSION_ID` before the first dot.
fn major(os: &OsInfo) -> Option<&str> {
    os.version_id
        .split('.')
        .next()
        .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
}

/// The Red Hat product of a RHEL (or UBI) image, by `CPE_NAME` where it declares an
/// extended-support product or a SAP stream of this major release
/// (`cpe:/o:redhat:rhel_eus:9.2::baseos` → `Red Hat:rhel_eus:9.2`,
/// `cpe:/o:redhat:enterprise_linux:9::sap` → `Red Hat:enterprise_linux:9::sap`), else
/// `Red Hat:enterprise_linux:<major>`.
fn red_hat_product(os: &OsInfo, major: &str) -> String {
    let main = format!("Red Hat:enterprise_linux:{major}");
    let Some(cpe) = os.cpe_name.as_deref() else {
        return main;
    };
    let fields = cpe
        .strip_prefix("cpe:2.3:")
        .or_else(|| cpe.strip_prefix("cpe:/"))
        .unwrap_or("");
    let f: Vec<&str> = fields.split(':').collect();
    let (Some(&"redhat"), Some(&product), Some(&version)) = (f.get(1), f.get(2), f.get(3)) else {
        return main;
    };
    let same_major = version.split('.').next() == Some(major);
    let stream = f.get(5).copied().unwrap_or("");
    let base = match product {
        "enterprise_linux" => main,
        p if same_major && p.starts_with("rhel_") && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') => {
            format!("Red Hat:{p}:{version}")
        }
        _ => main,
    };
    if matches!(stream, "sap" | "sap_hana") {
        format!("{base}::{stream}")
    } else {
        base
    }
}

/// `15.5` → `15 SP5`, `15` / `15.0` → `15`, `16.0` → `16.0` (SLE 16 has no service packs).
fn suse_release(os: &OsInfo, major: &str) -> String {
    let minor = os.version_id.split('.').nth(1).unwrap_or("0");
    match major.parse::<u32>() {
        Ok(m) if m >= 16 => os.version_id.clone(),
        _ if minor == "0" || minor.is_empty() => major.to_owned(),
        _ => format!("{major} SP{minor}"),
    }
}

/// The OSV ecosystem of `os`'s packages and the package manager it uses, when regscan knows the
/// distribution and version. The rpm distributions without an OSV ecosystem (Amazon Linux,
/// Fedora) get a name of their own so their packages are recorded as such.
fn os_ecosystem(os: &OsInfo) -> Option<(&'static str, String)> {
    let major = major(os);
    let minor = os
        .version_id
        .split('.')
        .nth(1)
        .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()));
    let v = os.version_id.as_str();
    let rpm = |eco: String| Some(("rpm", eco));
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
        // UBI images are RHEL (`ID=rhel`).
        "rhel" => rpm(red_hat_product(os, major?)),
        // OSV names these by major release (`Rocky Linux:9`, `AlmaLinux:8`).
        "rocky" => rpm(format!("Rocky Linux:{}", major?)),
        "almalinux" => rpm(format!("AlmaLinux:{}", major?)),
        "sles" => rpm(format!("SUSE:Linux Enterprise Server {}", suse_release(os, major?))),
        "sles_sap" => rpm(format!(
            "SUSE:Linux Enterprise Server for SAP Applications {}",
            suse_release(os, major?)
        )),
        "sle_hpc" => rpm(format!(
            "SUSE:Linux Enterprise High Performance Computing {}",
            suse_release(os, major?)
        )),
        "sled" => rpm(format!("SUSE:Linux Enterprise Desktop {}", suse_release(os, major?))),
        "sle-micro" => rpm(format!("SUSE:Linux Enterprise Micro {}.{}", major?, minor?)),
        "sl-micro" => rpm(format!("SUSE:Linux Micro {}.{}", major?, minor?)),
        "opensuse-leap" => rpm(format!("openSUSE:Leap {}.{}", major?, minor?)),
        "opensuse-leap-micro" => rpm(format!("openSUSE:Leap Micro {}.{}", major?, minor?)),
        "opensuse-tumbleweed" => rpm("openSUSE:Tumbleweed".to_owned()),
        // `VERSION="22.03 (LTS-SP1)"` → `openEuler:22.03-LTS-SP1`.
        "openeuler" => {
            major?;
            let qualifier = os
                .version
                .as_deref()
                .and_then(|v| v.split_once('(')?.1.split_once(')'))
                .map(|(q, _)| q.trim())
                .filter(|q| !q.is_empty() && q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            match qualifier {
                Some(q) => rpm(format!("openEuler:{v}-{q}")),
                None => rpm(format!("openEuler:{v}")),
            }
        }
        "mageia" => rpm(format!("Mageia:{}", major?)),
        "photon" => rpm(format!("Photon OS:{}.{}", major?, minor.unwrap_or("0"))),
        // No OSV ecosystem: recorded, not matched.
        "amzn" => rpm(format!("Amazon Linux:{}", major?)),
        "fedora" => rpm(format!("Fedora:{}", major?)),
        // Rolling distributions: OSV has no release in their ecosystem names.
        "wolfi" => Some(("apk", "Wolfi".to_owned())),
        "chainguard" => Some(("apk", "Chainguard".to_owned())),
        _ => None,
    }
}

/// The ecosystem of an rpm package with header `vendor` and modularity label `module` on an
/// image whose OS ecosystem is `os_eco`: the OS ecosystem when the vendor is the
/// distribution's own (Red Hat, Rocky, Alma, SUSE; other distributions are not checked), with
/// ` module:<name>:<stream>` for a module rpm of Red Hat, Rocky or Alma; `None` for a
/// third-party package (EPEL, a vendor's own rpm, a locally built one), recorded as `rpm`.
fn rpm_ecosystem(os: &OsInfo, os_eco: &str, vendor: &str, module: &str) -> Option<String> {
    let vendor = vendor.trim().to_ascii_lowercase();
    let own = match os.id.as_str() {
        "rhel" => vendor.starts_with("red hat"),
        "rocky" => vendor.starts_with("rocky"),
        "almalinux" => vendor.starts_with("almalinux"),
        id if id.starts_with("sle") || id.starts_with("sl-") || id.starts_with("opensuse") => {
            // `SUSE LLC <https://www.suse.com/>`, `openSUSE`; not OBS projects (`obs://…`).
            vendor.starts_with("suse") || vendor.starts_with("opensuse")
        }
        _ => return Some(os_eco.to_owned()),
    };
    if !own {
        return None;
    }
    let mut parts = module.split(':');
    match (parts.next(), parts.next()) {
        (Some(name), Some(stream))
            if matches!(os.id.as_str(), "rhel" | "rocky" | "almalinux") && !name.is_empty() && !stream.is_empty() =>
        {
            Some(format!("{os_eco} module:{name}:{stream}"))
        }
        _ => Some(os_eco.to_owned()),
    }
}

/// Give OS packages (those with an empty or provisional `ecosystem`) the OSV ecosystem of
/// `os`: `Debian:12`, `Ubuntu:22.04`, `Alpine:v3.19`, `Red Hat:enterprise_linux:9`,
/// `Rocky Linux:9`, `AlmaLinux:8`, `SUSE:Linux Enterprise Server 15 SP5`, `openSUSE:Leap 15.5`,
/// `Wolfi`, `Chainguard`, …; rpm packages by their vendor and modularity label too (see
/// [`rpm_ecosystem`]). Packages of an unknown OS, whose package manager does not match the OS,
/// or (rpm) from a third-party vendor get the package manager's name (`dpkg`, `apk`, `rpm`) so
/// nothing is lost. Returns the OS ecosystem, when known.
#[allow(clippy::ptr_arg)] // the signature is the walker's contract
pub fn finish(os: Option<&OsInfo>, packages: &mut Vec<Package>) -> Option<String> {
    let os_eco = os.and_then(|os| Some((os, os_ecosystem(os)?)));
    for p in packages.iter_mut() {
        let rpm_facts = super::rpm::pending_facts(&p.ecosystem);
        if !p.ecosystem.is_empty() && rpm_facts.is_none() {
            continue;
        }
        let pm = package_manager(&p.path).or(rpm_facts.map(|_| "rpm"));
        p.ecosystem = match (&os_eco, pm) {
            (Some((os, (family, eco))), Some(pm)) if *family == pm => match rpm_facts {
                Some((vendor, module)) => rpm_ecosystem(os, eco, vendor, module).unwrap_or_else(|| pm.to_owned()),
                None => eco.clone(),
            },
            (_, Some(pm)) => pm.to_owned(),
            (_, None) => "unknown".to_owned(),
        };
    }
    os_eco.map(|(_, (_, eco))| eco)
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

    const RHEL9: &str = "NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"9.3 (Plow)\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.3\"\nPLATFORM_ID=\"platform:el9\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 9.3 (Plow)\"\nCPE_NAME=\"cpe:/o:redhat:enterprise_linux:9::baseos\"\n";

    fn rpm_pkg(vendor: &str, module: &str) -> Package {
        let mut p = pkg("var/lib/rpm/rpmdb.sqlite");
        p.ecosystem = super::super::rpm::tests::pending(vendor, module);
        p
    }

    /// The ecosystem `finish` gives an rpm package with these header facts on this OS.
    fn rpm_eco(os_release: &str, vendor: &str, module: &str) -> String {
        let info = os("etc/os-release", os_release);
        let mut pkgs = vec![rpm_pkg(vendor, module)];
        finish(Some(&info), &mut pkgs);
        pkgs.remove(0).ecosystem
    }

    #[test]
    fn rpm_ecosystems_by_os_vendor_and_module() {
        let rh = "Red Hat, Inc.";
        assert_eq!(rpm_eco(RHEL9, rh, ""), "Red Hat:enterprise_linux:9");
        assert_eq!(
            rpm_eco(RHEL9, rh, "nodejs:18:9030020231120095946:rhel9"),
            "Red Hat:enterprise_linux:9 module:nodejs:18"
        );
        // Third-party vendors (EPEL, a vendor's own rpm, no vendor at all) are not Red Hat's.
        assert_eq!(rpm_eco(RHEL9, "Fedora Project", ""), "rpm");
        assert_eq!(rpm_eco(RHEL9, "", ""), "rpm");
        // An image that declares an EUS product is matched against it (then the main product).
        let eus = RHEL9.replace("enterprise_linux:9::baseos", "rhel_eus:9.2::baseos");
        assert_eq!(rpm_eco(&eus, rh, ""), "Red Hat:rhel_eus:9.2");
        let sap = RHEL9.replace("::baseos", "::sap");
        assert_eq!(rpm_eco(&sap, rh, ""), "Red Hat:enterprise_linux:9::sap");
        // A CPE of another major release or vendor is not believed.
        let odd = RHEL9.replace("enterprise_linux:9::baseos", "rhel_eus:8.6::baseos");
        assert_eq!(rpm_eco(&odd, rh, ""), "Red Hat:enterprise_linux:9");
        // UBI: same os-release, no CPE in some minimal images.
        let ubi = "ID=\"rhel\"\nVERSION_ID=\"8.9\"\nNAME=\"Red Hat Enterprise Linux\"\n";
        assert_eq!(rpm_eco(ubi, rh, ""), "Red Hat:enterprise_linux:8");
        assert_eq!(
            rpm_eco(
                ROCKY,
                "Rocky Enterprise Software Foundation",
                "php:8.1:9020020230511111111:rhel9"
            ),
            "Rocky Linux:9 module:php:8.1"
        );
        assert_eq!(rpm_eco(ROCKY, "Red Hat, Inc.", ""), "rpm");
        let alma = "ID=\"almalinux\"\nVERSION_ID=\"9.4\"\n";
        assert_eq!(rpm_eco(alma, "AlmaLinux", ""), "AlmaLinux:9");
        let sles = "NAME=\"SLES\"\nVERSION=\"15-SP5\"\nVERSION_ID=\"15.5\"\nPRETTY_NAME=\"SUSE Linux Enterprise Server 15 SP5\"\nID=\"sles\"\nID_LIKE=\"suse\"\nCPE_NAME=\"cpe:/o:suse:sles:15:sp5\"\n";
        let suse = "SUSE LLC <https://www.suse.com/>";
        assert_eq!(rpm_eco(sles, suse, ""), "SUSE:Linux Enterprise Server 15 SP5");
        assert_eq!(rpm_eco(sles, "obs://build.opensuse.org/home:someone", ""), "rpm");
        assert_eq!(rpm_eco(sles, "Acme Corp", ""), "rpm");
        let sles15 = "ID=\"sles\"\nVERSION_ID=\"15\"\n";
        assert_eq!(rpm_eco(sles15, suse, ""), "SUSE:Linux Enterprise Server 15");
        let micro = "ID=\"sle-micro\"\nVERSION_ID=\"5.5\"\n";
        assert_eq!(rpm_eco(micro, suse, ""), "SUSE:Linux Enterprise Micro 5.5");
        let leap = "NAME=\"openSUSE Leap\"\nVERSION=\"15.5\"\nID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\nVERSION_ID=\"15.5\"\n";
        assert_eq!(rpm_eco(leap, "openSUSE", ""), "openSUSE:Leap 15.5");
        // Leap 15.3+ ships SLE binaries, vendor SUSE.
        assert_eq!(rpm_eco(leap, suse, ""), "openSUSE:Leap 15.5");
        let tw = "ID=\"opensuse-tumbleweed\"\nVERSION_ID=\"20240801\"\n";
        assert_eq!(rpm_eco(tw, "openSUSE", ""), "openSUSE:Tumbleweed");
        // No OSV ecosystem: recorded under their own names.
        let al = "NAME=\"Amazon Linux\"\nVERSION=\"2023\"\nID=\"amzn\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"2023\"\n";
        assert_eq!(rpm_eco(al, "Amazon Linux", ""), "Amazon Linux:2023");
        let fedora = "ID=fedora\nVERSION_ID=40\n";
        assert_eq!(rpm_eco(fedora, "Fedora Project", ""), "Fedora:40");
        let euler = "NAME=\"openEuler\"\nVERSION=\"22.03 (LTS-SP1)\"\nID=\"openEuler\"\nVERSION_ID=\"22.03\"\n";
        assert_eq!(rpm_eco(euler, "openEuler", ""), "openEuler:22.03-LTS-SP1");
        // CentOS, Oracle Linux: no OSV ecosystem, recorded as rpm as before.
        assert_eq!(rpm_eco("ID=\"ol\"\nVERSION_ID=\"9.3\"\n", "Oracle America", ""), "rpm");
        // An rpm database on a Debian image keeps the package manager's name.
        assert_eq!(rpm_eco(DEBIAN, rh, ""), "rpm");
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
