//! `qThreadExtraInfo`: the text gdb's `info threads` and lldb's `thread list` show beside a
//! thread, e.g. "goroutine 17 [chan receive, 3 minutes] main.worker". It is computed only when
//! the client asks (gdb asks for `info threads`, not at every stop).

use gdbstub::common::Tid;
use gdbstub::target::ext::thread_extra_info::ThreadExtraInfo;

use super::GdbTarget;

impl ThreadExtraInfo for GdbTarget {
    fn thread_extra_info(&mut self, tid: Tid, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let label = self.thread_label(tid);
        let n = label.len().min(buf.len());
        buf[..n].copy_from_slice(&label.as_bytes()[..n]);
        Ok(n)
    }
}
