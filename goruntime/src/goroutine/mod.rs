//! Goroutines as data: the types a listing yields ([`Goroutine`], [`GStatus`]), what the caller
//! supplies ([`ThreadState`], [`ListOptions`]), and the submodules that fill them in:
//! `listing` (allgs → decoded goroutines, reused across stops), `decode` (`runtime.g` and
//! `runtime.m` records), `walk_start` (where each goroutine's stack walk begins) and
//! `stack_windows` (the stack words of many parked walks, read in few batches); `metered`
//! logs what each costs.
//!
//! Quirks met here (reference §1, §3): status carries the `_Gscan` bit (0x1000) while the GC scans
//! a g (masked, reported as `scan`); Go 1.26 added `_Gleaked` (10) and `_Gdeadextra` (11, skipped
//! like `_Gdead`); `goid` is 0 for g0/gsignal. A g that cannot be read becomes an entry with
//! `error`, never an abort.

mod decode;
mod halves;
mod listing;
mod metered;
mod stack_windows;
mod walk_start;

pub use decode::{decode_g, is_system_goroutine};
pub use listing::{
    goroutines_at, list_goroutines, list_goroutines_since, list_goroutines_with, listing_hints,
    running_g_addrs,
};
pub use walk_start::unwind_goroutines;

use crate::error::GoroutineError;
use crate::Frame;
use std::fmt;
use std::sync::Arc;

/// `_Gscan` bit.
pub const GSCAN: u32 = 0x1000;

/// A goroutine status (`_Gxxx`), scan bit removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GStatus {
    Idle,
    Runnable,
    Running,
    Syscall,
    Waiting,
    Moribund,
    Dead,
    Enqueue,
    Copystack,
    Preempted,
    /// Go 1.26+.
    Leaked,
    /// Go 1.26+: dead g kept for cgo callbacks.
    DeadExtra,
    Unknown(u32),
}

impl GStatus {
    /// Decodes a raw status (with or without the scan bit).
    pub fn from_raw(raw: u32) -> GStatus {
        match raw & !GSCAN {
            0 => GStatus::Idle,
            1 => GStatus::Runnable,
            2 => GStatus::Running,
            3 => GStatus::Syscall,
            4 => GStatus::Waiting,
            5 => GStatus::Moribund,
            6 => GStatus::Dead,
            7 => GStatus::Enqueue,
            8 => GStatus::Copystack,
            9 => GStatus::Preempted,
            10 => GStatus::Leaked,
            11 => GStatus::DeadExtra,
            n => GStatus::Unknown(n),
        }
    }

    /// The runtime's `gStatusStrings` text.
    pub fn as_str(&self) -> &'static str {
        match self {
            GStatus::Idle => "idle",
            GStatus::Runnable => "runnable",
            GStatus::Running => "running",
            GStatus::Syscall => "syscall",
            GStatus::Waiting => "waiting",
            GStatus::Moribund | GStatus::Enqueue => "",
            GStatus::Dead => "dead",
            GStatus::Copystack => "copystack",
            GStatus::Preempted => "preempted",
            GStatus::Leaked => "leaked",
            GStatus::DeadExtra => "waiting for cgo callback",
            GStatus::Unknown(_) => "???",
        }
    }

    /// Dead gs are not listed.
    pub fn is_dead(&self) -> bool {
        matches!(self, GStatus::Dead | GStatus::DeadExtra)
    }
}

impl fmt::Display for GStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One goroutine.
#[derive(Debug, Clone, Default)]
pub struct Goroutine {
    pub goid: u64,
    pub status: GStatus,
    /// The status had the `_Gscan` bit.
    pub scan: bool,
    /// Wait-reason text when waiting with a non-zero reason.
    pub wait_reason: Option<Arc<str>>,
    /// Raw `waitreason` value.
    pub wait_reason_code: u8,
    /// Minutes blocked, when ≥ 1 and known (the runtime's `, N minutes`).
    pub wait_minutes: Option<u64>,
    pub waitsince: i64,
    pub locked_to_thread: bool,
    pub gopc: u64,
    pub startpc: u64,
    pub parent_goid: Option<u64>,
    pub labels: Vec<(String, String)>,
    /// Linux tid of the M running this goroutine.
    pub thread: Option<i32>,
    /// The stack walk's frames, innermost first (all of them, unless `top_only`).
    pub frames: Vec<Frame>,
    /// `Some(level)`: the walk stopped at the first frame traceback level `level` shows, and
    /// `frames` holds that frame alone (see [`Depth`]).
    pub top_only: Option<u32>,
    /// A runtime-internal goroutine (`isSystemGoroutine`).
    pub system: bool,
    /// Why the g or its stack could not be (fully) read (boxed: rare, and a listing holds many
    /// goroutines).
    pub error: Option<Box<GoroutineError>>,
    pub g_addr: u64,
    /// Registers unwinding started from.
    pub pc: u64,
    pub sp: u64,
    pub bp: u64,
    pub stack_lo: u64,
    pub stack_hi: u64,
    /// `g.m` (0 when not on an M).
    pub m_addr: u64,
    /// `m.id` of `g.m`.
    pub m_id: Option<i64>,
    /// A fingerprint of the g struct's bytes (see [`list_goroutines_since`]).
    pub raw_hash: u64,
}

impl Goroutine {
    /// pc and sp of the innermost frame of the walk (a walk cut at its first shown frame
    /// started there: at the saved context of a goroutine that is not running).
    pub fn innermost(&self) -> Option<(u64, u64)> {
        match self.top_only {
            Some(_) => Some((self.pc, self.sp)),
            None => self.frames.first().map(|f| (f.pc, f.sp)),
        }
    }

    /// Whether the frames are what a walk to `depth` gives (or more).
    pub fn walked_to(&self, depth: Depth) -> bool {
        if self.frames.is_empty() && self.error.is_none() {
            return false;
        }
        match (self.top_only, depth) {
            (None, _) => true,
            (Some(_), Depth::Full) => false,
            (Some(cut), Depth::FirstShown(level)) => cut == level,
        }
    }
}

/// How far stack walks go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// To the end: every frame (a traceback, a filter on any frame).
    Full,
    /// To the first frame traceback level `.0` shows (a listing's line, a thread's label and
    /// registers): parked goroutines' walks stop there. Running ones are walked in full.
    FirstShown(u32),
}

impl Default for GStatus {
    fn default() -> Self {
        GStatus::Unknown(u32::MAX)
    }
}

/// Live registers of one OS thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadState {
    pub tid: i32,
    pub rip: u64,
    pub rsp: u64,
    pub rbp: u64,
    pub fs_base: u64,
}

/// Options for [`list_goroutines_with`].
#[derive(Debug, Clone)]
pub struct ListOptions {
    /// The target's `nanotime()` now (CLOCK_MONOTONIC ns); `None` disables wait minutes.
    pub now_nanotime: Option<u64>,
    /// Whether to unwind stacks.
    pub unwind: bool,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            now_nanotime: monotonic_now_ns(),
            unwind: true,
        }
    }
}

/// Approximate CLOCK_MONOTONIC in ns, from `/proc/uptime` (CLOCK_BOOTTIME; equal unless the
/// host suspended). Only used for the minute-granularity ", N minutes".
pub fn monotonic_now_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some((secs * 1e9) as u64)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn status_decoding() {
        assert_eq!(GStatus::from_raw(0x1004), GStatus::Waiting);
        assert!(GStatus::from_raw(11).is_dead());
        assert_eq!(GStatus::from_raw(77).as_str(), "???");
    }
}
