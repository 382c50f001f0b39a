//! The page cache: 4 KiB pages of target memory in an LRU bounded by a page count, with negative
//! entries for unreadable pages, batched fetching of missing pages, and invalidation rules for a
//! debugger that stops and resumes its target.
//!
//! Rules:
//! - A read looks up every page it needs; all missing pages (of all requests of a batch) are fetched
//!   in one `read_batch` of the source, as runs of contiguous pages.
//! - A page is cached with its readable prefix: a whole page, part of a page (a snapshot region that
//!   ends mid-page), or nothing (a negative entry). A read stops at the end of the readable prefix.
//!   The source is assumed to be readable in that shape, which holds for live processes (readability
//!   is per page) and for snapshots whose regions start on page boundaries.
//! - When a fetched run is unreadable from some page on, the pages after that page that a request
//!   still needs are fetched in a further batch ("continue after the faulting page").
//! - Reads are capped at [`MAX_READ_LEN`] bytes, so a hostile length never sizes an allocation.
//! - [`invalidate_volatile`](PageCache::invalidate_volatile) at every resume keeps only whole pages
//!   inside immutable file mappings; [`invalidate_all`](PageCache::invalidate_all) when the mappings
//!   change; [`note_write`](PageCache::note_write) after every write the stub makes.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;

use lru::LruCache;

use crate::addr::{last_byte, offset_in_page, page_addr, page_of, PageSpan, PAGE_SIZE};
use crate::batch::page_runs;
use crate::{source::read_through_batch, MemError, MemorySource, ReadRequest};

/// Default bound of the cache: 8192 pages, 32 MiB of target memory (a stop reads a few hundred
/// pages; listing 100,000 goroutines touches one stack page each and cycles through the rest).
pub const DEFAULT_MAX_PAGES: usize = 8192;

/// A batch of more than this many bytes (the g structs of thousands of goroutines) goes straight
/// to the source, read into the callers' buffers, instead of through cached pages: it is one-off
/// data, and copying it through the cache would cost more than it saves and evict the pages that
/// are read again (stacks, code).
pub const BULK_READ_BYTES: usize = 256 * 1024;

/// Longest read served: 1 MiB. Longer reads return at most this many bytes (a short read).
pub const MAX_READ_LEN: usize = 1 << 20;

/// Counters of the cache's work.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Pages served from the cache (including negative entries).
    pub hits: u64,
    /// Pages served that had to be fetched from the source.
    pub misses: u64,
    /// Pages requested from the source (reads and prefetches).
    pub pages_fetched: u64,
    /// `read_batch` calls made on the source.
    pub batches: u64,
    /// Bytes returned to callers.
    pub bytes_served: u64,
}

/// The readable prefix of a page: `PAGE_SIZE` bytes, fewer, or none (a negative entry).
type Page = Box<[u8]>;

/// Pages fetched during one operation, kept apart from the LRU until the operation has used them
/// (so a read larger than the cache still assembles correctly).
type Fetched = BTreeMap<u64, Page>;

/// A page cache over a [`MemorySource`].
pub struct PageCache<S: MemorySource> {
    source: S,
    pages: LruCache<u64, Page>,
    /// Sorted, merged, half-open ranges of immutable mappings.
    immutable: Vec<(u64, u64)>,
    last_stop: CacheStats,
    total: CacheStats,
}

impl<S: MemorySource> PageCache<S> {
    /// A cache of at most `max_pages` pages (at least 1) over `source`.
    pub fn new(source: S, max_pages: usize) -> Self {
        let cap = NonZeroUsize::new(max_pages).unwrap_or(NonZeroUsize::MIN);
        PageCache {
            source,
            pages: LruCache::new(cap),
            immutable: Vec::new(),
            last_stop: CacheStats::default(),
            total: CacheStats::default(),
        }
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    /// The source, for writes. Call [`note_write`](Self::note_write) after writing through it.
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    /// The page bound given at construction.
    pub fn max_pages(&self) -> usize {
        self.pages.cap().get()
    }

    /// Pages (including negative entries) currently cached.
    pub fn cached_pages(&self) -> usize {
        self.pages.len()
    }

    /// Starts the figures of a new stop; [`stats_total`](Self::stats_total) keeps counting.
    pub fn begin_stop(&mut self) {
        self.last_stop = CacheStats::default();
    }

    /// Figures since the last [`begin_stop`](Self::begin_stop).
    pub fn stats_last_stop(&self) -> CacheStats {
        self.last_stop
    }

    /// Figures since the cache was made.
    pub fn stats_total(&self) -> CacheStats {
        self.total
    }

    /// Sets the half-open `[start, end)` ranges of immutable file mappings (for example from
    /// [`immutable_file_ranges`](crate::immutable_file_ranges)). Whole pages inside them survive
    /// [`invalidate_volatile`](Self::invalidate_volatile).
    pub fn set_immutable_ranges(&mut self, mut ranges: Vec<(u64, u64)>) {
        ranges.retain(|&(start, end)| start < end);
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        self.immutable = merged;
    }

    /// Drops every page except whole pages of immutable mappings. Call at every resume.
    pub fn invalidate_volatile(&mut self) {
        let doomed: Vec<u64> = self
            .pages
            .iter()
            .filter(|(page, data)| data.len() < PAGE_SIZE || !self.is_immutable(**page))
            .map(|(page, _)| *page)
            .collect();
        for page in doomed {
            self.pages.pop(&page);
        }
    }

    /// Drops every page. Call when the mappings changed (exec, mmap, munmap, mprotect).
    pub fn invalidate_all(&mut self) {
        self.pages.clear();
    }

    /// Records that the stub wrote exactly `data` at `addr` (pass only the bytes actually written).
    /// Cached pages are patched in place; a page whose cached readable prefix does not cover the
    /// written bytes is dropped.
    pub fn note_write(&mut self, addr: u64, data: &[u8]) {
        let mut done = 0usize;
        while let Some(rest) = data.get(done..).filter(|r| !r.is_empty()) {
            let at = addr.wrapping_add(done as u64);
            let page = page_of(at);
            let off = offset_in_page(at);
            // off < PAGE_SIZE.
            let n = PAGE_SIZE.saturating_sub(off).min(rest.len());
            if let Some(cached) = self.pages.peek_mut(&page) {
                match (cached.get_mut(off..off.saturating_add(n)), rest.get(..n)) {
                    (Some(slot), Some(src)) => slot.copy_from_slice(src),
                    _ => {
                        self.pages.pop(&page);
                    }
                }
            }
            done = done.saturating_add(n);
        }
    }

    fn is_immutable(&self, page: u64) -> bool {
        let base = page_addr(page);
        let i = self.immutable.partition_point(|&(start, _)| start <= base);
        i.checked_sub(1)
            .and_then(|i| self.immutable.get(i))
            .is_some_and(|&(_, end)| end.checked_sub(base).is_some_and(|n| n >= PAGE_SIZE as u64))
    }

    /// A bulk batch: the pages the requests cover are read as runs of contiguous pages (few
    /// iovecs; many small iovecs make the kernel pin the same pages over and over) into one
    /// scratch buffer, not cached, and copied out to each request. A run that is partly
    /// unreadable gives its readable prefix; requests past it get their readable prefix too.
    fn read_bulk(
        &mut self,
        requests: &mut [ReadRequest<'_>],
        spans: &[(u64, usize)],
    ) -> Result<(), MemError> {
        let mut pages = Vec::new();
        for &(addr, len) in spans {
            if let Some(span) = PageSpan::of(addr, len)? {
                pages.extend(span.pages());
            }
        }
        let runs = page_runs(pages);
        let total: usize = runs.iter().map(|r| r.byte_len()).sum();
        let mut scratch = vec![0u8; total];
        let mut got_per_run = Vec::with_capacity(runs.len());
        {
            let mut rest = scratch.as_mut_slice();
            let mut run_reqs = Vec::with_capacity(runs.len());
            for run in &runs {
                let (head, tail) = rest.split_at_mut(run.byte_len());
                run_reqs.push(ReadRequest::new(run.addr(), head));
                rest = tail;
            }
            self.source.read_batch(&mut run_reqs)?;
            got_per_run.extend(run_reqs.iter().map(|r| r.got));
        }
        // Where each run starts in `scratch`, for the copy-out.
        let mut starts = Vec::with_capacity(runs.len());
        let mut at = 0usize;
        for run in &runs {
            starts.push(at);
            at = at.saturating_add(run.byte_len());
        }
        let mut served = 0u64;
        for (req, &(addr, len)) in requests.iter_mut().zip(spans) {
            let i = runs.partition_point(|r| r.addr() <= addr).saturating_sub(1);
            let (Some(run), Some(&start), Some(&got)) =
                (runs.get(i), starts.get(i), got_per_run.get(i))
            else {
                req.got = 0;
                continue;
            };
            // The run holding addr starts at or before it.
            let off = addr.wrapping_sub(run.addr()) as usize;
            let n = len.min(got.saturating_sub(off));
            let from = start.saturating_add(off);
            req.got = match (
                req.buf.get_mut(..n),
                scratch.get(from..from.saturating_add(n)),
            ) {
                (Some(dst), Some(src)) => {
                    dst.copy_from_slice(src);
                    n
                }
                _ => 0,
            };
            served = served.saturating_add(req.got as u64);
        }
        self.count(|s| {
            s.batches = s.batches.saturating_add(1);
            s.pages_fetched = s.pages_fetched.saturating_add((total / PAGE_SIZE) as u64);
            s.bytes_served = s.bytes_served.saturating_add(served);
        });
        Ok(())
    }

    fn count(&mut self, f: impl Fn(&mut CacheStats)) {
        f(&mut self.last_stop);
        f(&mut self.total);
    }

    /// Fetches the pages the `spans` need that are neither cached nor in `fetched`, adding them to
    /// `fetched`, until every span is resolved up to its first unreadable byte or `fetched` holds
    /// `limit` pages.
    fn fill(
        &mut self,
        spans: &[(u64, usize)],
        fetched: &mut Fetched,
        limit: usize,
    ) -> Result<(), MemError> {
        loop {
            let mut missing = BTreeSet::new();
            'spans: for &(addr, len) in spans {
                let Ok(Some(span)) = PageSpan::of(addr, len) else {
                    continue;
                };
                for page in span.pages() {
                    match self.pages.peek(&page).or_else(|| fetched.get(&page)) {
                        Some(data) if data.len() == PAGE_SIZE => {}
                        // The readable prefix ends in this page: the span needs nothing after it.
                        Some(_) => break,
                        None => {
                            if missing.len().saturating_add(fetched.len()) >= limit {
                                break 'spans;
                            }
                            missing.insert(page);
                        }
                    }
                }
            }
            if missing.is_empty() {
                return Ok(());
            }
            self.fetch(&missing, fetched)?;
        }
    }

    /// One `read_batch` of the source for `missing`, as runs of contiguous pages. Every run resolves
    /// at least its first page; pages after a run's first unreadable page stay unknown.
    fn fetch(&mut self, missing: &BTreeSet<u64>, fetched: &mut Fetched) -> Result<(), MemError> {
        let runs = page_runs(missing.iter().copied());
        let mut bufs: Vec<Vec<u8>> = runs.iter().map(|run| vec![0u8; run.byte_len()]).collect();
        let mut reqs: Vec<ReadRequest<'_>> = runs
            .iter()
            .zip(bufs.iter_mut())
            .map(|(run, buf)| ReadRequest::new(run.addr(), buf))
            .collect();
        let n_pages = missing.len() as u64;
        self.count(|s| {
            s.batches = s.batches.saturating_add(1);
            s.pages_fetched = s.pages_fetched.saturating_add(n_pages);
        });
        self.source.read_batch(&mut reqs)?;
        let gots: Vec<usize> = reqs.iter().map(|r| r.got.min(r.buf.len())).collect();
        drop(reqs);
        for ((run, buf), got) in runs.iter().zip(&bufs).zip(gots) {
            // A page is fetched whole or is the run's readable end.
            let readable = buf.get(..got).unwrap_or_default();
            let pages = run.first..run.first.saturating_add(run.count);
            for (page, data) in pages.clone().zip(readable.chunks(PAGE_SIZE)) {
                fetched.insert(page, data.into());
                if data.len() < PAGE_SIZE {
                    break;
                }
            }
            if readable.len() % PAGE_SIZE == 0 && readable.len() < buf.len() {
                // The run's first unreadable page starts exactly at `got`: known empty.
                if let Some(page) = pages.clone().nth(readable.len() / PAGE_SIZE) {
                    fetched.insert(page, Vec::new().into());
                }
            }
        }
        Ok(())
    }

    /// Copies the readable prefix of `out.len()` bytes at `addr` from the cache or `fetched`.
    fn assemble(&mut self, addr: u64, out: &mut [u8], fetched: &Fetched) -> usize {
        let mut done = 0usize;
        let (mut hits, mut misses) = (0u64, 0u64);
        while let Some(dst) = out.get_mut(done..).filter(|d| !d.is_empty()) {
            let at = addr.wrapping_add(done as u64);
            let page = page_of(at);
            let data = match self.pages.get(&page) {
                Some(data) => {
                    hits = hits.saturating_add(1);
                    data
                }
                None => match fetched.get(&page) {
                    Some(data) => {
                        misses = misses.saturating_add(1);
                        data
                    }
                    None => break,
                },
            };
            let off = offset_in_page(at);
            let Some(avail) = data.get(off..) else { break };
            let n = avail.len().min(dst.len());
            let (Some(d), Some(s)) = (dst.get_mut(..n), avail.get(..n)) else {
                break;
            };
            if n == 0 {
                break;
            }
            d.copy_from_slice(s);
            done = done.saturating_add(n);
        }
        self.count(|s| {
            s.hits = s.hits.saturating_add(hits);
            s.misses = s.misses.saturating_add(misses);
            s.bytes_served = s.bytes_served.saturating_add(done as u64);
        });
        done
    }

    /// Moves the pages fetched by an operation into the LRU (evicting the least recently used).
    fn keep(&mut self, fetched: Fetched) {
        for (page, data) in fetched {
            self.pages.put(page, data);
        }
    }
}

impl<S: MemorySource> MemorySource for PageCache<S> {
    /// Fetches, in one batch, all missing pages of the `(addr, len)` ranges, as far as they fit in
    /// the cache. Each range is capped at [`MAX_READ_LEN`]; ranges that wrap are ignored.
    fn prefetch(&mut self, ranges: &[(u64, u64)]) -> Result<(), MemError> {
        let spans: Vec<(u64, usize)> = ranges
            .iter()
            .map(|&(addr, len)| {
                (
                    addr,
                    usize::try_from(len).unwrap_or(usize::MAX).min(MAX_READ_LEN),
                )
            })
            .filter(|&(addr, len)| last_byte(addr, len).is_ok())
            .collect();
        let mut fetched = Fetched::new();
        self.fill(&spans, &mut fetched, self.max_pages())?;
        self.keep(fetched);
        Ok(())
    }

    /// Reads at most [`MAX_READ_LEN`] bytes.
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        read_through_batch(self, addr, buf)
    }

    /// Serves all requests with one source batch for all their missing pages (plus one more per
    /// run that turned out to hold an unreadable page other requests read past). Each request is
    /// capped at [`MAX_READ_LEN`]; a request that wraps fails the batch with `Overflow` up front.
    fn read_batch(&mut self, requests: &mut [ReadRequest<'_>]) -> Result<(), MemError> {
        let mut spans = Vec::with_capacity(requests.len());
        for req in requests.iter() {
            let len = req.buf.len().min(MAX_READ_LEN);
            last_byte(req.addr, len)?;
            spans.push((req.addr, len));
        }
        let total: usize = spans.iter().map(|&(_, len)| len).sum();
        if requests.len() > 1 && total > BULK_READ_BYTES {
            return self.read_bulk(requests, &spans);
        }
        let mut fetched = Fetched::new();
        self.fill(&spans, &mut fetched, usize::MAX)?;
        for (req, &(_, len)) in requests.iter_mut().zip(&spans) {
            // len <= req.buf.len() (capped above).
            let buf = req.buf.get_mut(..len).unwrap_or_default();
            req.got = self.assemble(req.addr, buf, &fetched);
        }
        self.keep(fetched);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::{MemoryExt, SnapshotMemory};

    const P: usize = PAGE_SIZE;

    /// A snapshot that records every `read_batch` it receives.
    #[derive(Default)]
    struct Counting {
        inner: SnapshotMemory,
        /// `(addr, len)` of each request of each batch.
        batches: Vec<Vec<(u64, usize)>>,
    }

    impl MemorySource for Counting {
        fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
            self.inner.read(addr, buf)
        }
        fn read_batch(&mut self, requests: &mut [ReadRequest<'_>]) -> Result<(), MemError> {
            self.batches
                .push(requests.iter().map(|r| (r.addr, r.buf.len())).collect());
            self.inner.read_batch(requests)
        }
    }

    fn byte_at(addr: u64) -> u8 {
        (addr ^ (addr >> 8) ^ (addr >> 16)) as u8
    }

    /// `pages` pages of patterned bytes at each of `regions`.
    fn cache_over(regions: &[(u64, usize)], max_pages: usize) -> PageCache<Counting> {
        let mut src = Counting::default();
        for &(addr, len) in regions {
            src.inner
                .add_region(addr, (0..len as u64).map(|i| byte_at(addr + i)).collect());
        }
        PageCache::new(src, max_pages)
    }

    fn batches(c: &PageCache<Counting>) -> usize {
        c.source().batches.len()
    }

    fn expected(addr: u64, len: usize) -> Vec<u8> {
        (0..len as u64).map(|i| byte_at(addr + i)).collect()
    }

    #[test]
    fn reads_within_and_across_page_boundaries() {
        let mut c = cache_over(&[(0x10000, 4 * P)], 64);
        let mut b = [0u8; 8];
        assert_eq!(c.read(0x10ffc, &mut b), Ok(8));
        assert_eq!(b.to_vec(), expected(0x10ffc, 8));
        assert_eq!(
            c.read_u64(0x11000).unwrap(),
            u64::from_le_bytes(expected(0x11000, 8).try_into().unwrap())
        );
        let mut big = vec![0u8; 3 * P + 100];
        assert_eq!(c.read(0x10010, &mut big), Ok(big.len()));
        assert_eq!(big, expected(0x10010, 3 * P + 100));
        assert_eq!(c.read_u8(0x13fff).unwrap(), byte_at(0x13fff));
    }

    #[test]
    fn multi_page_read_of_missing_pages_is_one_batch() {
        let mut c = cache_over(&[(0x40000, 16 * P)], 64);
        let mut buf = vec![0u8; 10 * P];
        assert_eq!(c.read(0x40800, &mut buf), Ok(10 * P));
        assert_eq!(buf, expected(0x40800, 10 * P));
        assert_eq!(c.source().batches, vec![vec![(0x40000, 11 * P)]]);
        let s = c.stats_total();
        assert_eq!(
            (s.batches, s.pages_fetched, s.misses, s.hits),
            (1, 11, 11, 0)
        );
        // Served from the cache the second time.
        assert_eq!(c.read(0x40800, &mut buf), Ok(10 * P));
        assert_eq!(batches(&c), 1);
        assert_eq!(c.stats_total().hits, 11);
        assert_eq!(c.stats_total().bytes_served, 20 * P as u64);
    }

    #[test]
    fn read_batch_fetches_missing_pages_of_all_requests_in_one_batch() {
        let mut c = cache_over(&[(0x1000, 8 * P), (0x100000, P)], 64);
        c.read_u8(0x3000).unwrap();
        let (mut a, mut b, mut d) = (vec![0u8; 2 * P], vec![0u8; 16], vec![0u8; 32]);
        let mut reqs = [
            ReadRequest::new(0x1800, &mut a),
            ReadRequest::new(0x100010, &mut b),
            ReadRequest::new(0x7000, &mut d),
        ];
        c.read_batch(&mut reqs).unwrap();
        assert_eq!(
            reqs.iter().map(|r| r.got).collect::<Vec<_>>(),
            vec![2 * P, 16, 32]
        );
        assert_eq!(a, expected(0x1800, 2 * P));
        assert_eq!(b, expected(0x100010, 16));
        assert_eq!(d, expected(0x7000, 32));
        // One batch besides the first read; page 3 was cached, so two runs plus one page.
        assert_eq!(batches(&c), 2);
        assert_eq!(
            c.source().batches[1],
            vec![(0x1000, 2 * P), (0x7000, P), (0x100000, P)]
        );
    }

    #[test]
    fn read_crossing_into_unreadable_page_returns_prefix() {
        let mut c = cache_over(&[(0x5000, 2 * P)], 64);
        let mut buf = vec![0u8; 3 * P];
        assert_eq!(c.read(0x5800, &mut buf), Ok(P + P / 2));
        assert_eq!(&buf[..P + P / 2], &expected(0x5800, P + P / 2)[..]);
        assert_eq!(
            c.read_exact(0x6ff0, &mut [0u8; 32]),
            Err(MemError::Unreadable { addr: 0x7000 })
        );
        assert_eq!(batches(&c), 1);
    }

    #[test]
    fn region_ending_mid_page_gives_partial_page() {
        let mut c = cache_over(&[(0x8000, P + 10)], 64);
        let mut buf = [0u8; 64];
        assert_eq!(c.read(0x8ff0, &mut buf), Ok(26));
        assert_eq!(c.read(0x9000, &mut buf), Ok(10));
        assert_eq!(
            c.read(0x900a, &mut buf),
            Err(MemError::Unreadable { addr: 0x900a })
        );
        assert_eq!(
            c.read(0x9100, &mut buf),
            Err(MemError::Unreadable { addr: 0x9100 })
        );
        assert_eq!(batches(&c), 1);
    }

    #[test]
    fn unreadable_page_is_cached_as_negative_entry() {
        let mut c = cache_over(&[(0x5000, P)], 64);
        assert_eq!(
            c.read(0x9000, &mut [0u8; 8]),
            Err(MemError::Unreadable { addr: 0x9000 })
        );
        assert_eq!(batches(&c), 1);
        assert_eq!(
            c.read(0x9010, &mut [0u8; 8]),
            Err(MemError::Unreadable { addr: 0x9010 })
        );
        assert_eq!(
            c.read_u64(0x9ff8),
            Err(MemError::Unreadable { addr: 0x9ff8 })
        );
        assert_eq!(batches(&c), 1);
        assert_eq!(c.stats_total().hits, 2);
    }

    #[test]
    fn unreadable_page_inside_a_run_does_not_lose_later_pages() {
        // Pages 0x1000 and 0x3000 readable, 0x2000 a hole.
        let mut c = cache_over(&[(0x1000, P), (0x3000, P)], 64);
        let (mut a, mut b) = (vec![0u8; 3 * P], vec![0u8; P]);
        let mut reqs = [
            ReadRequest::new(0x1000, &mut a),
            ReadRequest::new(0x3000, &mut b),
        ];
        c.read_batch(&mut reqs).unwrap();
        assert_eq!((reqs[0].got, reqs[1].got), (P, P));
        assert_eq!(b, expected(0x3000, P));
        // The first batch read the run 1..=3 and stopped at the hole; the second fetched page 3.
        assert_eq!(
            c.source().batches,
            vec![vec![(0x1000, 3 * P)], vec![(0x3000, P)]]
        );
    }

    #[test]
    fn eviction_at_the_page_bound() {
        let mut c = cache_over(&[(0x10000, 8 * P)], 4);
        for i in 0..6u64 {
            c.read_u8(0x10000 + i * P as u64).unwrap();
        }
        assert_eq!(c.cached_pages(), 4);
        assert_eq!(batches(&c), 6);
        // Pages 4 and 5 are recent; page 0 was evicted.
        c.read_u8(0x15000).unwrap();
        assert_eq!(batches(&c), 6);
        c.read_u8(0x10000).unwrap();
        assert_eq!(batches(&c), 7);
    }

    #[test]
    fn read_larger_than_the_cache_is_still_whole() {
        let mut c = cache_over(&[(0x10000, 8 * P)], 2);
        let mut buf = vec![0u8; 8 * P];
        assert_eq!(c.read(0x10000, &mut buf), Ok(8 * P));
        assert_eq!(buf, expected(0x10000, 8 * P));
        assert_eq!(c.cached_pages(), 2);
        assert_eq!(batches(&c), 1);
        assert_eq!(PageCache::new(SnapshotMemory::new(), 0).max_pages(), 1);
    }

    #[test]
    fn invalidation_keeps_immutable_pages_only() {
        let mut c = cache_over(&[(0x400000, 4 * P), (0xc000000, 2 * P)], 64);
        c.set_immutable_ranges(vec![
            (0x401000, 0x402000),
            (0x402000, 0x403000),
            (0x403800, 0x404000),
        ]);
        let mut buf = vec![0u8; 4 * P];
        c.read(0x400000, &mut buf).unwrap();
        c.read(0xc000000, &mut buf[..2 * P]).unwrap();
        c.read(0x900000, &mut buf[..8]).unwrap_err();
        assert_eq!(c.cached_pages(), 7);
        c.source_mut().inner.patch(0x401000, &[0xaa]);
        c.source_mut().inner.patch(0xc000000, &[0xbb]);
        c.invalidate_volatile();
        // Pages 0x401000 and 0x402000 lie wholly inside the immutable ranges; 0x403000 only half.
        assert_eq!(c.cached_pages(), 2);
        let before = batches(&c);
        c.read(0x401000, &mut buf[..2 * P]).unwrap();
        assert_eq!(batches(&c), before);
        assert_eq!(
            buf[0],
            byte_at(0x401000),
            "immutable page served from cache"
        );
        assert_eq!(c.read_u8(0xc000000).unwrap(), 0xbb, "volatile page re-read");
        assert_eq!(batches(&c), before + 1);
        c.invalidate_all();
        assert_eq!(c.cached_pages(), 0);
        assert_eq!(c.read_u8(0x401000).unwrap(), 0xaa);
    }

    #[test]
    fn note_write_updates_cached_bytes() {
        let mut c = cache_over(&[(0x20000, 2 * P), (0x30000, P + 16)], 64);
        let mut buf = vec![0u8; 2 * P];
        c.read(0x20000, &mut buf).unwrap();
        c.read(0x30ff0, &mut buf[..64]).unwrap();
        c.read_u8(0x32000).unwrap_err();
        assert_eq!(c.cached_pages(), 5);
        let data = [1u8, 2, 3, 4, 5, 6];
        c.source_mut().inner.patch(0x20ffd, &data);
        c.note_write(0x20ffd, &data);
        let before = batches(&c);
        let mut got = [0u8; 8];
        assert_eq!(c.read(0x20ffc, &mut got), Ok(8));
        assert_eq!(got, [byte_at(0x20ffc), 1, 2, 3, 4, 5, 6, byte_at(0x21003)]);
        assert_eq!(batches(&c), before, "patched in place, not refetched");
        // A write reaching past a page's readable prefix (or onto a negative entry) drops the page.
        c.note_write(0x31008, &[9; 16]);
        c.note_write(0x32000, &[9]);
        assert_eq!(c.cached_pages(), 3);
        c.source_mut().inner.add_region(0x31010, vec![7; P - 16]);
        c.source_mut().inner.add_region(0x32000, vec![8; P]);
        assert_eq!(c.read(0x31000, &mut got), Ok(8));
        assert_eq!(c.read_u8(0x3100f).unwrap(), byte_at(0x3100f));
        assert_eq!(c.read_u8(0x31010).unwrap(), 7);
        assert_eq!(c.read_u8(0x32000).unwrap(), 8);
        // Writes to uncached pages and at the top of the address space are harmless.
        c.note_write(u64::MAX - 1, &[0; 8]);
        c.note_write(0x90000, &[]);
    }

    #[test]
    fn bulk_batch_goes_straight_to_the_source_without_caching() {
        let mut c = cache_over(&[(0x100000, 0x80000)], 1024);
        let mut bufs = vec![vec![0u8; 440]; 1000];
        let mut reqs: Vec<ReadRequest<'_>> = bufs
            .iter_mut()
            .enumerate()
            .map(|(i, b)| ReadRequest::new(0x100000 + (i as u64) * 500, b))
            .collect();
        c.read_batch(&mut reqs).unwrap();
        assert!(reqs.iter().all(|r| r.got == 440));
        drop(reqs);
        assert_eq!(bufs[3], expected(0x100000 + 3 * 500, 440));
        assert_eq!(c.cached_pages(), 0, "bulk data is not cached");
        assert_eq!(batches(&c), 1);
    }

    #[test]
    fn huge_length_is_capped() {
        let mut c = cache_over(&[(0x1000000, 2 * MAX_READ_LEN)], DEFAULT_MAX_PAGES);
        let mut buf = vec![0u8; 3 * MAX_READ_LEN];
        assert_eq!(c.read(0x1000000, &mut buf), Ok(MAX_READ_LEN));
        assert_eq!(c.stats_total().pages_fetched, (MAX_READ_LEN / P) as u64);
        let mut reqs = [ReadRequest::new(0x1000000, &mut buf)];
        c.read_batch(&mut reqs).unwrap();
        assert_eq!(reqs[0].got, MAX_READ_LEN);
        c.prefetch(&[(0x1000000, u64::MAX)]).unwrap();
        assert_eq!(batches(&c), 1);
    }

    #[test]
    fn overflowing_range_is_overflow_error() {
        let mut c = cache_over(&[(0x1000, P)], 64);
        let addr = u64::MAX - 1;
        assert_eq!(
            c.read(addr, &mut [0u8; 4]),
            Err(MemError::Overflow { addr, len: 4 })
        );
        let mut buf = [0u8; 4];
        let mut ok = [0u8; 4];
        let mut reqs = [
            ReadRequest::new(0x1000, &mut ok),
            ReadRequest::new(addr, &mut buf),
        ];
        assert_eq!(
            c.read_batch(&mut reqs),
            Err(MemError::Overflow { addr, len: 4 })
        );
        assert_eq!(batches(&c), 0);
    }

    #[test]
    fn no_panic_near_the_top_of_the_address_space() {
        let top = 0xffff_ffff_ffff_f000;
        let mut c = cache_over(&[(top, P)], 64);
        assert_eq!(
            c.read_u64(u64::MAX - 7).unwrap(),
            u64::from_le_bytes(expected(u64::MAX - 7, 8).try_into().unwrap())
        );
        assert_eq!(c.read(u64::MAX, &mut [0u8; 1]), Ok(1));
        assert_eq!(c.read(u64::MAX, &mut []), Ok(0));
        let mut empty = cache_over(&[], 64);
        assert_eq!(
            empty.read(u64::MAX, &mut [0u8; 1]),
            Err(MemError::Unreadable { addr: u64::MAX })
        );
        empty.prefetch(&[(u64::MAX - 5, 6), (u64::MAX, 2)]).unwrap();
        empty.invalidate_volatile();
    }

    #[test]
    fn prefetch_fetches_all_ranges_in_one_batch() {
        let mut c = cache_over(&[(0x7ff000, 2 * P), (0x401000, P)], 64);
        c.prefetch(&[
            (0x7ff800, 256),
            (0x7ffff8, 16),
            (0x401010, 15),
            (0xdead000, 8),
        ])
        .unwrap();
        assert_eq!(batches(&c), 1);
        assert_eq!(
            c.source().batches[0],
            vec![(0x401000, P), (0x7ff000, 2 * P), (0xdead000, P)]
        );
        c.read_u64(0x7ff900).unwrap();
        c.read_u8(0x401010).unwrap();
        c.read_u8(0xdead000).unwrap_err();
        assert_eq!(batches(&c), 1);
        let s = c.stats_total();
        assert_eq!((s.hits, s.misses, s.pages_fetched), (3, 0, 4));
    }

    #[test]
    fn prefetch_stops_at_the_cache_bound() {
        let mut c = cache_over(&[(0x10000, 16 * P)], 4);
        c.prefetch(&[(0x10000, 16 * P as u64)]).unwrap();
        assert_eq!(c.source().batches, vec![vec![(0x10000, 4 * P)]]);
    }

    #[test]
    fn stats_per_stop_and_total() {
        let mut c = cache_over(&[(0x1000, 4 * P)], 64);
        c.read(0x1000, &mut [0u8; 16]).unwrap();
        c.read(0x1000, &mut [0u8; 16]).unwrap();
        let s = c.stats_last_stop();
        assert_eq!(
            s,
            CacheStats {
                hits: 1,
                misses: 1,
                pages_fetched: 1,
                batches: 1,
                bytes_served: 32
            }
        );
        c.begin_stop();
        assert_eq!(c.stats_last_stop(), CacheStats::default());
        c.read(0x2000, &mut [0u8; 8]).unwrap();
        assert_eq!(c.stats_last_stop().misses, 1);
        assert_eq!(
            c.stats_total(),
            CacheStats {
                hits: 1,
                misses: 2,
                pages_fetched: 2,
                batches: 2,
                bytes_served: 40
            }
        );
    }
}
