//! `qXfer:siginfo:read` and `qXfer:siginfo:write`: the `siginfo_t` of the selected thread's stop,
//! which gdb shows and changes as `$_siginfo`, as gdbserver serves it (the process layer reads
//! and writes it: PTRACE_GETSIGINFO/SETSIGINFO, or a core's `NT_SIGINFO`).
//!
//! Protocol quirks met here:
//! - gdbstub 0.7 has no `qXfer:siginfo`: the event loop answers it before gdbstub (from the raw
//!   packet, since a write carries binary data), and `qSupported` offers `qXfer:siginfo:read+`
//!   and `qXfer:siginfo:write+` through the vendored `extra_supported_features`.
//! - The object is the thread gdb last selected with `Hg`, or, after a stop, the thread the stop
//!   reply named (gdb takes that one as selected and sends no `Hg` for it). The annex is empty.
//! - A read is `l`/`m` and binary data; a write's data is binary (`}` escapes), written over the
//!   current siginfo at its offset, and the reply is the count written in hex. An offset past
//!   the object, or a non-empty annex, is an error, as from gdbserver.

use gdbstub::common::Tid;

use super::error::reply;
use super::lldb::hex_pair;
use super::xfer_threads::xfer_chunk;
use super::{GdbTarget, StubError};
use crate::process::SIGINFO_SIZE;

/// The raw packet prefix the event loop hands to [`GdbTarget::xfer_siginfo`].
pub const PACKET_PREFIX: &[u8] = b"$qXfer:siginfo:";

impl GdbTarget {
    /// Notes the thread an `Hg` packet selects (`packet` is the framed packet).
    pub fn note_general_thread(&mut self, packet: &[u8]) {
        if packet.starts_with(b"$Hg") {
            self.general_thread = super::event_loop::selected_thread(packet);
        }
    }

    /// A stop reply named `tid`: gdb takes it as the selected thread.
    pub fn stop_selects(&mut self, tid: Option<Tid>) {
        self.general_thread = tid;
    }

    /// The reply to a framed `$qXfer:siginfo:…#cs` packet.
    pub fn xfer_siginfo(&mut self, packet: &[u8]) -> Vec<u8> {
        let body = packet
            .strip_prefix(PACKET_PREFIX)
            .and_then(|b| b.get(..b.len().checked_sub(3)?))
            .unwrap_or_default();
        let bad =
            || reply(StubError::BadArgument(String::from_utf8_lossy(body).into())).into_bytes();
        if let Some(args) = body.strip_prefix(b"read::") {
            let parsed = std::str::from_utf8(args)
                .ok()
                .and_then(hex_pair)
                .and_then(|(o, l)| Some((usize::try_from(o).ok()?, l)));
            match parsed {
                Some((offset, len)) if offset < SIGINFO_SIZE => match self.siginfo() {
                    Ok(info) => xfer_chunk(&info, offset, len),
                    Err(e) => reply(e).into_bytes(),
                },
                _ => bad(),
            }
        } else if let Some(args) = body.strip_prefix(b"write::") {
            let Some(colon) = args.iter().position(|&b| b == b':') else {
                return bad();
            };
            let offset = std::str::from_utf8(&args[..colon])
                .ok()
                .and_then(|o| usize::from_str_radix(o, 16).ok())
                .filter(|&o| o < SIGINFO_SIZE);
            let (Some(offset), Some(data)) = (offset, unescape_binary(&args[colon + 1..])) else {
                return bad();
            };
            match self.write_siginfo(offset, &data) {
                Ok(n) => format!("{n:x}").into_bytes(),
                Err(e) => reply(e).into_bytes(),
            }
        } else {
            bad()
        }
    }

    /// The OS thread of the selected client thread (the last stop's, or any, when none is).
    fn siginfo_thread(&mut self) -> Result<nix::unistd::Pid, StubError> {
        let tid = self
            .general_thread
            .or(self.last_stop.map(|(tid, _, _)| tid))
            .or_else(|| self.client_threads().into_iter().next())
            .ok_or(crate::process::ProcessError::NoProcess)?;
        self.os_tid(tid)
    }

    fn siginfo(&mut self) -> Result<[u8; SIGINFO_SIZE], StubError> {
        let pid = self.siginfo_thread()?;
        Ok(self.session.backend_of(pid)?.siginfo(pid)?)
    }

    /// Writes `data` over the siginfo at `offset` (cut at its end); returns the count written.
    fn write_siginfo(&mut self, offset: usize, data: &[u8]) -> Result<usize, StubError> {
        let pid = self.siginfo_thread()?;
        let backend = self.session.backend_of(pid)?;
        let mut info = backend.siginfo(pid)?;
        let n = data.len().min(SIGINFO_SIZE - offset);
        info[offset..offset + n].copy_from_slice(&data[..n]);
        backend.set_siginfo(pid, &info)?;
        Ok(n)
    }
}

/// Undoes the protocol's binary escapes (`}` then byte ^ 0x20); `None` for a dangling `}`.
fn unescape_binary(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    let mut bytes = data.iter();
    while let Some(&b) = bytes.next() {
        out.push(if b == b'}' { bytes.next()? ^ 0x20 } else { b });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::unescape_binary;

    #[test]
    fn binary_data_is_unescaped() {
        assert_eq!(
            unescape_binary(b"a}\x03}\x04}]}\nb"),
            Some(b"a#$}*b".to_vec())
        );
        assert_eq!(unescape_binary(b""), Some(Vec::new()));
        assert_eq!(unescape_binary(b"ab}"), None);
    }
}
