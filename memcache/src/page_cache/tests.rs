//! Tests of the page cache: page assembly, batching, negative entries, eviction, invalidation,
//! writes, bulk reads and the bounds on hostile lengths and addresses.

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
    // Exactly the bytes asked for: one source request per request, not whole pages.
    assert_eq!(c.source().batches.len(), 1);
    assert_eq!(c.source().batches[0].len(), 1000);
    assert_eq!(c.source().batches[0][7], (0x100000 + 7 * 500, 440));
    assert_eq!(c.stats_total().bytes_served, 440 * 1000);
    assert_eq!(c.stats_total().pages_fetched, 0);
    // A bulk request that ends past the readable memory gets its readable prefix.
    let mut big = vec![0u8; 300 * 1024];
    let mut reqs = [ReadRequest::new(0x100000 + 0x80000 - 100, &mut big)];
    c.read_batch(&mut reqs).unwrap();
    assert_eq!(reqs[0].got, 100);
}

#[test]
fn huge_length_is_capped() {
    let mut c = cache_over(&[(0x1000000, 2 * MAX_READ_LEN)], DEFAULT_MAX_PAGES);
    let mut buf = vec![0u8; 3 * MAX_READ_LEN];
    // A capped read is still a bulk read: straight from the source, nothing cached.
    assert_eq!(c.read(0x1000000, &mut buf), Ok(MAX_READ_LEN));
    assert_eq!(c.source().batches, vec![vec![(0x1000000, MAX_READ_LEN)]]);
    let mut reqs = [ReadRequest::new(0x1000000, &mut buf)];
    c.read_batch(&mut reqs).unwrap();
    assert_eq!(reqs[0].got, MAX_READ_LEN);
    assert_eq!(c.stats_total().bytes_served, 2 * MAX_READ_LEN as u64);
    assert_eq!(c.cached_pages(), 0);
    c.prefetch(&[(0x1000000, u64::MAX)]).unwrap();
    assert_eq!(batches(&c), 3);
    assert_eq!(c.stats_total().pages_fetched, (MAX_READ_LEN / P) as u64);
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
