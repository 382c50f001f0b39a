//! memcache: cheap access to a debuggee's memory.
//!
//! Everything that reads target memory goes through [`MemorySource`]. Sources are live processes
//! (behind the `live` feature: [`VmReadv`], [`ProcMem`], and [`LiveMemory`] combining them),
//! recorded snapshots ([`SnapshotMemory`]), or a [`PageCache`] stacked over another source. The
//! cache fetches every missing page of a read in one batch, remembers unreadable pages, and is
//! invalidated by the stub at each resume ([`PageCache::invalidate_volatile`]), keeping pages of
//! immutable file mappings ([`immutable_file_ranges`]).
//!
//! ```
//! use memcache::{MemoryExt, MemorySource, PageCache, SnapshotMemory, DEFAULT_MAX_PAGES};
//!
//! let mut snap = SnapshotMemory::new();
//! snap.add_region(0x1000, (0..=255u8).cycle().take(3 * 4096).collect());
//! let mut cache = PageCache::new(snap, DEFAULT_MAX_PAGES);
//!
//! // One source batch fetches all three pages; the second read is served from the cache.
//! let mut buf = vec![0u8; 3 * 4096];
//! assert_eq!(cache.read(0x1000, &mut buf)?, 3 * 4096);
//! assert_eq!(cache.read_u32(0x1ffe)?, u32::from_le_bytes([0xfe, 0xff, 0x00, 0x01]));
//! assert_eq!(cache.stats_total().batches, 1);
//!
//! // Past the end of the region: the readable prefix, then an unreadable address.
//! assert_eq!(cache.read(0x3ff0, &mut [0u8; 64])?, 16);
//! assert!(cache.read_u8(0x4000).is_err());
//!
//! // At a resume everything volatile goes.
//! cache.invalidate_volatile();
//! assert_eq!(cache.cached_pages(), 0);
//! # Ok::<(), memcache::MemError>(())
//! ```

// Target memory and binaries are hostile input: no unchecked arithmetic, no panicking index.
#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

pub mod addr;
pub mod batch;
pub mod maps;
pub mod page_cache;
pub mod source;
pub mod two_cores;

#[cfg(feature = "live")]
pub mod counters;
#[cfg(feature = "live")]
pub mod live;
#[cfg(feature = "live")]
pub mod proc_mem;
#[cfg(feature = "live")]
pub mod vm_readv;

pub use addr::PAGE_SIZE;
pub use maps::{immutable_file_ranges, mappings, Mapping};
pub use page_cache::{CacheStats, PageCache, DEFAULT_MAX_PAGES, MAX_READ_LEN};
pub use source::{MemError, MemoryExt, MemorySource, ReadRequest, SnapshotMemory};

#[cfg(feature = "live")]
pub use counters::SyscallCounters;
#[cfg(feature = "live")]
pub use live::LiveMemory;
#[cfg(feature = "live")]
pub use proc_mem::ProcMem;
#[cfg(feature = "live")]
pub use vm_readv::VmReadv;
