//! memcache: cheap access to a debuggee's memory.
//!
//! Everything that reads target memory goes through [`MemorySource`]. Sources are live processes
//! (behind the `live` feature), recorded snapshots, or a page cache stacked over another source.

pub mod source;

pub use source::{MemError, MemoryExt, MemorySource, ReadRequest, SnapshotMemory};
