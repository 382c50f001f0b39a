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
//! - A batch of more than [`BULK_READ_BYTES`] goes to the source as it is, uncached: one
//!   iovec per request, into the callers' buffers (no page rounding, no copy).
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

/// A batch of more than this many bytes (the g structs or stack tops of thousands of goroutines)
/// goes straight to the source, exactly as requested and into the callers' buffers, instead of
/// through cached pages: it is one-off data, and fetching whole pages for it would read and copy
/// many times the bytes asked for and evict the pages that are read again (code, thread stacks).
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

    /// A bulk batch: the requests go straight to the source as they are (one remote iovec each,
    /// read into the callers' own buffers), neither rounded to pages nor cached. Callers that
    /// read many neighbouring structs merge them into runs first (see goruntime's g reads).
    fn read_bulk(
        &mut self,
        requests: &mut [ReadRequest<'_>],
        spans: &[(u64, usize)],
    ) -> Result<(), MemError> {
        let mut capped: Vec<ReadRequest<'_>> = requests
            .iter_mut()
            .zip(spans)
            // len <= req.buf.len() (capped by the caller).
            .map(|(req, &(addr, len))| {
                ReadRequest::new(addr, req.buf.get_mut(..len).unwrap_or_default())
            })
            .collect();
        self.source.read_batch(&mut capped)?;
        let served: usize = capped.iter().map(|r| r.got).sum();
        let got: Vec<usize> = capped.iter().map(|r| r.got).collect();
        drop(capped);
        for (req, got) in requests.iter_mut().zip(got) {
            req.got = got;
        }
        self.count(|s| {
            s.batches = s.batches.saturating_add(1);
            s.bytes_served = s.bytes_served.saturating_add(served as u64);
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
        if total > BULK_READ_BYTES {
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
mod tests;
