//! Listing: from `runtime.allgs` to decoded goroutines, a chunk of g structs at a time, reusing
//! what an earlier stop of the same process decoded for every g whose bytes did not change.
//!
//! Quirks: the g structs and their Ms are fetched in batches (one `read_batch` per chunk, one
//! prefetch of the Ms), so a listing costs a handful of reads however many goroutines there are;
//! running and syscall goroutines are never reused (their registers live in the thread).

use super::decode::{decode_g_cached, le_u64, m_read_size, read_m, wait_minutes, MInfo};
use super::halves::map_with;
use super::metered::Metered;
use super::walk_start::unwind_goroutines;
use super::{Depth, GStatus, Goroutine, ListOptions, ThreadState};
use crate::allgs::{read_allg_pointers_noting, StructReads};
use crate::binary::GoBinary;
use crate::error::GoError;
use crate::memo::ProcessMemo;
use crate::unwind::PcCache;
use memcache::{MemoryExt, MemorySource};
use rustc_hash::FxHashMap;
use std::collections::HashMap;

/// g structs read and decoded together.
const G_STRUCT_CHUNK: usize = 4096;

/// Lists goroutines (ordered by goid; dead gs skipped).
pub fn list_goroutines<M: MemorySource>(
    bin: &GoBinary,
    mem: &mut M,
    threads: &[ThreadState],
) -> Result<Vec<Goroutine>, GoError> {
    list_goroutines_with(bin, mem, threads, &ListOptions::default())
}

/// [`list_goroutines`] with explicit options.
pub fn list_goroutines_with<M: MemorySource>(
    bin: &GoBinary,
    mem: &mut M,
    threads: &[ThreadState],
    opts: &ListOptions,
) -> Result<Vec<Goroutine>, GoError> {
    let memo = ProcessMemo::default();
    list_goroutines_since(bin, &memo, mem, threads, opts, Vec::new())
}

/// Like [`list_goroutines_with`], reusing `previous` (the list of an earlier stop of the same
/// process): a goroutine whose g struct is byte for byte what it was, and that was not running,
/// keeps what was decoded and unwound for it. A parked goroutine's frames cannot change while its
/// g does not: only the goroutine itself, or the runtime moving its stack (which rewrites the g's
/// stack bounds and saved sp), writes its return addresses. `memo` is the process's (see
/// [`ProcessMemo`]).
pub fn list_goroutines_since<M: MemorySource>(
    bin: &GoBinary,
    memo: &ProcessMemo,
    mem: &mut M,
    threads: &[ThreadState],
    opts: &ListOptions,
    previous: Vec<Goroutine>,
) -> Result<Vec<Goroutine>, GoError> {
    let mem = &mut Metered::new(mem);
    let loc = bin
        .allgs_location()
        .ok_or(GoError::Missing("runtime.allgs"))?;
    let ptrs = read_allg_pointers_noting(mem, loc, &mut |array| {
        if let Ok(mut seen) = memo.allgs_array.lock() {
            *seen = Some(array);
        }
    })?;
    let list = goroutines_at(bin, memo, mem, &ptrs, threads, opts, previous)?;
    mem.log(format_args!("listed {} goroutines", list.len()));
    Ok(list)
}

/// The memory a listing will read, as the last listing (`previous`) found it: the allgs header
/// and array, each g struct and its M. Prefetched together with a stop's first read, a listing
/// that finds little changed needs no further batch (unchanged goroutines keep their frames, so
/// their stacks are not read at all). `with_allgs` false leaves allgs out, for a rebuild from
/// known g structs only. Past `HINTED_GOROUTINES` goroutines only allgs is hinted (big listings
/// read in bulk anyway).
pub fn listing_hints(
    bin: &GoBinary,
    memo: &ProcessMemo,
    previous: &[Goroutine],
    with_allgs: bool,
) -> Vec<(u64, u64)> {
    const HINTED_GOROUTINES: usize = 2048;
    let mut out = Vec::new();
    if with_allgs {
        if let Some(loc) = bin.allgs_location() {
            out.push((loc.allgs, 24));
            out.push((loc.allglen, 8));
        }
        if let Some(array) = memo.allgs_array.lock().ok().and_then(|seen| *seen) {
            out.push(array);
        }
    }
    if previous.len() <= HINTED_GOROUTINES {
        let l = bin.layout();
        for g in previous {
            out.push((g.g_addr, l.g_read_size()));
            if g.m_addr != 0 {
                out.push((g.m_addr, m_read_size(l)));
            }
        }
    }
    out
}

/// The goroutines whose g structs are at `ptrs` (dead ones left out), decoded as
/// [`list_goroutines_since`] decodes them, reusing `previous` for unchanged ones.
pub fn goroutines_at<M: MemorySource>(
    bin: &GoBinary,
    memo: &ProcessMemo,
    mem: &mut M,
    ptrs: &[u64],
    threads: &[ThreadState],
    opts: &ListOptions,
    previous: Vec<Goroutine>,
) -> Result<Vec<Goroutine>, GoError> {
    let reusable = |g: &Goroutine| {
        g.error.is_none() && !matches!(g.status, GStatus::Running | GStatus::Syscall)
    };
    let mut index: FxHashMap<u64, usize> = FxHashMap::default();
    index.reserve(previous.len());
    index.extend(previous.iter().enumerate().map(|(i, g)| (g.g_addr, i)));
    // The list is built in `previous`'s own storage: a goroutine that did not change stays where
    // it is, one that changed takes its old slot, a new one is pushed, and what was not seen
    // again is dropped at the end. A listing of 100,000 goroutines never holds two lists.
    let mut out = previous;
    let mut seen = vec![false; out.len()];
    out.reserve(ptrs.len().saturating_sub(out.len()));
    let place = |out: &mut Vec<Goroutine>, seen: &mut Vec<bool>, slot: Option<usize>, g| match slot
        .and_then(|i| Some((out.get_mut(i)?, seen.get_mut(i)?)))
    {
        Some((old, seen)) if !*seen => {
            *old = g;
            *seen = true;
        }
        _ => {
            out.push(g);
            seen.push(true);
        }
    };
    let l = bin.layout().clone();
    let mut m_cache: HashMap<u64, Option<MInfo>> = HashMap::new();
    // A chunk of g structs at a time: their bytes are dropped once decoded, so a program with
    // 100,000 goroutines never holds them all at once.
    let g_read = l.g_read_size();
    let mut reused = 0usize;
    let mut raw = StructReads::with_buffer(memo.take_scratch());
    for chunk in ptrs.chunks(G_STRUCT_CHUNK) {
        raw.read(mem, chunk, g_read as usize)?;
        // The Ms the goroutines sit on are read one by one below; fetch them in one batch first.
        let m_span = m_read_size(&l);
        let mut ms: Vec<u64> = (0..chunk.len())
            .filter_map(|i| le_u64(raw.get(i), l.g_m))
            .filter(|&m| m != 0)
            .collect();
        ms.sort_unstable();
        ms.dedup();
        let m_ranges: Vec<(u64, u64)> = ms.iter().map(|&m| (m, m_span)).collect();
        if let Err(e) = mem.prefetch(&m_ranges) {
            log::debug!("m prefetch: {e}");
        }
        // Hashing and decoding run on both cores; what they need of memory (Ms, labels)
        // is read below, on this thread. A g that looks reusable is not decoded here.
        let decoded = map_with(
            chunk,
            || PcCache::new(&memo.pcs),
            |pcs, i, &addr| {
                let bytes = raw.get(i);
                if addr == 0 {
                    return (0, None);
                }
                let raw_hash = hash_bytes(bytes);
                let reuse = index
                    .get(&addr)
                    .and_then(|&slot| out.get(slot))
                    .is_some_and(|prev| reusable(prev) && prev.raw_hash == raw_hash);
                let g = (!reuse).then(|| decode_g_cached(bin, pcs, &l, addr, bytes, opts));
                (raw_hash, g)
            },
        );
        for ((i, &addr), (raw_hash, decoded)) in chunk.iter().enumerate().zip(decoded) {
            let bytes = raw.get(i);
            if addr == 0 {
                continue;
            }
            let slot = index.get(&addr).copied();
            if let Some(i) = slot {
                if let (Some(prev), Some(seen)) = (out.get_mut(i), seen.get_mut(i)) {
                    if !*seen && reusable(prev) && prev.raw_hash == raw_hash {
                        prev.wait_minutes =
                            wait_minutes(prev.status, prev.waitsince, opts.now_nanotime);
                        *seen = true;
                        reused = reused.saturating_add(1);
                        continue;
                    }
                }
            }
            // Not decoded above only when it looked reusable and was not (a g listed twice).
            let decoded = decoded.unwrap_or_else(|| {
                decode_g_cached(bin, &mut PcCache::new(&memo.pcs), &l, addr, bytes, opts)
            });
            let mut g = match decoded {
                Ok(g) => g,
                Err(e) => {
                    let g = Goroutine {
                        g_addr: addr,
                        error: Some(Box::new(e)),
                        ..Default::default()
                    };
                    place(&mut out, &mut seen, slot, g);
                    continue;
                }
            };
            if g.status.is_dead() {
                continue;
            }
            g.raw_hash = raw_hash;
            if g.m_addr != 0 {
                let mi = *m_cache
                    .entry(g.m_addr)
                    .or_insert_with(|| read_m(mem, &l, g.m_addr));
                if let Some(mi) = mi {
                    g.m_id = Some(mi.id);
                    if mi.curg == addr {
                        g.thread = threads
                            .iter()
                            .find(|t| t.tid as i64 as u64 == mi.procid)
                            .map(|t| t.tid);
                    }
                }
            }
            let labels_ptr = le_u64(bytes, l.g_labels).unwrap_or(0);
            if labels_ptr != 0 {
                match crate::labels::read_labels(mem, bin.version().minor, labels_ptr) {
                    Ok(v) => g.labels = v,
                    Err(e) => log::debug!("goroutine {}: labels unreadable: {e}", g.goid),
                }
            }
            place(&mut out, &mut seen, slot, g);
        }
    }
    // `retain` visits every element once, in order.
    let mut kept = seen.into_iter();
    out.retain(|_| kept.next().unwrap_or(false));
    memo.put_scratch(raw.into_buffer());
    if opts.unwind {
        let mut all: Vec<&mut Goroutine> = out.iter_mut().collect();
        unwind_goroutines(bin, memo, mem, &mut all, threads, Depth::Full);
    }
    sort_by_goid(&mut out);
    log::debug!(
        "{reused} of {} goroutines reused from the last stop",
        out.len()
    );
    Ok(out)
}

/// The g structs the threads are running now: each thread's current g (from TLS) and, when
/// that is a system stack's g, its M's user goroutine (`m.curg`). Cheap: two small reads per
/// thread, where a full listing reads every g.
pub fn running_g_addrs<M: MemorySource>(
    bin: &GoBinary,
    mem: &mut M,
    threads: &[ThreadState],
) -> Vec<u64> {
    let l = bin.layout();
    let mut out = Vec::new();
    for t in threads {
        let Ok(g) = crate::tls::current_g(mem, t.fs_base) else {
            continue;
        };
        if g == 0 {
            continue;
        }
        out.push(g);
        let curg = mem.read_u64(g.wrapping_add(l.g_m)).and_then(|m| {
            if m == 0 {
                Ok(0)
            } else {
                mem.read_u64(m.wrapping_add(l.m_curg))
            }
        });
        if let Some(curg) = curg.ok().filter(|&c| c != 0 && c != g) {
            out.push(curg);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Sorts `list` by goid (then g address) in place. allgs is mostly in goid order already, and a
/// goroutine is a few hundred bytes: the keys are sorted, and then each goroutine out of place
/// moves along its cycle of the permutation, once. A few goroutines out of order shift all those
/// between (at 100,000 goroutines about 12 descents move nearly all of them).
fn sort_by_goid(list: &mut [Goroutine]) {
    // One pass over the list (cold: a goroutine is a few hundred bytes, so each key is a cache
    // miss) takes the keys and sees whether they are sorted already.
    let mut keys: Vec<(u64, u64, usize)> = list
        .iter()
        .enumerate()
        .map(|(i, g)| (g.goid, g.g_addr, i))
        .collect();
    if keys.is_sorted() {
        return;
    }
    keys.sort_unstable();
    // from[k]: where the goroutine that belongs at k is now.
    let mut from: Vec<usize> = keys.into_iter().map(|(_, _, i)| i).collect();
    for start in 0..from.len() {
        // Each cycle of the permutation is followed once with one goroutine held out: every
        // goroutine out of place is moved once (a swap would copy it three times).
        if from.get(start) == Some(&start) {
            continue;
        }
        let Some(held) = list.get_mut(start).map(std::mem::take) else {
            continue;
        };
        let mut k = start;
        // Invariant: position k is empty (its goroutine moved on or is held).
        loop {
            let src = from
                .get_mut(k)
                .map_or(start, |slot| std::mem::replace(slot, k));
            if src == start {
                if let Some(slot) = list.get_mut(k) {
                    *slot = held;
                }
                break;
            }
            let Some(moved) = list.get_mut(src).map(std::mem::take) else {
                break;
            };
            if let Some(slot) = list.get_mut(k) {
                *slot = moved;
            }
            k = src;
        }
    }
}

/// A fingerprint of a g struct's bytes, to see that a goroutine did not change between stops.
fn hash_bytes(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(bytes);
    h.finish()
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn sorting_by_goid_moves_each_goroutine_to_its_place() {
        let g = |goid, g_addr| Goroutine {
            goid,
            g_addr,
            ..Goroutine::default()
        };
        let mut list = vec![
            g(5, 1),
            g(1, 2),
            g(3, 3),
            g(2, 4),
            g(4, 5),
            g(3, 0),
            g(9, 6),
        ];
        sort_by_goid(&mut list);
        let keys: Vec<(u64, u64)> = list.iter().map(|g| (g.goid, g.g_addr)).collect();
        assert_eq!(
            keys,
            [(1, 2), (2, 4), (3, 0), (3, 3), (4, 5), (5, 1), (9, 6)]
        );
        // A shuffled list of 1,000 comes out as a sort of its keys does.
        let mut x = 7u64;
        let mut list: Vec<Goroutine> = (0..1000)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                g(x >> 54, i)
            })
            .collect();
        let mut want: Vec<(u64, u64)> = list.iter().map(|g| (g.goid, g.g_addr)).collect();
        want.sort_unstable();
        sort_by_goid(&mut list);
        let got: Vec<(u64, u64)> = list.iter().map(|g| (g.goid, g.g_addr)).collect();
        assert_eq!(got, want);
    }
}
