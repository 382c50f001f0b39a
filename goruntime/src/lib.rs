//! goruntime: knowledge of Go's runtime (Go 1.19 to 1.27, linux/amd64), read through
//! [`memcache::MemorySource`].
//!
//! It parses a Go executable ([`GoBinary`]: version, symbols, pclntab, runtime layouts — also for
//! stripped `-s -w` builds), lists the goroutines of a stopped process ([`list_goroutines`]),
//! unwinds their stacks the way the Go runtime does, and renders runtime-style tracebacks under
//! a GOTRACEBACK-like [`Policy`].
//!
//! Nothing here uses ptrace: target memory comes from a `MemorySource`, thread registers from
//! the caller ([`ThreadState`]). Malformed input never panics; unreadable goroutines become
//! entries with [`Goroutine::error`].
//!
//! ```no_run
//! use goruntime::{GoBinary, list_goroutines, render_traceback, is_shown, Policy, ThreadState};
//! use memcache::SnapshotMemory;
//! # fn main() -> Result<(), goruntime::GoError> {
//! let bin = GoBinary::load(std::path::Path::new("./server"))?;
//! println!("built by {}", bin.version());
//! let mut mem = SnapshotMemory::new(); // in the stub: the process's page cache
//! let threads: Vec<ThreadState> = Vec::new(); // live registers of each OS thread
//! for g in list_goroutines(&bin, &mut mem, &threads)? {
//!     if is_shown(&bin, &g, Policy::All) {
//!         print!("{}\n", render_traceback(&bin, &g, Policy::All));
//!     }
//! }
//! # Ok(()) }
//! ```

// Target memory and binaries are hostile input: no unchecked arithmetic, no panicking index.
#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

pub mod allgs;
pub mod binary;
pub mod dwarf;
pub mod error;
pub mod goroutine;
pub mod image;
pub mod labels;
pub mod layout;
pub mod memo;
pub mod pclntab;
pub mod relocate;
pub mod tls;
pub mod traceback;
pub mod unwind;
pub mod version;
pub mod wait_reasons;

pub use allgs::AllgsLocation;
pub use binary::GoBinary;
pub use error::{GoError, GoroutineError};
pub use goroutine::{
    goroutines_at, list_goroutines, list_goroutines_since, list_goroutines_with, listing_hints,
    running_g_addrs, unwind_goroutines, Depth, GStatus, Goroutine, ListOptions, ThreadState,
};
pub use layout::Layout;
pub use memo::ProcessMemo;
pub use relocate::load_bias;
pub use traceback::{header_line, is_shown, render_traceback, visible_frames, Policy};
pub use version::GoVersion;

use std::sync::Arc;

/// One logical stack frame (inlined calls are separate frames sharing pc/sp/fp): where it lies
/// on the stack, and what its pc is in the program ([`FrameSym`], one per pc and logical frame,
/// shared by every frame there and read through `Deref`: `frame.function`). Parked goroutines
/// stop at a handful of pcs, so a listing of many holds few `FrameSym`s.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    /// Program counter of the physical frame (return address for outer frames).
    pub pc: u64,
    /// Stack pointer of the physical frame.
    pub sp: u64,
    /// Caller's SP (CFA): `sp + frame size + 8`.
    pub fp: u64,
    /// RBP in this frame (best effort: `g.sched.bp`/thread RBP for the innermost frame, then
    /// the frame-pointer chain; 0 when unknown).
    pub bp: u64,
    pub sym: Arc<FrameSym>,
}

/// What a logical frame's pc is in the program.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FrameSym {
    pub function: Arc<str>,
    pub file: Arc<str>,
    pub line: u32,
    /// The frame was inlined into its caller (no own pc).
    pub inlined: bool,
    /// Entry PC of the physical function.
    pub entry: u64,
    /// The runtime's funcID of this logical function (wrapper detection).
    pub func_id: u8,
    /// The frame's pc is exact (live registers, a signal context, or the frame that
    /// `sigpanic`/`asyncPreempt`/`debugCallV2` was entered from), not a return address.
    pub exact_pc: bool,
}

impl std::ops::Deref for Frame {
    type Target = FrameSym;
    fn deref(&self) -> &FrameSym {
        &self.sym
    }
}

/// Function, file and line of an exact pc (innermost inlined function).
pub fn symbolize(bin: &GoBinary, pc: u64) -> Option<(String, String, u32)> {
    let t = bin.pclntab();
    let f = t.find_func(pc)?;
    let frames = t.expand(&f, pc, bin.image());
    let lf = frames.into_iter().next()?;
    Some((lf.function.to_string(), lf.file.to_string(), lf.line))
}
