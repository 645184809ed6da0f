//! Build info of Go binaries from before Go 1.18, read in the same single pass.
//!
//! Go 1.13 to 1.17 write the same `.go.buildinfo` magic, but with flags byte bit `0x2` clear:
//! the header then holds two pointers (virtual addresses, in the byte order flags bit `0x1`
//! gives) to the string headers of `runtime.buildVersion` and `runtime.modinfo`; each string
//! header is a (data address, length) pair. The string headers live in `.data`, after
//! `.go.buildinfo` in the file; the string bytes live in `.rodata`, before it. So while the
//! binary streams past, this module remembers what it may need later, bounded:
//!
//! - every `go1.` occurrence with the [`VERSION_SPAN`] bytes after it (at most
//!   [`MAX_VERSION_CANDIDATES`]): a possible `runtime.buildVersion`;
//! - every block between the module info sentinels (at most [`MAX_BLOCKS`] of at most
//!   `MAX_MODINFO_LEN` bytes): the `runtime.modinfo` literal `cmd/go` generates, sentinels
//!   included;
//! - the ELF `PT_LOAD` segments (from the first chunk), to turn addresses into file offsets.
//!
//! When the legacy header is met, the two string headers are read as they stream past; at the
//! end the version and module info are those whose file offset *and* length match the string
//! headers exactly. When the pointers cannot be followed — position-independent binaries
//! (their pointers are zero until the dynamic loader relocates them), PE or Mach-O files (no
//! segment map here), string headers before the build info — the module info is still taken
//! when the binary holds exactly one distinct well-formed sentinel block starting `path\t`, and the Go
//! version (so `stdlib`) is then unknown. The same fallback covers Go 1.11 and 1.12 module
//! builds, which have the module info literal but no `.go.buildinfo` section. A binary with
//! neither (Go before 1.11, GOPATH builds before 1.13, UPX-packed binaries) gives nothing.

use memchr::memmem;

use super::MAX_MODINFO_LEN;

/// Start sentinel of the module info text (`cmd/go/internal/modload.infoStart`).
pub(super) const SENTINEL_START: &[u8] = b"\x30\x77\xaf\x0c\x92\x74\x08\x02\x41\xe1\xc1\x07\xe6\xd6\x18\xe6";
/// End sentinel (`infoEnd`).
pub(super) const SENTINEL_END: &[u8] = b"\xf9\x32\x43\x31\x86\x18\x20\x72\x00\x82\x42\x10\x41\x16\xd8\xf2";

/// Bytes kept after each `go1.` occurrence (Go version strings are under 20 bytes).
pub(super) const VERSION_SPAN: usize = 48;

/// Most `go1.` occurrences remembered.
const MAX_VERSION_CANDIDATES: usize = 4096;

/// Most module info blocks remembered.
const MAX_BLOCKS: usize = 8;

/// Most `PT_LOAD` segments read.
const MAX_SEGMENTS: usize = 64;

/// An ELF `PT_LOAD` segment: file offset, virtual address, size in the file.
#[derive(Clone, Copy, Debug)]
struct Segment {
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// A string header to read at a file offset, once the stream gets there.
#[derive(Debug)]
struct Pending {
    offset: u64,
    bytes: Vec<u8>,
    /// The offset was already behind the stream when it became known.
    missed: bool,
}

/// The legacy header's facts.
#[derive(Debug)]
struct Header {
    ptr_size: usize,
    big_endian: bool,
    version: Option<Pending>,
    modinfo: Option<Pending>,
}

/// State of the legacy build info search over one binary.
#[derive(Debug, Default)]
pub(super) struct Legacy {
    segments: Vec<Segment>,
    header: Option<Header>,
    /// (file offset, bytes from there) of `go1.` occurrences.
    versions: Vec<(u64, Vec<u8>)>,
    /// (file offset of the start sentinel, block with both sentinels).
    blocks: Vec<(u64, Vec<u8>)>,
    /// A block being captured: its offset and bytes so far.
    capture: Option<(u64, Vec<u8>)>,
}

/// Read an unsigned integer of `size` (4 or 8) bytes.
fn uint(b: &[u8], size: usize, big_endian: bool) -> Option<u64> {
    let b = b.get(..size)?;
    let mut v = 0u64;
    for i in 0..size {
        let byte = if big_endian { b[i] } else { b[size - 1 - i] };
        v = (v << 8) | u64::from(byte);
    }
    Some(v)
}

/// The `PT_LOAD` segments of an ELF file whose program headers lie within `head`; empty for
/// anything else.
fn elf_segments(head: &[u8]) -> Vec<Segment> {
    let parse = || -> Option<Vec<Segment>> {
        if !head.starts_with(b"\x7fELF") {
            return None;
        }
        let wide = match head.get(4)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let big = match head.get(5)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let u16_at = |at: usize| uint(head.get(at..)?, 2, big);
        let (phoff, phentsize, phnum) = if wide {
            (uint(head.get(32..)?, 8, big)?, u16_at(54)?, u16_at(56)?)
        } else {
            (uint(head.get(28..)?, 4, big)?, u16_at(42)?, u16_at(44)?)
        };
        let (min_entry, word) = if wide { (56, 8) } else { (32, 4) };
        if phentsize < min_entry {
            return None;
        }
        let mut out = Vec::new();
        for i in 0..phnum.min(MAX_SEGMENTS as u64) {
            let at = usize::try_from(phoff.checked_add(i * phentsize)?).ok()?;
            let ph = head.get(at..at.checked_add(usize::try_from(phentsize).ok()?)?)?;
            if uint(ph, 4, big)? != 1 {
                continue; // not PT_LOAD
            }
            let seg = if wide {
                Segment {
                    offset: uint(&ph[8..], word, big)?,
                    vaddr: uint(&ph[16..], word, big)?,
                    filesz: uint(&ph[32..], word, big)?,
                }
            } else {
                Segment {
                    offset: uint(&ph[4..], word, big)?,
                    vaddr: uint(&ph[8..], word, big)?,
                    filesz: uint(&ph[16..], word, big)?,
                }
            };
            out.push(seg);
        }
        Some(out)
    };
    parse().unwrap_or_default()
}

impl Legacy {
    /// Start a search; `head` is the first chunk of the file.
    pub(super) fn new(head: &[u8]) -> Self {
        Legacy {
            segments: elf_segments(head),
            ..Legacy::default()
        }
    }

    /// The file offset of `len` bytes at virtual address `addr`, when one segment holds them.
    fn offset_of(&self, addr: u64, len: u64) -> Option<u64> {
        self.segments.iter().find_map(|s| {
            let rel = addr.checked_sub(s.vaddr)?;
            (rel.checked_add(len)? <= s.filesz).then(|| s.offset + rel)
        })
    }

    /// A legacy header (32 bytes, magic first) met in the window starting at file offset
    /// `window_base` (string headers before it cannot be read any more). Only the first counts.
    pub(super) fn header(&mut self, header: &[u8], window_base: u64) {
        if self.header.is_some() {
            return;
        }
        let ptr_size = usize::from(header[14]);
        let big_endian = header[15] & 1 != 0;
        let pending = |slot: usize| -> Option<Pending> {
            let addr = uint(&header[16 + slot * ptr_size..], ptr_size, big_endian)?;
            let offset = self.offset_of(addr, 2 * ptr_size as u64)?;
            Some(Pending {
                offset,
                bytes: Vec::with_capacity(2 * ptr_size),
                missed: offset < window_base,
            })
        };
        self.header = Some(Header {
            ptr_size,
            big_endian,
            version: pending(0),
            modinfo: pending(1),
        });
    }

    /// Look at a window of the file: `window` starts at file offset `base`; its bytes from
    /// `upto` on will start the next window (`upto` is the whole window when the input has
    /// ended), the bytes before it are new.
    pub(super) fn scan(&mut self, base: u64, window: &[u8], upto: usize) {
        if let Some(h) = &mut self.header {
            for p in [&mut h.version, &mut h.modinfo].into_iter().flatten() {
                let want = 2 * h.ptr_size;
                if p.missed || p.bytes.len() == want {
                    continue;
                }
                let next = p.offset + p.bytes.len() as u64;
                if next >= base && next < base + window.len() as u64 {
                    let from = (next - base) as usize;
                    let take = (want - p.bytes.len()).min(window.len() - from);
                    p.bytes.extend_from_slice(&window[from..from + take]);
                }
            }
        }
        for pos in memmem::find_iter(&window[..upto], b"go1.") {
            if self.versions.len() >= MAX_VERSION_CANDIDATES {
                break;
            }
            let end = (pos + VERSION_SPAN).min(window.len());
            self.versions.push((base + pos as u64, window[pos..end].to_vec()));
        }
        self.scan_blocks(base, window, upto);
    }

    /// Capture the module info blocks of `window[..upto]`.
    fn scan_blocks(&mut self, base: u64, window: &[u8], upto: usize) {
        let mut i = 0;
        while i < upto {
            if let Some((start, bytes)) = &mut self.capture {
                let old = bytes.len();
                bytes.extend_from_slice(&window[i..upto]);
                let from = old.saturating_sub(SENTINEL_END.len() - 1).max(SENTINEL_START.len());
                if let Some(e) = memmem::find(&bytes[from..], SENTINEL_END) {
                    let end = from + e + SENTINEL_END.len();
                    bytes.truncate(end);
                    i += end - old;
                    let block = (*start, std::mem::take(bytes));
                    self.capture = None;
                    if self.blocks.len() < MAX_BLOCKS {
                        self.blocks.push(block);
                    }
                } else {
                    if bytes.len() as u64 > MAX_MODINFO_LEN {
                        self.capture = None;
                    }
                    i = upto;
                }
            } else {
                // A start sentinel below `upto` is whole in the window.
                match memmem::find(&window[i..], SENTINEL_START).map(|p| p + i) {
                    Some(p) if p < upto => {
                        self.capture = Some((base + p as u64, Vec::new()));
                        i = p;
                    }
                    _ => i = upto,
                }
            }
        }
    }

    /// The Go version and module info text found, if any (`None` when this is not a Go binary
    /// as far as the legacy formats tell).
    pub(super) fn finish(&self) -> Option<(String, String)> {
        // The (data address, length) a string header holds, once read whole.
        let read = |p: &Option<Pending>, h: &Header| -> Option<(u64, u64)> {
            let p = p.as_ref().filter(|p| p.bytes.len() == 2 * h.ptr_size)?;
            Some((
                uint(&p.bytes, h.ptr_size, h.big_endian)?,
                uint(&p.bytes[h.ptr_size..], h.ptr_size, h.big_endian)?,
            ))
        };
        let text = |block: &[u8]| -> Option<String> {
            let n = block.len();
            (n >= 33 && block[n - 17] == b'\n').then(|| String::from_utf8_lossy(&block[16..n - 16]).into_owned())
        };
        // The fallback: exactly one distinct well-formed block that starts like module info (Go
        // 1.18+ binaries hold the same text twice: inline and as `runtime.modinfo`).
        let only_block = || -> Option<String> {
            let mut texts = self
                .blocks
                .iter()
                .filter_map(|(_, b)| text(b))
                .filter(|t| t.starts_with("path\t"));
            let first = texts.next()?;
            texts.all(|t| t == first).then_some(first)
        };
        let Some(h) = &self.header else {
            return only_block().map(|t| (String::new(), t));
        };
        let version = read(&h.version, h)
            .and_then(|(addr, len)| {
                let off = self.offset_of(addr, len)?;
                self.versions
                    .iter()
                    .find(|(o, b)| *o == off && len as usize <= b.len())
                    .map(|(_, b)| String::from_utf8_lossy(&b[..len as usize]).into_owned())
            })
            .unwrap_or_default();
        let modinfo = match read(&h.modinfo, h) {
            // An empty `runtime.modinfo`: built outside module mode.
            Some((_, 0)) => None,
            Some((addr, len)) => match self.offset_of(addr, len) {
                Some(off) => self
                    .blocks
                    .iter()
                    .find(|(o, b)| *o == off && b.len() as u64 == len)
                    .and_then(|(_, b)| text(b)),
                // A zero (not yet relocated) or foreign address.
                None => only_block(),
            },
            None => only_block(),
        }
        .unwrap_or_default();
        (!version.is_empty() || !modinfo.is_empty()).then_some((version, modinfo))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{analyze, CHUNK, HEADER, MAGIC};
    use super::*;
    use crate::analyzers::FileFacts;

    /// Module info as `cmd/go` of Go 1.16 generates it (no `build` lines before Go 1.18).
    const MODINFO: &str = "path\tgithub.com/example/old/cmd/old
mod\tgithub.com/example/old\t(devel)\t
dep\tgithub.com/sirupsen/logrus\tv1.8.1\th1:dDvcXaTHl1RBM6I9iq5pPWaYHq86GmK3SOXwPkXl+yY=
dep\tgolang.org/x/sys\tv0.0.0-20191026070338-33540a1f6037\th1:YUO/7uOKsKeq9UokNS62b8FYywz3ker1l1vDZRCRefw=
";

    const TEXT_VADDR: u64 = 0x40_0000;
    const DATA_VADDR: u64 = 0x90_0000;
    const DATA_OFF: usize = 2 * CHUNK;
    const VERSION_OFF: usize = 0x2000;
    const DECOY_OFF: usize = 0x3000;
    const MODINFO_OFF: usize = CHUNK - 40;
    const BUILDINFO_OFF: usize = DATA_OFF + 0x100;
    const HEADERS_OFF: usize = DATA_OFF + 0x1000;

    fn block(text: &str) -> Vec<u8> {
        let mut b = SENTINEL_START.to_vec();
        b.extend(text.as_bytes());
        b.extend(SENTINEL_END);
        b
    }

    fn put(data: &mut [u8], at: usize, bytes: &[u8]) {
        data[at..at + bytes.len()].copy_from_slice(bytes);
    }

    /// A little-endian ELF64 file shaped like a Go 1.16 binary: a text/rodata segment with the
    /// version string and module info literal (straddling the first chunk boundary), a data
    /// segment with `.go.buildinfo` and, after it, the two string headers. `pointers: false`
    /// zeroes the build info pointers (a PIE binary before relocation); `decoy` adds a second
    /// sentinel block; `magic: false` leaves out `.go.buildinfo` (Go 1.11/1.12).
    fn go116(pointers: bool, decoy: bool, magic: bool) -> Vec<u8> {
        let len = 3 * CHUNK;
        let mut d: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        put(&mut d, 0, b"\x7fELF\x02\x01\x01");
        put(&mut d, 32, &64u64.to_le_bytes());
        put(&mut d, 54, &56u16.to_le_bytes());
        put(&mut d, 56, &2u16.to_le_bytes());
        for (i, (off, vaddr, size)) in [(0, TEXT_VADDR, DATA_OFF), (DATA_OFF, DATA_VADDR, len - DATA_OFF)]
            .into_iter()
            .enumerate()
        {
            let ph = 64 + 56 * i;
            put(&mut d, ph, &1u32.to_le_bytes());
            put(&mut d, ph + 8, &(off as u64).to_le_bytes());
            put(&mut d, ph + 16, &vaddr.to_le_bytes());
            put(&mut d, ph + 32, &(size as u64).to_le_bytes());
        }
        put(&mut d, VERSION_OFF - 6, b"go1.9 go1.16.15");
        if decoy {
            put(
                &mut d,
                DECOY_OFF,
                &block("path\tgithub.com/other/tool\ndep\tgithub.com/decoy/x\tv9.9.9\t\n"),
            );
        }
        let modinfo = block(MODINFO);
        put(&mut d, MODINFO_OFF, &modinfo);
        if magic {
            let mut h = MAGIC.to_vec();
            h.extend([8u8, 0]);
            let (v, m) = if pointers {
                (DATA_VADDR + 0x1000, DATA_VADDR + 0x1010)
            } else {
                (0, 0)
            };
            h.extend(v.to_le_bytes());
            h.extend(m.to_le_bytes());
            assert_eq!(h.len(), HEADER);
            put(&mut d, BUILDINFO_OFF, &h);
        }
        let strings = [
            TEXT_VADDR + VERSION_OFF as u64,
            9,
            TEXT_VADDR + MODINFO_OFF as u64,
            modinfo.len() as u64,
        ];
        for (i, v) in strings.into_iter().enumerate() {
            put(&mut d, HEADERS_OFF + 8 * i, &v.to_le_bytes());
        }
        d
    }

    fn got(bin: &[u8]) -> Vec<(String, String)> {
        match analyze("usr/local/bin/old", &mut &bin[..]).unwrap() {
            FileFacts::Packages(p) => p.into_iter().map(|p| (p.name, p.version)).collect(),
            FileFacts::Nothing => Vec::new(),
            other => panic!("{other:?}"),
        }
    }

    fn deps() -> Vec<(String, String)> {
        [
            ("github.com/sirupsen/logrus", "v1.8.1"),
            ("golang.org/x/sys", "v0.0.0-20191026070338-33540a1f6037"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .to_vec()
    }

    #[test]
    fn pointers_followed_to_version_and_module_info() {
        let mut want = deps();
        want.push(("stdlib".to_owned(), "v1.16.15".to_owned()));
        assert_eq!(got(&go116(true, true, true)), want);
        assert_eq!(got(&go116(true, false, true)), want);
    }

    #[test]
    fn unrelocated_pointers_fall_back_to_the_only_block() {
        // No Go version without the pointers: no stdlib.
        assert_eq!(got(&go116(false, false, true)), deps());
        // Two candidate blocks and nothing to choose between them: nothing is invented.
        assert_eq!(got(&go116(false, true, true)), Vec::new());
        // The same block twice is one module info.
        let mut bin = go116(false, false, true);
        put(&mut bin, DECOY_OFF, &block(MODINFO));
        assert_eq!(got(&bin), deps());
    }

    #[test]
    fn go_1_12_module_info_without_build_info() {
        assert_eq!(got(&go116(true, false, false)), deps());
        assert_eq!(got(&go116(true, true, false)), Vec::new());
    }

    #[test]
    fn empty_module_info_is_a_gopath_build() {
        let mut bin = go116(true, false, true);
        put(&mut bin, HEADERS_OFF + 24, &0u64.to_le_bytes());
        assert_eq!(got(&bin), [("stdlib".to_owned(), "v1.16.15".to_owned())]);
    }

    #[test]
    fn hostile_pointers_and_segments() {
        let base = go116(true, false, true);
        let mut cases = Vec::new();
        // Pointers past the file, lengths that overflow, a string header pointing at itself,
        // a segment table that claims 65535 entries past the chunk, 32-bit class with junk.
        for (at, v) in [
            (BUILDINFO_OFF + 16, u64::MAX),
            (BUILDINFO_OFF + 24, DATA_VADDR + 10 * CHUNK as u64),
            (HEADERS_OFF + 8, u64::MAX),
            (HEADERS_OFF + 24, u64::MAX - 3),
            (HEADERS_OFF + 16, DATA_VADDR + 0x1010),
            (HEADERS_OFF, u64::MAX - 1),
        ] {
            let mut b = base.clone();
            put(&mut b, at, &v.to_le_bytes());
            cases.push(b);
        }
        let mut b = base.clone();
        put(&mut b, 56, &u16::MAX.to_le_bytes());
        cases.push(b);
        let mut b = base.clone();
        put(&mut b, 4, &[1]);
        cases.push(b);
        // An unterminated block running to the end of the file.
        let mut b = base.clone();
        put(&mut b, 2 * CHUNK + 0x4000, SENTINEL_START);
        cases.push(b);
        for (i, b) in cases.iter().enumerate() {
            let p = got(b);
            // Whatever is found is the real module info or nothing: never other text.
            assert!(
                p.iter()
                    .all(|(n, _)| n == "stdlib" || deps().iter().any(|(d, _)| d == n)),
                "case {i}: {p:?}"
            );
        }
    }

    #[test]
    fn elf32_big_endian_segments_and_integers() {
        assert_eq!(uint(&[0x12, 0x34, 0x56, 0x78], 4, true), Some(0x1234_5678));
        assert_eq!(uint(&[0x78, 0x56, 0x34, 0x12], 4, false), Some(0x1234_5678));
        assert_eq!(uint(&[1, 2, 3], 4, false), None);
        // ELF32, big endian (ppc, mips): phoff 52, phentsize 32, one PT_LOAD.
        let mut h = vec![0u8; 256];
        h[..6].copy_from_slice(b"\x7fELF\x01\x02");
        h[28..32].copy_from_slice(&52u32.to_be_bytes());
        h[42..44].copy_from_slice(&32u16.to_be_bytes());
        h[44..46].copy_from_slice(&1u16.to_be_bytes());
        h[52..56].copy_from_slice(&1u32.to_be_bytes());
        h[56..60].copy_from_slice(&0x1000u32.to_be_bytes());
        h[60..64].copy_from_slice(&0x10_1000u32.to_be_bytes());
        h[68..72].copy_from_slice(&0x2000u32.to_be_bytes());
        let segs = elf_segments(&h);
        assert_eq!(segs.len(), 1);
        let l = Legacy {
            segments: segs,
            ..Legacy::default()
        };
        assert_eq!(l.offset_of(0x10_1800, 16), Some(0x1800));
        assert_eq!(l.offset_of(0x10_2ff8, 16), None);
        assert_eq!(l.offset_of(u64::MAX, 16), None);
    }

    #[test]
    fn elf_segment_table() {
        let bin = go116(true, false, true);
        let segs = elf_segments(&bin[..CHUNK]);
        assert_eq!(segs.len(), 2);
        assert_eq!((segs[1].offset, segs[1].vaddr), (DATA_OFF as u64, DATA_VADDR));
        assert!(elf_segments(&bin[..100]).is_empty());
        assert!(elf_segments(b"MZ\x90\x00").is_empty());
    }
}
