//! `qXfer:threads:read`: the thread list as one XML document, which gdb fetches once per stop
//! instead of `qfThreadInfo`/`qsThreadInfo` and then `qThreadExtraInfo` per thread for
//! `info threads`. Each thread carries its name (a goroutine thread's label, an OS thread's
//! comm) and, as its text, the label `qThreadExtraInfo` gives (gdb's `details`) where that
//! says more than the name: an OS thread's label (the goroutine it runs, in the os view). A
//! goroutine thread's label is its name and is sent once (issue 9: sent twice, 128 goroutine
//! threads took four requests; gdb shows `Thread P.T "label"`, without the parenthesis).
//!
//! Protocol quirks met here:
//! - gdbstub 0.7 has no `qXfer:threads`: the tap answers it and `qSupported` advertises it
//!   through the vendored `extra_supported_features`.
//! - gdb reads the object in 4 KiB requests from offset 0 on; a chunk that reaches the end is
//!   `l`, otherwise `m`. The document is kept compact (no XML declaration, no newlines, a
//!   thread without text closes itself) so that about fifty threads fit one request; 128
//!   goroutine threads with their labels take three. The document is built at offset 0 and later chunks come from that copy,
//!   so a list that changes between chunks cannot tear.
//! - With `qXfer:threads` on, gdb takes the XML text as the thread's extra info and never sends
//!   `qThreadExtraInfo`.
//! - Thread ids are `pPID.TID` in hex, PID the thread's own process (a fork child's, once gdb
//!   knows the child); gdb parses them so with or without multiprocess; the
//!   optional `core` attribute is left out (it would cost a /proc read per thread per stop).
//! - The reply is binary data (`#`, `$`, `}` and `*` escaped), the XML text entity-escaped.

use super::error::reply;
use super::lldb::hex_pair;
use super::lldb_stop::escape_binary_bytes;
use super::xfer::escape_into;
use super::{GdbTarget, StubError};
use crate::tid_map::ThreadRef;

/// The packet prefix the tap hands to [`GdbTarget::xfer_threads`].
pub const PREFIX: &str = "qXfer:threads:read:";

impl GdbTarget {
    /// The reply to `qXfer:threads:read:ANNEX:OFFSET,LENGTH` (the annex is empty).
    pub fn xfer_threads(&mut self, args: &str) -> Vec<u8> {
        let parsed = args
            .strip_prefix(':')
            .and_then(hex_pair)
            .and_then(|(o, l)| Some((usize::try_from(o).ok()?, l)));
        let Some((offset, len)) = parsed else {
            return reply(StubError::BadArgument(args.to_string())).into_bytes();
        };
        if offset == 0 {
            self.threads_xml = self.threads_document().into_bytes();
        }
        xfer_chunk(&self.threads_xml, offset, len)
    }

    fn threads_document(&mut self) -> String {
        let first = self.pid().map_or(0, |p| p.as_raw());
        let mut xml = String::from("<threads>");
        for tid in self.client_threads() {
            let label = self.thread_label(tid);
            let (name, pid) = match ThreadRef::from_tid(tid) {
                ThreadRef::Goroutine(_) => (label.clone(), first),
                ThreadRef::Os(os) => (
                    self.thread_comm(os).unwrap_or_default(),
                    self.session.owner_of(os).map_or(first, |p| p.as_raw()),
                ),
            };
            xml.push_str(&format!("<thread id=\"p{pid:x}.{:x}\" name=\"", tid.get()));
            escape_into(&mut xml, &name);
            if label == name {
                xml.push_str("\"/>");
                continue;
            }
            xml.push_str("\">");
            escape_into(&mut xml, &label);
            xml.push_str("</thread>");
        }
        xml.push_str("</threads>");
        xml
    }
}

/// The reply carrying `doc[offset..offset + len]`, binary-escaped: `l` when it reaches the end,
/// `m` when more follows.
pub(super) fn xfer_chunk(doc: &[u8], offset: usize, len: usize) -> Vec<u8> {
    let start = offset.min(doc.len());
    let end = start.saturating_add(len).min(doc.len());
    let mut out = vec![if end == doc.len() { b'l' } else { b'm' }];
    out.extend(escape_binary_bytes(&doc[start..end]));
    out
}
