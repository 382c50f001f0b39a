//! `qThreadExtraInfo`: the text gdb's `info threads` and lldb's `thread list` show beside a
//! thread, e.g. "goroutine 17 [chan receive, 3 minutes] main.worker".
//!
//! gdbstub asks with `&self`, so the labels are computed when the client lists the threads (it
//! always lists them first) and kept for the stop.

use gdbstub::common::Tid;
use gdbstub::target::ext::thread_extra_info::ThreadExtraInfo;

use super::GdbTarget;

impl ThreadExtraInfo for GdbTarget {
    fn thread_extra_info(&self, tid: Tid, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let Some(label) = self.labels.1.get(&tid) else {
            return Ok(0);
        };
        let n = label.len().min(buf.len());
        buf[..n].copy_from_slice(&label.as_bytes()[..n]);
        Ok(n)
    }
}
