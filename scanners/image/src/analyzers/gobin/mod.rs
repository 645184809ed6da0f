//! Go module build info in executables.
//!
//! A Go binary (1.13 and later) holds a `.go.buildinfo` blob: the 14-byte magic
//! `\xff Go buildinf:`, a pointer size byte, a flags byte, padding to 32 bytes, then (Go 1.18+,
//! flag `0x2`, "inline strings") two uvarint-length-prefixed strings: the Go version and the
//! module info text (`path`, `mod`, `dep`, `=>` lines between 16-byte sentinels). The blob is
//! found by streaming the file through a fixed buffer and searching the 16-byte-aligned magic,
//! so memory stays bounded whatever the binary's size; reading stops as soon as inline build
//! info is parsed. The search does not use section headers, so stripped binaries (`-s -w`,
//! `strip`: `.go.buildinfo` is an allocated section and stays) are read like others.
//!
//! Binaries of Go 1.13 to 1.17 (pointers instead of inline strings) and Go 1.11/1.12 module
//! builds (no `.go.buildinfo`) are read to the end by [`legacy`], which says what is found and
//! what is not.

use std::io::Read;

use memchr::memmem;
use regscan_scanner_api::Package;

use super::{package, AnalyzeError, AnalyzerId, FileFacts};

mod legacy;

/// Largest file considered a Go binary candidate. Memory use does not depend on it (the file is
/// streamed); it bounds the time spent on one file.
pub(crate) const MAX_BINARY_BYTES: u64 = 512 * 1024 * 1024;

/// Smallest file considered (a stripped "hello world" is over a megabyte).
pub(crate) const MIN_BINARY_BYTES: u64 = 512 * 1024;

/// The build info magic.
const MAGIC: &[u8] = b"\xff Go buildinf:";

/// Size of the build info header (magic, pointer size, flags, padding).
const HEADER: usize = 32;

/// Flag: the version and module strings follow the header inline (Go 1.18+).
const FLAG_INLINE: u8 = 0x2;

/// Streaming buffer size.
const CHUNK: usize = 256 * 1024;

/// Longest accepted Go version string.
const MAX_VERSION_LEN: u64 = 1024;

/// Longest accepted module info text.
pub(crate) const MAX_MODINFO_LEN: u64 = 8 * 1024 * 1024;

/// Directories whose direct children are executables worth checking.
const BIN_DIRS: &[&str] = &[
    "bin/",
    "sbin/",
    "usr/bin/",
    "usr/sbin/",
    "usr/local/bin/",
    "usr/local/sbin/",
    "usr/local/go/bin/",
    "go/bin/",
    "root/go/bin/",
    "ko-app/",
];

/// Directories where executables may sit at any depth (only extension-less names are checked).
const APP_DIRS: &[&str] = &["app/", "opt/", "usr/local/go/pkg/tool/", "srv/", "home/"];

/// Whether a file is worth streaming through the build info search: its size is within
/// [`MIN_BINARY_BYTES`, `MAX_BINARY_BYTES`] and it sits directly in a `bin` directory (any name
/// that does not look like a shared library), or at any depth under an application directory or
/// at the root of the filesystem (names without a `.` only).
pub(crate) fn is_candidate(path: &str, file_name: &str, size: u64) -> bool {
    if !(MIN_BINARY_BYTES..=MAX_BINARY_BYTES).contains(&size) || file_name.is_empty() {
        return false;
    }
    let dir = &path[..path.len() - file_name.len()];
    if dir.is_empty() {
        return !file_name.contains('.');
    }
    if BIN_DIRS.contains(&dir) {
        return !file_name.ends_with(".so") && !file_name.contains(".so.");
    }
    !file_name.contains('.') && APP_DIRS.iter().any(|d| dir.starts_with(d))
}

/// Whether `head` starts like an executable (ELF, PE, Mach-O).
fn is_executable(head: &[u8]) -> bool {
    const MAGICS: &[&[u8]] = &[
        b"\x7fELF",
        b"MZ",
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
    ];
    MAGICS.iter().any(|m| head.starts_with(m))
}

/// Read into `buf[filled..]` until it is full or the input ends; returns the new fill.
fn fill(path: &str, content: &mut dyn Read, buf: &mut [u8], mut filled: usize) -> Result<usize, AnalyzeError> {
    while filled < buf.len() {
        match content.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(AnalyzeError::io(path, e)),
        }
    }
    Ok(filled)
}

/// Bytes of each window carried into the next: a magic and its header, a `go1.` version
/// candidate or a module info sentinel that straddles the boundary is then whole in the next
/// window.
const KEEP: usize = 63;

/// Stream an executable, find its build info and turn it into `Go` packages.
pub(crate) fn analyze(path: &str, content: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let mut content = content.take(MAX_BINARY_BYTES);
    let finder = memmem::Finder::new(MAGIC);
    let mut buf = vec![0u8; CHUNK];
    let mut filled = fill(path, &mut content, &mut buf, 0)?;
    if !is_executable(&buf[..filled]) {
        return Ok(FileFacts::Nothing);
    }
    let mut legacy = legacy::Legacy::new(&buf[..filled]);
    // File offset of buf[0].
    let mut base: u64 = 0;
    loop {
        let at_end = filled < buf.len();
        let window = &buf[..filled];
        // A match needs its whole header in the window, unless the input has ended; bytes
        // from `searchable` on start the next window.
        let searchable = if at_end { filled } else { filled - KEEP };
        let mut from = 0;
        while let Some(pos) = finder.find(&window[from..]).map(|p| p + from) {
            if pos >= searchable {
                break;
            }
            from = pos + 1;
            if (base + pos as u64) & 15 != 0 || pos + HEADER > filled {
                continue;
            }
            let header = &window[pos..pos + HEADER];
            let (ptr_size, flags) = (header[14], header[15]);
            if !matches!(ptr_size, 4 | 8) {
                continue;
            }
            if flags & FLAG_INLINE == 0 {
                // Go 1.13 to 1.17: pointers to follow (see `legacy`); a later inline header
                // would still win.
                legacy.header(header, base);
                continue;
            }
            let rest = &window[pos + HEADER..];
            let mut reader = rest.chain(&mut content);
            return parse_inline(path, &mut reader);
        }
        legacy.scan(base, window, searchable);
        if at_end {
            return Ok(match legacy.finish() {
                Some((go_version, modinfo)) => FileFacts::Packages(packages(path, &go_version, &modinfo)),
                None => FileFacts::Nothing,
            });
        }
        buf.copy_within(searchable..filled, 0);
        base += searchable as u64;
        filled = fill(path, &mut content, &mut buf, KEEP)?;
    }
}

/// Read an unsigned LEB128 varint (Go's `binary.Uvarint`).
fn read_uvarint(r: &mut dyn Read) -> std::io::Result<u64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let mut byte = [0u8];
        r.read_exact(&mut byte)?;
        value |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "varint longer than 10 bytes",
    ))
}

/// Read one length-prefixed byte string of at most `max` bytes.
fn read_bytes(path: &str, r: &mut dyn Read, what: &str, max: u64) -> Result<Vec<u8>, AnalyzeError> {
    let id = AnalyzerId::GoBinary;
    let eof = |e: std::io::Error| AnalyzeError::malformed(id, path, format!("build info {what}: {e}"));
    let len = read_uvarint(r).map_err(eof)?;
    if len > max {
        return Err(AnalyzeError::malformed(
            id,
            path,
            format!("build info {what} is {len} bytes, over {max}"),
        ));
    }
    let mut bytes = vec![0u8; len as usize];
    r.read_exact(&mut bytes).map_err(eof)?;
    Ok(bytes)
}

/// Parse the inline version and module info strings that follow the header.
fn parse_inline(path: &str, r: &mut dyn Read) -> Result<FileFacts, AnalyzeError> {
    let go_version = read_bytes(path, r, "Go version", MAX_VERSION_LEN)?;
    let go_version = String::from_utf8_lossy(&go_version);
    if !go_version.starts_with("go") && !go_version.starts_with("devel") {
        let problem = format!("build info Go version {go_version:?} does not start with \"go\"");
        return Err(AnalyzeError::malformed(AnalyzerId::GoBinary, path, problem));
    }
    let modinfo = read_bytes(path, r, "module info", MAX_MODINFO_LEN)?;
    let modinfo = String::from_utf8_lossy(strip_sentinels(&modinfo));
    Ok(FileFacts::Packages(packages(path, &go_version, &modinfo)))
}

/// The module info without its 16-byte sentinels (present when the text is at least 33 bytes
/// and the byte before the end sentinel is a newline, as Go's `debug/buildinfo` checks).
fn strip_sentinels(b: &[u8]) -> &[u8] {
    if b.len() >= 33 && b[b.len() - 17] == b'\n' {
        &b[16..b.len() - 16]
    } else {
        b
    }
}

/// Build the package list: dependencies (with `=>` replacements applied), the main module when
/// it has a real version, and the standard library as `stdlib`.
fn packages(path: &str, go_version: &str, modinfo: &str) -> Vec<Package> {
    // (module path, version); a local replacement (no version) sets the version to None.
    let mut mods: Vec<(String, Option<String>)> = Vec::new();
    for line in modinfo.lines() {
        let mut fields = line.split('\t');
        let kind = fields.next().unwrap_or("");
        let module = fields.next().unwrap_or("").trim();
        let version = fields.next().unwrap_or("").trim();
        match kind {
            "mod" | "dep" if !module.is_empty() => {
                let keep = !version.is_empty() && version != "(devel)";
                mods.push((module.to_owned(), keep.then(|| version.to_owned())));
            }
            "=>" => {
                if let Some(last) = mods.last_mut() {
                    *last = (module.to_owned(), (!version.is_empty()).then(|| version.to_owned()));
                }
            }
            _ => {}
        }
    }
    let mut out: Vec<Package> = mods
        .into_iter()
        .filter_map(|(module, version)| Some(package("Go", module, version?, path)))
        .collect();
    if let Some(version) = stdlib_version(go_version) {
        out.push(package("Go", "stdlib", version, path));
    }
    out
}

/// The standard library version for a build info Go version: `go1.21.5` -> `v1.21.5`,
/// `go1.20` -> `v1.20.0`, `go1.22rc1` -> `v1.22.0-rc.1`; build suffixes (`go1.21.5 X:boringcrypto`)
/// dropped; development toolchains give `None`.
fn stdlib_version(go_version: &str) -> Option<String> {
    let first = go_version.split_whitespace().next()?;
    let v = first.strip_prefix("go")?;
    let (release, pre) = match v.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&v[..i], Some(&v[i..])),
        None => (v, None),
    };
    let nums: Vec<&str> = release.split('.').collect();
    if nums.is_empty()
        || nums.len() > 3
        || nums
            .iter()
            .any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let patch = nums.get(2).copied().unwrap_or("0");
    let mut out = format!("v{}.{}.{}", nums[0], nums.get(1).copied().unwrap_or("0"), patch);
    if let Some(pre) = pre {
        let split = pre.find(|c: char| c.is_ascii_digit()).unwrap_or(pre.len());
        let (tag, n) = pre.split_at(split);
        if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_lowercase()) {
            return None;
        }
        out.push('-');
        out.push_str(tag);
        if !n.is_empty() {
            out.push('.');
            out.push_str(n);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENTINEL_START: &[u8] = b"\x30\x77\xaf\x0c\x92\x74\x08\x02\x41\xe1\xc1\x07\xe6\xd6\x18\xe6";
    const SENTINEL_END: &[u8] = b"\xf9\x32\x43\x31\x86\x18\x20\x72\x00\x82\x42\x10\x41\x16\xd8\xf2";

    const MODINFO: &str = "path\tgithub.com/example/server/cmd/server
mod\tgithub.com/example/server\t(devel)\t
dep\tgithub.com/gorilla/mux\tv1.8.1\th1:TuBL49tXwgrFYWhqrNgrUNEY92u81SPhu7sTdzQEiWY=
dep\tgolang.org/x/net\tv0.17.0\th1:pVaXccu2ozPjCXewfr1S2xoAx+FsHkvUW6cxB2ThEaU=
dep\tgithub.com/example/fork\tv1.0.0\t
=>\tgithub.com/example/fork-fixed\tv1.0.1\th1:abc=
dep\tgithub.com/example/local\tv0.0.0-00010101000000-000000000000\t
=>\t../local\t\t
build\t-buildmode=exe
build\tCGO_ENABLED=0
build\tGOARCH=amd64
build\tGOOS=linux
";

    fn uvarint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// A fake ELF binary with build info at `offset` (16-aligned) and `len` bytes in all.
    fn binary(offset: usize, len: usize, version: &str, modinfo: &str) -> Vec<u8> {
        let mut data = vec![0u8; offset];
        data[..4].copy_from_slice(b"\x7fELF");
        // Noise, including an unaligned decoy magic and an old-format (pointer) header.
        for (i, b) in data.iter_mut().enumerate().skip(64) {
            *b = (i * 31 % 251) as u8;
        }
        data[1001..1001 + MAGIC.len()].copy_from_slice(MAGIC);
        data[4096..4096 + MAGIC.len()].copy_from_slice(MAGIC);
        data[4096 + 14] = 8;
        data[4096 + 15] = 0;
        let mut info = MAGIC.to_vec();
        info.extend([8u8, FLAG_INLINE]);
        info.resize(HEADER, 0);
        uvarint(version.len() as u64, &mut info);
        info.extend(version.as_bytes());
        let mut text = SENTINEL_START.to_vec();
        text.extend(modinfo.as_bytes());
        text.extend(SENTINEL_END);
        uvarint(text.len() as u64, &mut info);
        info.extend(text);
        data.extend(info);
        data.resize(len.max(data.len()), 0xcc);
        data
    }

    fn names(facts: FileFacts) -> Vec<(String, String)> {
        match facts {
            FileFacts::Packages(p) => {
                assert!(p
                    .iter()
                    .all(|p| p.ecosystem == "Go" && p.path == "usr/local/bin/server"));
                p.into_iter().map(|p| (p.name, p.version)).collect()
            }
            other => panic!("{other:?}"),
        }
    }

    fn expected() -> Vec<(String, String)> {
        [
            ("github.com/gorilla/mux", "v1.8.1"),
            ("golang.org/x/net", "v0.17.0"),
            ("github.com/example/fork-fixed", "v1.0.1"),
            ("stdlib", "v1.21.5"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
    }

    #[test]
    fn finds_build_info_across_chunks() {
        // Place the blob at several offsets, including straddling the first chunk boundary.
        for offset in [8192, CHUNK - 16, CHUNK - 32, CHUNK, 3 * CHUNK + 4096] {
            let bin = binary(offset, offset + 100_000, "go1.21.5", MODINFO);
            let got = names(analyze("usr/local/bin/server", &mut bin.as_slice()).unwrap());
            assert_eq!(got, expected(), "offset {offset}");
        }
    }

    #[test]
    fn stops_reading_after_build_info() {
        struct Endless(u64);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.0 += buf.len() as u64;
                assert!(self.0 < 64 << 20, "read far past the build info");
                buf.fill(0);
                Ok(buf.len())
            }
        }
        let bin = binary(8192, 0, "go1.22.1", MODINFO);
        let mut reader = bin.as_slice().chain(Endless(0));
        assert_eq!(names(analyze("usr/local/bin/server", &mut reader).unwrap()).len(), 4);
    }

    #[test]
    fn non_go_files_are_nothing() {
        let mut elf = vec![0u8; 2 << 20];
        elf[..4].copy_from_slice(b"\x7fELF");
        assert_eq!(analyze("usr/bin/ls", &mut elf.as_slice()).unwrap(), FileFacts::Nothing);
        let script = b"#!/bin/sh\necho hi\n".repeat(100_000);
        assert_eq!(
            analyze("usr/bin/x", &mut script.as_slice()).unwrap(),
            FileFacts::Nothing
        );
    }

    #[test]
    fn corrupt_build_info_is_an_error() {
        let mut bin = binary(8192, 0, "go1.21.5", MODINFO);
        bin.truncate(8192 + HEADER + 20);
        let err = analyze("usr/local/bin/server", &mut bin.as_slice())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("usr/local/bin/server") && err.contains("module info"),
            "{err}"
        );
        let bin = binary(8192, 0, "notgo", MODINFO);
        assert!(analyze("usr/local/bin/server", &mut bin.as_slice()).is_err());
    }

    #[test]
    fn main_module_with_version_is_reported() {
        let modinfo = "path\tgithub.com/x/tool\nmod\tgithub.com/x/tool\tv2.3.4\th1:x=\n";
        let bin = binary(8192, 0, "go1.20", modinfo);
        let got = names(analyze("usr/local/bin/server", &mut bin.as_slice()).unwrap());
        assert_eq!(
            got,
            [
                ("github.com/x/tool".to_owned(), "v2.3.4".to_owned()),
                ("stdlib".to_owned(), "v1.20.0".to_owned())
            ]
        );
    }

    #[test]
    fn go_versions() {
        assert_eq!(stdlib_version("go1.21.5").as_deref(), Some("v1.21.5"));
        assert_eq!(stdlib_version("go1.21.5 X:boringcrypto").as_deref(), Some("v1.21.5"));
        assert_eq!(stdlib_version("go1.20").as_deref(), Some("v1.20.0"));
        assert_eq!(stdlib_version("go1.22rc1").as_deref(), Some("v1.22.0-rc.1"));
        assert_eq!(stdlib_version("devel go1.23-abc"), None);
        assert_eq!(stdlib_version("go1.x"), None);
    }

    #[test]
    fn candidates() {
        let mb = 1 << 20;
        assert!(is_candidate("usr/local/bin/kubectl", "kubectl", 50 * mb));
        assert!(is_candidate("usr/bin/python3.11", "python3.11", 6 * mb));
        assert!(!is_candidate("usr/bin/libfoo.so", "libfoo.so", 6 * mb));
        assert!(!is_candidate("usr/local/bin/kubectl", "kubectl", 1000));
        assert!(!is_candidate("usr/local/bin/kubectl", "kubectl", MAX_BINARY_BYTES + 1));
        assert!(is_candidate("app/server", "server", 20 * mb));
        assert!(is_candidate("opt/tool/bin/tool", "tool", 20 * mb));
        assert!(!is_candidate("opt/tool/lib/x.so.1", "x.so.1", 20 * mb));
        assert!(is_candidate("manager", "manager", 20 * mb));
        assert!(!is_candidate(
            "usr/lib/x86_64-linux-gnu/libLLVM.so.15",
            "libLLVM.so.15",
            20 * mb
        ));
        assert!(!is_candidate("usr/share/doc/thing", "thing", 20 * mb));
    }
}
