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
/// A 1.24+ `label{key, value string}`.
const LABEL: usize = 32;
/// A ≤1.23 `map[string]string` bucket: `tophash[8]`, 8 keys, 8 values, overflow pointer.
const BUCKET: usize = 8 + 8 * 16 + 8 * 16 + 8;

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
        // n <= MAX_LABELS: the size cannot overflow.
        let mut raw = vec![0u8; n.saturating_mul(LABEL)];
        mem.read_exact(ptr, &mut raw)?;
        let mut out = Vec::with_capacity(n);
        for e in raw.chunks_exact(LABEL) {
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
    let b = h.get(9).copied().unwrap_or(0);
    let buckets = word(&h, 16);
    if count == 0 || buckets == 0 || b > 16 {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut budget = 1usize << 17; // buckets visited, including overflow chains
    let mut raw = [0u8; BUCKET];
    for i in 0..(1u64 << b) {
        // Buckets are contiguous; an array that would wrap the address space ends the map.
        let Some(mut bucket) = i
            .checked_mul(BUCKET as u64)
            .and_then(|off| buckets.checked_add(off))
        else {
            break;
        };
        while bucket != 0 && budget > 0 && out.len() < count.min(MAX_LABELS) {
            budget = budget.saturating_sub(1);
            mem.read_exact(bucket, &mut raw)?;
            let (tophash, slots) = raw.split_at(8);
            let (keys, values) = slots.split_at(8 * 16);
            for ((&top, k), v) in tophash
                .iter()
                .zip(keys.chunks_exact(16))
                .zip(values.chunks_exact(16))
            {
                if top < 5 {
                    continue;
                }
                out.push((
                    read_string(mem, word(k, 0), word(k, 8))?,
                    read_string(mem, word(v, 0), word(v, 8))?,
                ));
            }
            bucket = word(&raw, BUCKET.saturating_sub(8));
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
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

    /// `labels.rs:75` computed `buckets + i * BUCKET` unchecked: a bucket array at the top of the
    /// address space overflowed once the first bucket had yielded every label.
    #[test]
    fn labels_bucket_array_at_the_top_of_memory_does_not_overflow() {
        let mut mem = SnapshotMemory::new();
        mem.add_region(0x1000, 0x1100u64.to_le_bytes().to_vec());
        let top = u64::MAX - 0xfff;
        let mut h = vec![0u8; 48];
        h[0] = 1; // count: bucket 0 has it, the other buckets are only counted through
        h[9] = 16; // B
        h[16..24].copy_from_slice(&top.to_le_bytes());
        mem.add_region(0x1100, h);
        let mut bucket = vec![0u8; 272];
        bucket[0] = 77;
        mem.add_region(top, bucket);
        assert_eq!(read_labels(&mut mem, 21, 0x1000).unwrap().len(), 1);
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
