//! A read-only map of a file (the core, or a program file it names) whose resident pages are
//! bounded: reads copy out of the map, and once the reads since the last release have touched
//! more than the budget, the whole map is released (`MADV_DONTNEED`) before the next copy. The
//! file stays mapped, so a read is a copy, and gostub's RSS does not grow with the core's size.
//!
//! Kernel quirks met here:
//! * Touched file-backed pages count in RSS for as long as they are mapped, even though they
//!   are clean page cache. `MADV_DONTNEED` on a private read-only file map drops them from the
//!   page tables (not from the page cache): the next read of them is a minor fault that maps the
//!   same bytes again, so nothing a caller holds changes.
//! * A read fault on a file map maps the pages around it that are already in the page cache
//!   ("fault-around", `fault_around_bytes`, 64 KiB by default, aligned on that size). Touched
//!   memory is therefore counted in aligned 64 KiB chunks of the map's addresses, not in bytes.

use std::cell::RefCell;
use std::fs::File;
use std::path::Path;

use memmap2::{Mmap, UncheckedAdvice};

/// The kernel's default fault-around window.
const CHUNK_SHIFT: u32 = 16;

/// Resident bytes a core's map may hold before it is released: 16 MiB. A release costs one
/// `madvise` and, later, a minor fault per 64 KiB chunk read again (about a microsecond), so a
/// small budget is cheap: listing 100,000 goroutines touches some 250 MB of their core.
pub const CORE_BUDGET: usize = 16 << 20;

/// The same for a program file the core names (its text and read-only data): 8 MiB.
pub const FILE_BUDGET: usize = 8 << 20;

/// Which chunks of the map were touched since the last release.
struct Touched {
    bits: Vec<u64>,
    count: usize,
    releases: u64,
}

pub struct ResidentMap {
    map: Mmap,
    /// The map's first address, rounded down to a chunk: chunk `i` starts at `base + i << 16`.
    base: usize,
    budget_chunks: usize,
    touched: RefCell<Touched>,
}

impl ResidentMap {
    /// Maps `path` read-only (an empty file maps to nothing); at most `budget` bytes of it stay
    /// resident.
    pub fn open(path: &Path, budget: usize) -> std::io::Result<ResidentMap> {
        let file = File::open(path)?;
        // SAFETY: the map is read-only and private to this process. A file truncated by someone
        // else while mapped would raise SIGBUS on access: cores and programs are not rewritten
        // while a debugger reads them, which is what gdb and lldb assume as well.
        let map = unsafe { Mmap::map(&file) }?;
        let start = map.as_ptr() as usize;
        let base = start >> CHUNK_SHIFT;
        let last = start.saturating_add(map.len().saturating_sub(1)) >> CHUNK_SHIFT;
        let chunks = last - base + 1;
        Ok(ResidentMap {
            map,
            base,
            budget_chunks: (budget >> CHUNK_SHIFT).max(1),
            touched: RefCell::new(Touched {
                bits: vec![0; chunks.div_ceil(64)],
                count: 0,
                releases: 0,
            }),
        })
    }

    /// The whole file, for parsing its headers and notes when it is opened (not counted).
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Copies the file's bytes at `at` into `out`, as many as there are; returns the count.
    pub fn copy(&self, at: usize, out: &mut [u8]) -> usize {
        let Some(avail) = self.map.len().checked_sub(at) else {
            return 0;
        };
        let n = avail.min(out.len());
        if n == 0 {
            return 0;
        }
        self.touch(at, n);
        out[..n].copy_from_slice(&self.map[at..at + n]);
        n
    }

    /// How often the map was released (for tests).
    #[cfg(test)]
    fn releases(&self) -> u64 {
        self.touched.borrow().releases
    }

    /// Counts the chunks `at..at + n` covers, releasing the map first when they would push the
    /// count past the budget.
    fn touch(&self, at: usize, n: usize) {
        let addr = self.map.as_ptr() as usize + at;
        let first = (addr >> CHUNK_SHIFT) - self.base;
        let last = ((addr + n - 1) >> CHUNK_SHIFT) - self.base;
        let mut t = self.touched.borrow_mut();
        let new = (first..=last)
            .filter(|&c| t.bits[c / 64] & (1u64 << (c % 64)) == 0)
            .count();
        if new == 0 {
            return;
        }
        if t.count + new > self.budget_chunks {
            // SAFETY: DONTNEED on a private, never-written file map only unmaps clean pages of
            // the page cache; their contents are the file's on the next access, so no reference
            // into the map sees a change.
            if let Err(e) = unsafe { self.map.unchecked_advise(UncheckedAdvice::DontNeed) } {
                log::debug!("core: madvise(MADV_DONTNEED) of a file map failed: {e}");
            }
            t.bits.iter_mut().for_each(|w| *w = 0);
            t.count = 0;
            t.releases += 1;
        }
        for c in first..=last {
            let (w, bit) = (c / 64, 1u64 << (c % 64));
            if t.bits[w] & bit == 0 {
                t.bits[w] |= bit;
                t.count += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss_file_kb() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("RssFile:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Issue 14 item 7: reading every page of a file larger than the budget leaves at most the
    /// budget (and one fault-around chunk) resident, and every byte reads back right.
    #[test]
    fn resident_pages_stay_within_the_budget() {
        let path = std::env::temp_dir().join(format!("gostub-resident-{}", std::process::id()));
        let size = 48usize << 20;
        let bytes: Vec<u8> = (0..size).map(|i| (i / 4096) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        drop(bytes);
        let budget = 8usize << 20;
        let m = ResidentMap::open(&path, budget).unwrap();
        assert_eq!(m.bytes().len(), size);
        let before = rss_file_kb();
        let mut peak = 0;
        let mut page = [0u8; 16];
        for p in 0..size / 4096 {
            assert_eq!(m.copy(p * 4096 + 100, &mut page), 16);
            assert_eq!(page, [p as u8; 16]);
            peak = peak.max(rss_file_kb().saturating_sub(before));
        }
        // Slack for the test binary's own text, which other tests running alongside page in.
        assert!(
            peak <= (budget as u64 + (4 << 20)) / 1024,
            "file-backed RSS grew by {peak} kB with a budget of {} kB",
            budget / 1024
        );
        assert!(m.releases() >= 5, "released {} times", m.releases());
        assert_eq!(m.copy(size - 4, &mut page), 4);
        assert_eq!(m.copy(size, &mut page), 0);
        let _ = std::fs::remove_file(path);
    }
}
