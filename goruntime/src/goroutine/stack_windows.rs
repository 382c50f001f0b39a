//! Stack words for many walks at once: the stacks of parked goroutines are read as one window
//! each, from the saved sp up, all windows of a group of goroutines in one batch (one iovec per
//! goroutine, into one buffer), and every walk then runs over its window. A walk that reads a
//! word of its own stack above its window is redone in a later round with a larger window; only
//! the goroutines that need it take that round. Reads outside the goroutine's stack (a signal
//! context on the signal stack) go to the memory the caller gave.
//!
//! Quirks: a parked goroutine's frames lie between its saved sp and `stack.hi` (the walk checks
//! every frame against `hi` before it reads the return address), so a window never reaches past
//! `hi`; a window that comes back short is unreadable from there on, not a reason for another
//! round; the rounds end at [`MAX_WINDOW`], past which a walk reads through the caller's memory.
//! Windows are not merged into longer reads: the kernel pins a page per iovec, but neighbouring
//! parked stacks lie 2 KiB apart with a window of about 300 bytes at the top of each, so one read
//! per pair of windows would copy four times the bytes (29 MB → about 115 MB at 100,000
//! goroutines) to save one pin a window; copying is already the larger part of the syscall.
//! The walks of a batch run on both cores (`halves`), each over its own window only: a walk
//! that reads outside its stack there is walked again afterwards, on the caller's thread.

use super::halves::map_with;
use super::walk_start::{walk_parked, Walk};
use super::Goroutine;
use crate::binary::GoBinary;
use crate::unwind::{PcCache, PcMemo};
use memcache::{MemError, MemorySource, ReadRequest};

/// The first window of a goroutine: this many bytes above its saved sp (less when its stack
/// ends sooner). A parked goroutine of a few frames uses a few hundred.
const FIRST_WINDOW: u64 = 1024;
/// The largest window; a deeper walk reads through the caller's memory.
pub const MAX_WINDOW: u64 = 64 * 1024;
/// Bytes of windows read in one batch (the buffer is reused across batches).
const BATCH_BYTES: u64 = 4 << 20;

/// One goroutine's window: `bytes` (what was readable of `len` requested) at `base`, inside its
/// stack `[base, hi)`. Records the first word of that stack it was asked for and lacked. Reads
/// outside the stack go to `inner`; a window without one (a walk on a second thread) fails them
/// and records that it did, so the walk is redone on the caller's thread.
struct Window<'a, M> {
    inner: Option<&'a mut M>,
    base: u64,
    len: u64,
    bytes: &'a [u8],
    hi: u64,
    missed: Option<u64>,
    outside: bool,
}

impl<M: MemorySource> MemorySource for Window<'_, M> {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        if addr < self.base || addr >= self.hi {
            return match self.inner.as_deref_mut() {
                Some(inner) => inner.read(addr, buf),
                None => {
                    self.outside = true;
                    Err(MemError::Unreadable { addr })
                }
            };
        }
        // base <= addr < hi.
        let off = addr.wrapping_sub(self.base);
        let end = off.saturating_add(buf.len() as u64);
        if end > self.len {
            self.missed.get_or_insert(addr);
            return Err(MemError::Unreadable { addr });
        }
        let Some(src) = self.bytes.get(off as usize..).filter(|s| !s.is_empty()) else {
            return Err(MemError::Unreadable { addr });
        };
        let n = src.len().min(buf.len());
        if let (Some(d), Some(s)) = (buf.get_mut(..n), src.get(..n)) {
            d.copy_from_slice(s);
        }
        Ok(n)
    }
}

/// What became of one walk over its window.
enum Outcome {
    /// Done: the frames to store.
    Walked(Walk),
    /// It needs the stack word at this address, above its window.
    Missed(u64),
    /// It read memory outside its stack: walk it again with the caller's memory.
    Outside,
}

/// Walks the parked goroutines `gs` (saved context in `pc`/`sp`/`bp`, stack bounds known), as
/// `walk_parked` does (to the first frame level `stop` shows, when given), reading their stacks
/// in windows (see the module doc) into `buf` (its old contents go; a buffer kept across calls
/// spares page faults). The walks of a batch run on both cores; the reads do not.
pub(super) fn walk_in_windows<M: MemorySource>(
    bin: &GoBinary,
    pcs: &PcMemo,
    mem: &mut M,
    gs: &mut [&mut Goroutine],
    buf: &mut Vec<u8>,
    stop: Option<u32>,
) {
    // (index into gs, window length)
    let mut todo: Vec<(usize, u64)> = gs
        .iter()
        .enumerate()
        .map(|(i, g)| (i, g.stack_hi.saturating_sub(g.sp).min(FIRST_WINDOW)))
        .collect();
    let mut deep: Vec<usize> = Vec::new();
    // Every pass takes at least one goroutine, and takes it either to its end or to a larger
    // window (at most MAX_WINDOW): bounded.
    while !todo.is_empty() {
        let mut bytes = 0u64;
        let take = todo
            .iter()
            .take_while(|&&(_, len)| {
                let first = bytes == 0;
                bytes = bytes.saturating_add(len);
                first || bytes <= BATCH_BYTES
            })
            .count();
        let batch: Vec<(usize, u64)> = todo.drain(..take).collect();
        let total: u64 = batch.iter().map(|&(_, len)| len).sum();
        buf.clear();
        buf.resize(total as usize, 0);
        // (index into gs, window length, offset of its window in buf, bytes got)
        let mut windows: Vec<(usize, u64, usize, usize)> = Vec::with_capacity(batch.len());
        {
            let mut reqs = Vec::with_capacity(batch.len());
            let mut rest = buf.as_mut_slice();
            for &(i, len) in &batch {
                let sp = gs.get(i).map_or(0, |g| g.sp);
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(len as usize);
                reqs.push(ReadRequest::new(sp, head));
                rest = tail;
            }
            if let Err(e) = mem.read_batch(&mut reqs) {
                log::debug!("stack windows: {e}");
            }
            let mut at = 0usize;
            for (&(i, len), r) in batch.iter().zip(&reqs) {
                windows.push((i, len, at, r.got));
                at = at.saturating_add(len as usize);
            }
        }
        let shared: &[&mut Goroutine] = gs;
        let window_bytes: &[u8] = buf;
        let outcomes = map_with(
            &windows,
            || PcCache::new(pcs),
            |pcs, _, &(i, len, from, got)| {
                let Some(g) = shared.get(i) else {
                    return Outcome::Outside;
                };
                let mut w = Window::<M> {
                    inner: None,
                    base: g.sp,
                    len,
                    bytes: window_bytes
                        .get(from..from.saturating_add(got))
                        .unwrap_or_default(),
                    hi: g.stack_hi,
                    missed: None,
                    outside: false,
                };
                let walk = walk_parked(bin, pcs, &mut w, g, stop);
                match (w.outside, w.missed.filter(|_| got as u64 == len)) {
                    (true, _) => Outcome::Outside,
                    (false, Some(missed)) => Outcome::Missed(missed),
                    (false, None) => Outcome::Walked(walk),
                }
            },
        );
        for (&(i, len, _, _), outcome) in windows.iter().zip(outcomes) {
            let Some(g) = gs.get_mut(i) else { continue };
            let missed = match outcome {
                Outcome::Walked(walk) => {
                    walk.store(g);
                    continue;
                }
                Outcome::Outside => {
                    deep.push(i);
                    continue;
                }
                Outcome::Missed(missed) => missed,
            };
            // missed >= base: the window grows to cover it, with room for the frames above.
            let need = missed.saturating_sub(g.sp).saturating_add(FIRST_WINDOW);
            let grown = need
                .max(len.saturating_mul(2))
                .min(g.stack_hi.saturating_sub(g.sp));
            if grown > MAX_WINDOW || grown <= len {
                deep.push(i);
            } else {
                todo.push((i, grown));
            }
        }
    }
    let pcs = &mut PcCache::new(pcs);
    for i in deep {
        if let Some(g) = gs.get_mut(i) {
            walk_parked(bin, pcs, mem, g, stop).store(g);
        }
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use memcache::SnapshotMemory;

    /// A window of `len` bytes asked for at 0x1000 (`bytes` of them read), in a stack that
    /// ends at 0x2000.
    fn window<'a>(
        inner: Option<&'a mut SnapshotMemory>,
        len: u64,
        bytes: &'a [u8],
    ) -> Window<'a, SnapshotMemory> {
        Window {
            inner,
            base: 0x1000,
            len,
            bytes,
            hi: 0x2000,
            missed: None,
            outside: false,
        }
    }

    #[test]
    fn window_serves_its_bytes_and_records_the_first_miss() {
        let mut mem = SnapshotMemory::new();
        mem.add_region(0x9000, vec![7u8; 64]);
        let bytes = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
        let mut w = window(Some(&mut mem), 16, &bytes);
        let mut b = [0u8; 8];
        assert_eq!(w.read(0x1008, &mut b), Ok(8));
        assert_eq!(b, [9, 10, 11, 12, 13, 14, 15, 16]);
        // Inside the stack, above the window: a miss, and the first one is kept.
        assert!(w.read(0x1010, &mut b).is_err());
        assert!(w.read(0x1800, &mut b).is_err());
        assert_eq!(w.missed, Some(0x1010));
        // Outside the stack: the caller's memory.
        assert_eq!(w.read(0x9000, &mut b), Ok(8));
        assert_eq!(b, [7; 8]);
    }

    #[test]
    fn window_without_memory_fails_reads_outside_the_stack_and_says_so() {
        let bytes = [5u8; 16];
        let mut w = window(None, 16, &bytes);
        let mut b = [0u8; 8];
        assert_eq!(w.read(0x1000, &mut b), Ok(8));
        assert!(!w.outside);
        assert_eq!(
            w.read(0x3000, &mut b),
            Err(MemError::Unreadable { addr: 0x3000 })
        );
        assert!(w.outside);
        assert_eq!(w.missed, None);
    }

    #[test]
    fn short_window_is_unreadable_not_a_miss() {
        let mut mem = SnapshotMemory::new();
        let bytes = [0u8; 8];
        let mut w = window(Some(&mut mem), 32, &bytes);
        let mut b = [0u8; 8];
        assert_eq!(w.read(0x1000, &mut b), Ok(8));
        assert!(w.read(0x1010, &mut b).is_err());
        assert_eq!(w.missed, None);
    }
}
