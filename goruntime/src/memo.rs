//! What listings learn about one process and keep for the next listing of it: the facts of every
//! pc walked through (function, frame size, inline expansion) and where the allgs pointer array
//! was. The caller that owns per-process state keeps a [`ProcessMemo`] next to its
//! [`crate::GoBinary`] (which stays immutable once loaded) and passes it to every listing.
//!
//! Quirks: both memos are hints only — a stale pc fact cannot occur (text does not change), a
//! stale allgs array only prefetches the wrong range. A fresh memo gives the same results.

use crate::unwind::PcMemo;
use std::sync::Mutex;

/// Per-process memos of goroutine listing (see the module doc).
#[derive(Debug, Default)]
pub struct ProcessMemo {
    /// What unwinding learned about each pc.
    pub(crate) pcs: PcMemo,
    /// Where the last listing found the allgs pointer array (`(addr, bytes)`).
    pub(crate) allgs_array: Mutex<Option<(u64, u64)>>,
}
