//! What listings learn about one process and keep for the next listing of it: the facts of every
//! pc walked through (function, frame size, inline expansion), where the allgs pointer array
//! was, and the buffers the g structs and stack windows are read into (fresh memory for each
//! listing would cost a page fault per 4 KiB). The caller that owns per-process state keeps a [`ProcessMemo`] next to its
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
    /// Read buffers, kept from one listing to the next (a few MiB).
    pub(crate) scratch: Mutex<Vec<u8>>,
}

impl ProcessMemo {
    /// The read buffer (empty when another listing holds it); give it back with `put_scratch`.
    pub(crate) fn take_scratch(&self) -> Vec<u8> {
        self.scratch
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }

    pub(crate) fn put_scratch(&self, buf: Vec<u8>) {
        if let Ok(mut s) = self.scratch.lock() {
            *s = buf;
        }
    }
}
