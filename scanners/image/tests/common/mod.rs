//! Test fixtures: layer tarballs built in memory, a counting in-memory blob source, an
//! in-memory scan cache, and a helper that runs the scanner on a manifest.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll};

use async_trait::async_trait;
use regscan_scanner_api::{
    media, BlobError, BlobReader, BlobSource, Descriptor, ImageManifest, ScanCache, ScanContext, ScanError, ScanOutput,
    Scanner, TypeEntry,
};
use regscan_scanner_image::{ImageConfig, ImageScanner};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};

/// A layer under construction.
pub struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    pub fn new() -> Self {
        Layer(tar::Builder::new(Vec::new()))
    }

    pub fn file(mut self, path: &str, data: impl AsRef<[u8]>) -> Self {
        let data = data.as_ref();
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }

    pub fn dir(mut self, path: &str) -> Self {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o755);
        h.set_entry_type(tar::EntryType::Directory);
        self.0.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Symlink);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    /// A whiteout for `path` (`.wh.<name>` in its directory).
    pub fn whiteout(self, path: &str) -> Self {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let marker = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&marker, b"")
    }

    /// An opaque-directory marker for `dir`.
    pub fn opaque(self, dir: &str) -> Self {
        self.file(&format!("{dir}/.wh..wh..opq"), b"")
    }

    pub fn tar(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }

    pub fn gzip(self) -> Vec<u8> {
        gzip(&self.tar())
    }

    pub fn zstd(self) -> Vec<u8> {
        zstd::encode_all(&self.tar()[..], 3).unwrap()
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// An in-memory registry of blobs that counts how often each is opened and can be told to
/// fail a blob's digest check at its end.
#[derive(Default)]
pub struct Blobs {
    blobs: Mutex<HashMap<String, Vec<u8>>>,
    opens: Mutex<HashMap<String, usize>>,
    corrupt: Mutex<Vec<String>>,
    pub total_opens: AtomicUsize,
}

impl Blobs {
    /// Store `data`; its descriptor with `media_type`.
    pub fn add(&self, media_type: &str, data: Vec<u8>) -> Descriptor {
        let d = Descriptor {
            media_type: media_type.into(),
            digest: digest(&data),
            size: data.len() as u64,
            ..Default::default()
        };
        self.blobs.lock().unwrap().insert(d.digest.clone(), data);
        d
    }

    /// Make reading `digest` fail at the end, as a digest mismatch does.
    pub fn corrupt(&self, digest: &str) {
        self.corrupt.lock().unwrap().push(digest.to_owned());
    }

    pub fn opens(&self, digest: &str) -> usize {
        self.opens.lock().unwrap().get(digest).copied().unwrap_or(0)
    }
}

/// Yields `data`, then (if `fail`) an `InvalidData` error instead of the end.
struct Stream {
    data: Vec<u8>,
    pos: usize,
    fail: Option<String>,
}

impl AsyncRead for Stream {
    fn poll_read(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.pos == self.data.len() {
            if let Some(d) = &self.fail {
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("digest mismatch: blob does not hash to {d}"),
                )));
            }
            return Poll::Ready(Ok(()));
        }
        // Small reads, like a network stream.
        let n = buf.remaining().min(self.data.len() - self.pos).min(16 << 10);
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

#[async_trait]
impl BlobSource for Blobs {
    async fn open(&self, d: &Descriptor, max_bytes: u64) -> Result<BlobReader, BlobError> {
        *self.opens.lock().unwrap().entry(d.digest.clone()).or_default() += 1;
        self.total_opens.fetch_add(1, Ordering::SeqCst);
        if d.size > max_bytes {
            return Err(BlobError::TooLarge {
                digest: d.digest.clone(),
                size: d.size,
                limit: max_bytes,
            });
        }
        let data = self
            .blobs
            .lock()
            .unwrap()
            .get(&d.digest)
            .cloned()
            .ok_or_else(|| BlobError::Fetch {
                digest: d.digest.clone(),
                message: "404 blob unknown".into(),
                retryable: false,
            })?;
        let fail = self
            .corrupt
            .lock()
            .unwrap()
            .contains(&d.digest)
            .then(|| d.digest.clone());
        Ok(Box::pin(Stream { data, pos: 0, fail }))
    }
}

/// An in-memory [`ScanCache`].
#[derive(Default)]
pub struct MemCache {
    pub values: Mutex<HashMap<(String, String), serde_json::Value>>,
}

#[async_trait]
impl ScanCache for MemCache {
    async fn get(&self, key: &str, version: &str) -> Option<serde_json::Value> {
        self.values
            .lock()
            .unwrap()
            .get(&(key.to_owned(), version.to_owned()))
            .cloned()
    }

    async fn put(&self, key: &str, version: &str, value: serde_json::Value) {
        self.values
            .lock()
            .unwrap()
            .insert((key.to_owned(), version.to_owned()), value);
    }
}

/// An image config blob with `user` and `env`.
pub fn config_json(user: Option<&str>, env: &[&str], history: &[&str]) -> Vec<u8> {
    let mut config = serde_json::json!({"Env": env});
    if let Some(u) = user {
        config["User"] = u.into();
    }
    let history: Vec<_> = history.iter().map(|h| serde_json::json!({"created_by": h})).collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": history,
    }))
    .unwrap()
}

/// An image: a config and layers, stored in `blobs`.
pub fn image(blobs: &Blobs, config: Vec<u8>, layers: Vec<(&str, Vec<u8>)>) -> ImageManifest {
    let config = blobs.add(media::OCI_CONFIG, config);
    let layers = layers.into_iter().map(|(mt, data)| blobs.add(mt, data)).collect();
    ImageManifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.into()),
        config,
        layers,
        ..Default::default()
    }
}

/// Scan `manifest` with `config`.
pub async fn scan_with(
    config: ImageConfig,
    manifest: &ImageManifest,
    blobs: &Blobs,
    cache: &MemCache,
) -> Result<ScanOutput, ScanError> {
    let scanner = ImageScanner::new(config);
    let entry: TypeEntry = scanner.accepts().remove(0);
    let ctx = ScanContext {
        reference: "127.0.0.1:5000/test/app@sha256:0",
        manifest,
        artifact_type: media::OCI_CONFIG,
        entry: &entry,
        blobs,
        cache,
    };
    scanner.scan(&ctx).await
}

pub async fn scan(manifest: &ImageManifest, blobs: &Blobs, cache: &MemCache) -> Result<ScanOutput, ScanError> {
    scan_with(ImageConfig::default(), manifest, blobs, cache).await
}

/// `name version` of every package.
pub fn names(out: &ScanOutput) -> Vec<String> {
    let mut v: Vec<String> = out
        .packages
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    v.sort();
    v
}

pub const DEBIAN_OS_RELEASE: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"#;

pub const DPKG_STATUS: &str = "Package: base-files
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 343
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 12.4+deb12u5
Replaces: base, dpkg (<= 1.15.0), miscutils
Provides: base
Pre-Depends: awk
Breaks: debian-security-support (<< 2019.04.25), initscripts (<< 2.88dsf-13.3)
Conffiles:
 /etc/debian_version 1de3e4d5c5c4d5d5e6dbd1c5b7e0b2f0
 /etc/host.conf 4eb63731c9f5e30903ac4fc07a7fe3d6
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system, and
 several important miscellaneous files, such as /etc/debian_version,
 .
 /etc/host.conf, /etc/issue, /etc/motd, /etc/profile, and others,
 and the text of several common licenses in use on Debian systems.

Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12986
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Recommends: libidn2-0 (>= 2.0.5~)
Suggests: glibc-doc, debconf | debconf-2.0, libc-l10n, locales, libnss-nis, libnss-nisplus
Breaks: aide (<< 0.17.3-4+b3), busybox (<< 1.30.1-6), chrony (<< 4.2-3~), fakechroot (<< 2.19-3.5)
Conffiles:
 /etc/ld.so.conf.d/x86_64-linux-gnu.conf d4e7a7b88a71b5ffd9e2644e71a0cfab
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system. This package includes shared versions of the standard C library
 and the standard math library, as well as many others.
Homepage: https://www.gnu.org/software/libc/libc.html

Package: zlib1g
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 168
Maintainer: Mark Brown <broonie@debian.org>
Architecture: amd64
Multi-Arch: same
Source: zlib
Version: 1:1.2.13.dfsg-1
Provides: libz1
Depends: libc6 (>= 2.14)
Breaks: libxml2 (<< 2.7.6.dfsg-2), texlive-binaries (<< 2009-12)
Conflicts: zlib1 (<= 1:1.0.4-7)
Description: compression library - runtime
 zlib is a library implementing the deflate compression method found
 in gzip and PKZIP.  This package includes the shared library.
Homepage: http://zlib.net/

Package: removed-pkg
Status: deinstall ok config-files
Priority: optional
Section: misc
Installed-Size: 10
Maintainer: Nobody <nobody@example.org>
Architecture: all
Version: 1.0-1
Description: a package whose files were removed (only conffiles remain)
";

pub const ALPINE_OS_RELEASE: &str = "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\nHOME_URL=\"https://alpinelinux.org/\"\nBUG_REPORT_URL=\"https://gitlab.alpinelinux.org/alpine/aports/-/issues\"\n";

pub const APK_INSTALLED: &str = "C:Q1Hn6s8VbCcFQ0KJMv0bMLnNQn5nM=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407278
I:667648
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
t:1705919634
c:5b1a8a0a1d3b3c1a4b5d9e58ebd8c3c3a1d1f5ea
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1vMgdTwt1Hq0VsEnqvjdU4Fz7nhw=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=

C:Q1wmzMc1yN4uHY1XVFx8Ix3bWFKxo=
P:busybox
V:1.36.1-r15
A:x86_64
S:509087
I:955392
T:Size optimized toolbox of many common UNIX utilities
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>
t:1705919634
c:7ab4b6c5d5c8f0f6a35a3a0ec3b2e5f2c7a2a0d1
D:so:libc.musl-x86_64.so.1
p:cmd:busybox=1.36.1-r15
F:bin
R:busybox
a:0:0:755
Z:Q1WpJ3qCgHyMl7u43y8xQbxMJnWqU=

C:Q1f8xG2bb0QL5kNbgQ8JgG8e2UcFo=
P:libcrypto3
V:3.1.4-r5
A:x86_64
S:1801154
I:4558848
T:Crypto library from openssl
U:https://www.openssl.org/
L:Apache-2.0
o:openssl
m:Ariadne Conill <ariadne@dereferenced.org>
t:1705919634
c:a5c5e1a4e3c8c0b5e1f1f3d1c0e7a9b5a3c3d1e0
D:so:libc.musl-x86_64.so.1
p:so:libcrypto.so.3=3
F:lib
R:libcrypto.so.3

";
