//! pprof goroutine labels (`g.labels`, reference §2.5).
//!
//! Quirks: Go 1.19–1.23 store `*labelMap` where `labelMap` is a `map[string]string` (classic
//! hmap: `{count, flags, B, noverflow, hash0, buckets, oldbuckets, …}`, buckets of 8 slots:
//! `tophash[8]`, 8 keys, 8 values, overflow pointer; a slot is used when tophash ≥ 5); Go
//! 1.24+ store a pointer to `{list []label{key, value string}}` (1.26+: `label.Set{List}`, same
//! memory). A map that is mid-growth is read from its new buckets only. Capped at
//! [`MAX_LABELS`] entries, 2^16 buckets and 4 KiB per string.

use memcache::{MemError, MemoryExt, MemorySource};

/// Most labels read per goroutine.
pub const MAX_LABELS: usize = 1000;
const MAX_STRING: u64 = 4096;

fn read_string<M: MemorySource>(mem: &mut M, ptr: u64, len: u64) -> Result<String, MemError> {
    if len == 0 {
        return Ok(String::new());
    }
    let mut b = vec![0u8; len.min(MAX_STRING) as usize];
    mem.read_exact(ptr, &mut b)?;
    Ok(String::from_utf8_lossy(&b).into_owned())
}

fn word(b: &[u8], off: usize) -> u64 {
    crate::pclntab::u64_at(b, off).unwrap_or(0)
}

/// Reads the labels at `g.labels` (`0` = none) for Go 1.`minor`.
pub fn read_labels<M: MemorySource>(
    mem: &mut M,
    minor: u32,
    labels: u64,
) -> Result<Vec<(String, String)>, MemError> {
    if labels == 0 {
        return Ok(Vec::new());
    }
    if minor >= 24 {
        let mut hdr = [0u8; 24];
        mem.read_exact(labels, &mut hdr)?;
        let (ptr, len) = (word(&hdr, 0), word(&hdr, 8));
        let n = (len as usize).min(MAX_LABELS);
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut raw = vec![0u8; n * 32];
        mem.read_exact(ptr, &mut raw)?;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let e = &raw[i * 32..i * 32 + 32];
            out.push((
                read_string(mem, word(e, 0), word(e, 8))?,
                read_string(mem, word(e, 16), word(e, 24))?,
            ));
        }
        return Ok(out);
    }
    // Go ≤ 1.23: *labelMap → hmap pointer.
    let hmap = mem.read_u64(labels)?;
    if hmap == 0 {
        return Ok(Vec::new());
    }
    let mut h = [0u8; 48];
    mem.read_exact(hmap, &mut h)?;
    let count = word(&h, 0) as usize;
    let b = h[9];
    let buckets = word(&h, 16);
    if count == 0 || buckets == 0 || b > 16 {
        return Ok(Vec::new());
    }
    const BUCKET: usize = 8 + 8 * 16 + 8 * 16 + 8;
    let mut out = Vec::new();
    let mut budget = 1usize << 17; // buckets visited, including overflow chains
    for i in 0..(1u64 << b) {
        let mut bucket = buckets + i * BUCKET as u64;
        while bucket != 0 && budget > 0 && out.len() < count.min(MAX_LABELS) {
            budget -= 1;
            let mut raw = vec![0u8; BUCKET];
            mem.read_exact(bucket, &mut raw)?;
            for slot in 0..8 {
                if raw[slot] < 5 {
                    continue;
                }
                let k = 8 + slot * 16;
                let v = 8 + 128 + slot * 16;
                out.push((
                    read_string(mem, word(&raw, k), word(&raw, k + 8))?,
                    read_string(mem, word(&raw, v), word(&raw, v + 8))?,
                ));
            }
            bucket = word(&raw, BUCKET - 8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use memcache::SnapshotMemory;

    #[test]
    fn slice_form() {
        let mut mem = SnapshotMemory::new();
        let mut hdr = Vec::new();
        for w in [0x2000u64, 1, 1] {
            hdr.extend_from_slice(&w.to_le_bytes());
        }
        mem.add_region(0x1000, hdr);
        let mut e = Vec::new();
        for w in [0x3000u64, 1, 0x3001, 2] {
            e.extend_from_slice(&w.to_le_bytes());
        }
        mem.add_region(0x2000, e);
        mem.add_region(0x3000, b"k42".to_vec());
        assert_eq!(
            read_labels(&mut mem, 24, 0x1000).unwrap(),
            vec![("k".to_string(), "42".to_string())]
        );
        // A billion labels: capped, and the unreadable tail is an error, not a hang.
        mem.patch(0x1008, &1_000_000_000u64.to_le_bytes());
        assert!(read_labels(&mut mem, 24, 0x1000).is_err());
    }

    #[test]
    fn map_form() {
        let mut mem = SnapshotMemory::new();
        mem.add_region(0x1000, 0x1100u64.to_le_bytes().to_vec());
        let mut h = vec![0u8; 48];
        h[0] = 1; // count
        h[9] = 0; // B
        h[16..24].copy_from_slice(&0x2000u64.to_le_bytes());
        mem.add_region(0x1100, h);
        let mut bucket = vec![0u8; 272];
        bucket[3] = 77; // tophash of slot 3
        bucket[8 + 3 * 16..8 + 3 * 16 + 8].copy_from_slice(&0x3000u64.to_le_bytes());
        bucket[8 + 3 * 16 + 8] = 1;
        bucket[136 + 3 * 16..136 + 3 * 16 + 8].copy_from_slice(&0x3001u64.to_le_bytes());
        bucket[136 + 3 * 16 + 8] = 2;
        mem.add_region(0x2000, bucket);
        mem.add_region(0x3000, b"k42".to_vec());
        assert_eq!(
            read_labels(&mut mem, 21, 0x1000).unwrap(),
            vec![("k".to_string(), "42".to_string())]
        );
    }
}
