//! Reader for rpm's own "ndb" package database (`Packages.db`; SUSE Linux Enterprise and
//! openSUSE 15+), over bytes already in memory.
//!
//! Layout (all numbers little-endian u32):
//!
//! - a 32-byte header: magic `RpmP`, format version 0, generation, number of 4 KiB slot pages,
//!   then reserved words;
//! - right after it, filling the slot pages, 16-byte slots: magic `Slot`, package index (0 for
//!   a free slot), offset and length of the package's blob, both in 16-byte blocks;
//! - each blob: a 16-byte head (magic `BlbS`, package index, generation, length of the header
//!   blob), the rpm header blob, and a small tail (checksum, length, magic `BlbE`) padded to
//!   the block size. The checksum is not verified here; the head is.

/// `RpmP`.
const DB_MAGIC: u32 = u32::from_le_bytes(*b"RpmP");
/// `Slot`.
const SLOT_MAGIC: u32 = u32::from_le_bytes(*b"Slot");
/// `BlbS`.
const BLOB_MAGIC: u32 = u32::from_le_bytes(*b"BlbS");
/// Size of a slot page.
const SLOT_PAGE: usize = 4096;
/// Size of the database header and of one slot, blob head and block.
const DB_HEADER: usize = 32;
const SLOT: usize = 16;
const BLOB_HEAD: usize = 16;
const BLOCK: usize = 16;
/// Most slot pages accepted (rpm's own databases stay far below: 2048 pages are 524,286 slots).
const MAX_SLOT_PAGES: u32 = 2048;

/// The little-endian u32 at `at`, if inside `b`.
fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// Call `f` with (package index, header blob) for every used slot of the database in `bytes`,
/// in slot order. Errors name the problem (slot and package index included).
pub(super) fn for_each_blob(bytes: &[u8], f: &mut super::BlobSink<'_>) -> Result<(), String> {
    if bytes.len() < DB_HEADER {
        return Err(format!("{} bytes is too short for an NDB header", bytes.len()));
    }
    let magic = le32(bytes, 0).unwrap_or(0);
    if magic != DB_MAGIC {
        return Err(format!("not an rpm NDB database (magic {:02x?})", &bytes[0..4]));
    }
    let version = le32(bytes, 4).unwrap_or(0);
    if version != 0 {
        return Err(format!("unsupported NDB format version {version}"));
    }
    let slot_pages = le32(bytes, 12).unwrap_or(0);
    if slot_pages == 0 || slot_pages > MAX_SLOT_PAGES {
        return Err(format!("{slot_pages} slot pages (expected 1 to {MAX_SLOT_PAGES})"));
    }
    let slot_end = slot_pages as usize * SLOT_PAGE;
    if bytes.len() < slot_end {
        return Err(format!(
            "truncated: {slot_pages} slot pages need {slot_end} bytes, the file has {}",
            bytes.len()
        ));
    }
    for (i, slot) in bytes[DB_HEADER..slot_end].chunks_exact(SLOT).enumerate() {
        let field = |at| le32(slot, at).unwrap_or(0);
        if field(0) != SLOT_MAGIC {
            return Err(format!("slot {i} has a bad magic {:02x?}", &slot[0..4]));
        }
        let pkg = field(4);
        if pkg == 0 {
            continue;
        }
        let (off, count) = (field(8) as usize, field(12) as usize);
        let start = off * BLOCK;
        let end = start.saturating_add(count.saturating_mul(BLOCK));
        if start < slot_end || end > bytes.len() || count == 0 {
            return Err(format!(
                "package {pkg}: blocks {off} to {} lie outside the blob area (bytes {slot_end} to {})",
                off.saturating_add(count),
                bytes.len()
            ));
        }
        let area = &bytes[start..end];
        let head = |at| le32(area, at).unwrap_or(0);
        if area.len() < BLOB_HEAD || head(0) != BLOB_MAGIC {
            return Err(format!("package {pkg}: no blob head at byte {start}"));
        }
        if head(4) != pkg {
            return Err(format!("package {pkg}: its blob belongs to package {}", head(4)));
        }
        let len = head(12) as usize;
        let blob = area
            .get(BLOB_HEAD..BLOB_HEAD.saturating_add(len))
            .ok_or_else(|| format!("package {pkg}: blob of {len} bytes is longer than its {count} blocks"))?;
        f(pkg, blob)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analyzers::rpm::tests::{sample_headers, summary, SAMPLE_PACKAGES};
    use crate::analyzers::{AnalyzeError, FileFacts};
    use regscan_scanner_api::Package;

    /// Adler-32, as rpm checksums blobs (the reader ignores it; the file is written faithfully).
    fn adler32(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &x in data {
            a = (a + u32::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    }

    /// An NDB database with one slot page (or `slot_pages`), the blobs in the given slots
    /// (package index, blob), free slots elsewhere.
    pub(crate) fn build(slot_pages: u32, blobs: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = vec![0u8; slot_pages as usize * SLOT_PAGE];
        out[0..4].copy_from_slice(b"RpmP");
        out[8..12].copy_from_slice(&7u32.to_le_bytes());
        out[12..16].copy_from_slice(&slot_pages.to_le_bytes());
        out[16..20].copy_from_slice(&(blobs.len() as u32 + 1).to_le_bytes());
        let slots = (out.len() - DB_HEADER) / SLOT;
        for i in 0..slots {
            out[DB_HEADER + i * SLOT..][..4].copy_from_slice(b"Slot");
        }
        for (i, (pkg, blob)) in blobs.iter().enumerate() {
            let off = out.len() / BLOCK;
            let mut b = Vec::new();
            b.extend(b"BlbS");
            b.extend(pkg.to_le_bytes());
            b.extend(7u32.to_le_bytes());
            b.extend((blob.len() as u32).to_le_bytes());
            b.extend(blob);
            let sum = adler32(&b);
            b.extend(sum.to_le_bytes());
            b.extend((blob.len() as u32).to_le_bytes());
            b.extend(b"BlbE");
            while b.len() % BLOCK != 0 {
                b.push(0);
            }
            // Leave slot 0 free, like a deleted package.
            let slot = &mut out[DB_HEADER + (i + 1) * SLOT..][..SLOT];
            slot[4..8].copy_from_slice(&pkg.to_le_bytes());
            slot[8..12].copy_from_slice(&(off as u32).to_le_bytes());
            slot[12..16].copy_from_slice(&((b.len() / BLOCK) as u32).to_le_bytes());
            out.extend(b);
        }
        out
    }

    fn sample() -> Vec<u8> {
        let blobs: Vec<_> = sample_headers()
            .into_iter()
            .enumerate()
            .map(|(i, h)| (i as u32 + 1, h))
            .collect();
        build(1, &blobs)
    }

    fn run(bytes: &[u8]) -> Result<Vec<Package>, AnalyzeError> {
        match super::super::analyze_ndb("usr/lib/sysimage/rpm/Packages.db", &mut &bytes[..])? {
            FileFacts::Packages(p) => Ok(p),
            other => panic!("{other:?}"),
        }
    }

    fn err(bytes: &[u8]) -> String {
        let e = run(bytes).unwrap_err();
        assert!(matches!(e, AnalyzeError::Malformed { .. }), "{e:?}");
        e.to_string()
    }

    /// Byte offset of the `n`th slot.
    fn slot(n: usize) -> usize {
        DB_HEADER + n * SLOT
    }

    #[test]
    fn reads_packages() {
        let pkgs = run(&sample()).unwrap();
        assert_eq!(summary(&pkgs), SAMPLE_PACKAGES);
        assert!(pkgs
            .iter()
            .all(|p| crate::analyzers::rpm::pending_facts(&p.ecosystem) == Some(("", ""))
                && p.path == "usr/lib/sysimage/rpm/Packages.db"));
        assert!(run(&build(2, &[])).unwrap().is_empty());
        let two_pages = build(2, &[(9, sample_headers().remove(0))]);
        assert_eq!(run(&two_pages).unwrap()[0].name, "glibc");
    }

    #[test]
    fn bad_magic_and_header() {
        let mut bad = sample();
        bad[0] = b'X';
        assert!(err(&bad).contains("not an rpm NDB database"));
        assert!(err(b"RpmP").contains("too short"));
        let mut bad = sample();
        bad[4] = 1;
        assert!(err(&bad).contains("version 1"));
        let mut bad = sample();
        bad[12..16].copy_from_slice(&0u32.to_le_bytes());
        assert!(err(&bad).contains("0 slot pages"));
        let mut bad = sample();
        bad[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(err(&bad).contains("slot pages"));
        let mut bad = sample();
        bad[slot(3)] = b'x';
        assert!(err(&bad).contains("slot 3 has a bad magic"));
    }

    #[test]
    fn truncated_database() {
        let good = sample();
        let e = err(&good[..2000]);
        assert!(e.contains("truncated") && e.contains("Packages.db"), "{e}");
        let e = err(&good[..good.len() - 40]);
        assert!(e.contains("outside the blob area"), "{e}");
    }

    #[test]
    fn broken_slots_and_blobs() {
        let good = sample();
        // Blob offset inside the slot pages.
        let mut bad = good.clone();
        bad[slot(1) + 8..slot(1) + 12].copy_from_slice(&1u32.to_le_bytes());
        assert!(err(&bad).contains("outside the blob area"));
        // Huge block count.
        let mut bad = good.clone();
        bad[slot(1) + 12..slot(1) + 16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(err(&bad).contains("outside the blob area"));
        // Blob head of another package.
        let mut bad = good.clone();
        bad[slot(1) + 4..slot(1) + 8].copy_from_slice(&5u32.to_le_bytes());
        assert!(err(&bad).contains("belongs to package 1"));
        // Blob head magic destroyed.
        let mut bad = good.clone();
        bad[SLOT_PAGE] = 0;
        assert!(err(&bad).contains("no blob head"));
        // Blob longer than its blocks.
        let mut bad = good.clone();
        bad[SLOT_PAGE + 12..SLOT_PAGE + 16].copy_from_slice(&100_000u32.to_le_bytes());
        assert!(err(&bad).contains("longer than its"));
        // A header that does not parse names its package.
        let mut bad = good;
        bad[SLOT_PAGE + BLOB_HEAD..SLOT_PAGE + BLOB_HEAD + 4].copy_from_slice(&[0; 4]);
        assert!(err(&bad).contains("header 1"));
    }
}
