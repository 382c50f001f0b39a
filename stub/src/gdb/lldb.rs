//! lldb packets gdbstub cannot answer well, answered through the packet tap: `qHostInfo` and
//! `qProcessInfo` (with `ostype:linux`, the real pid and the hex-encoded triple, as lldb-server
//! sends them), `qMemoryRegionInfo` (from the process's memory regions, which lldb uses
//! while unwinding), `QThreadSuffixSupported` and `QListThreadsInStopReply` (both `OK`; see
//! `thread_suffix.rs` and `lldb_stop.rs`) and lldb's binary read `x` (no `b` prefix, unlike
//! gdb 16's; `x0,0` is lldb's probe). The facts come from the process layer; this file only
//! formats them.

use gdbstub::common::Tid;

use super::error::reply;
use super::event_loop::PACKET_SIZE;
use super::lldb_stop::escape_binary_bytes;
use super::signal_numbers;
use super::{GdbTarget, StopKind, StubError};
use crate::process::{dt_debug_slot, hostname, ProcessError, Region};

/// Payload prefixes the tap hands to [`GdbTarget::answer_lldb`] (and gdb's `qXfer:threads`).
pub const INTERCEPTS: &[&str] = &[
    "qHostInfo",
    "qProcessInfo",
    "qMemoryRegionInfo",
    "qGetWorkingDir",
    "qThreadStopInfo",
    "jThreadsInfo",
    "qShlibInfoAddr",
    "QThreadSuffixSupported",
    "QListThreadsInStopReply",
    "x",
    super::xfer_threads::PREFIX,
];

const TRIPLE: &str = "x86_64-pc-linux-gnu";

pub(super) fn hex(s: &str) -> String {
    hex_bytes(s.as_bytes())
}

/// Lower-case hex of `bytes`, two digits a byte (no per-byte formatting: lldb's stop keys and
/// `jThreadsInfo` carry kilobytes of it per stop).
pub(super) fn hex_bytes(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// `ADDR,LEN` (both hex), as `x` and `qXfer` reads give them.
pub(super) fn hex_pair(args: &str) -> Option<(u64, usize)> {
    let (a, l) = args.split_once(',')?;
    Some((
        u64::from_str_radix(a, 16).ok()?,
        usize::from_str_radix(l, 16).ok()?,
    ))
}

fn common_keys() -> String {
    format!(
        "triple:{};ostype:linux;vendor:pc;endian:little;ptrsize:8;",
        hex(TRIPLE)
    )
}

impl GdbTarget {
    /// The stop reply for `?`: to lldb, SIGSTOP on the first thread, as lldb-server says it; for
    /// a core (to every client), its fatal signal on the thread that took it. lldb reads signals
    /// in Linux's numbering for a Linux target (gdb's SIGSTOP, 17, is its SIGCHLD, which lldb
    /// resumes from on its own once `jstopinfo` names it); gdb in its own.
    pub fn initial_stop_reply(&mut self) -> String {
        let stop = match self.session.fixed_stop() {
            Some((os, sig)) => Some((self.client_tid(os), sig)),
            None => self
                .client_threads()
                .first()
                .copied()
                .zip(self.session.initial_stop_signal()),
        };
        match stop {
            Some((tid, sig)) => {
                let sig = if self.client_is_lldb {
                    u8::try_from(sig).unwrap_or(0)
                } else {
                    signal_numbers::to_gdb(sig)
                };
                self.last_stop = Some((tid, sig, StopKind::Signal));
                let keys = self.lldb_stop_keys(tid);
                format!("T{sig:02x}thread:{:x};reason:signal;{keys}", tid.get())
            }
            _ => "W00".to_string(),
        }
    }

    /// `qThreadStopInfo`: the stopping thread gets the last stop's signal, every other `T00`, as
    /// lldb-server answers. Without it lldb sees no stop reason and resumes on its own.
    fn thread_stop_info(&mut self, tid_hex: &str) -> String {
        let Some(tid) = usize::from_str_radix(tid_hex, 16).ok().and_then(Tid::new) else {
            return reply(StubError::BadArgument(tid_hex.to_string()));
        };
        let name = hex(&self.thread_label(tid));
        match self.stop_of(tid) {
            Some((sig, kind)) => {
                format!(
                    "T{sig:02x}thread:{tid:x};hexname:{name};reason:{};",
                    kind.lldb_reason()
                )
            }
            None => format!("T00thread:{tid:x};hexname:{name};"),
        }
    }

    /// The signal and kind of stop client thread `tid` made at this stop, if it made one: the
    /// reported thread, or another thread that hit a breakpoint meanwhile.
    pub(super) fn stop_of(&mut self, tid: Tid) -> Option<(u8, StopKind)> {
        if let Some((t, sig, kind)) = self.last_stop {
            if t == tid {
                return Some((sig, kind));
            }
        }
        let others = self.session.backend_ref()?.other_breakpoint_hits().to_vec();
        others
            .into_iter()
            .any(|os| self.client_tid(os) == tid)
            .then_some((libc::SIGTRAP as u8, StopKind::Breakpoint))
    }

    /// The reply payload for an intercepted packet.
    pub fn answer_lldb(&mut self, payload: &str) -> Vec<u8> {
        if let Some(args) = payload.strip_prefix(super::xfer_threads::PREFIX) {
            return self.xfer_threads(args);
        }
        match payload.strip_prefix('x') {
            Some(args) => self.read_binary(args),
            None => self.answer_lldb_text(payload).into_bytes(),
        }
    }

    /// `x ADDR,LEN`, lldb's binary memory read: the bytes, escaped; `x0,0` (lldb's probe) is
    /// `OK`. At most one packet buffer is read, as for `m`.
    fn read_binary(&mut self, args: &str) -> Vec<u8> {
        let Some((addr, len)) = hex_pair(args) else {
            return reply(StubError::BadArgument(args.to_string())).into_bytes();
        };
        if len == 0 {
            return b"OK".to_vec();
        }
        let backend = match self.backend() {
            Ok(b) => b,
            Err(e) => return reply(e).into_bytes(),
        };
        let mut buf = vec![0u8; len.min(PACKET_SIZE / 2)];
        match backend.read(addr, &mut buf) {
            Ok(n) => escape_binary_bytes(&buf[..n]),
            Err(e) => reply(e).into_bytes(),
        }
    }

    /// `qShlibInfoAddr`: where the program's `DT_DEBUG` value lies, the word lldb reads
    /// `&r_debug` from, as lldb-server answers. A static program has none: unsupported.
    fn shlib_info_addr(&mut self) -> String {
        let mut backend = match self.backend() {
            Ok(b) => b,
            Err(e) => return reply(StubError::Query(e)),
        };
        let auxv = match backend.auxv() {
            Ok(a) => a,
            Err(e) => return reply(StubError::Query(e)),
        };
        match dt_debug_slot(&mut backend, &auxv) {
            Ok(Some(slot)) => format!("{slot:x}"),
            Ok(None) => String::new(),
            Err(e) => reply(StubError::Query(e.into())),
        }
    }

    fn answer_lldb_text(&mut self, payload: &str) -> String {
        if payload == "QThreadSuffixSupported" {
            return "OK".to_string();
        }
        if payload == "QListThreadsInStopReply" {
            self.lldb_thread_lists = true;
            return "OK".to_string();
        }
        if payload == "qHostInfo" {
            // Only lldb asks for qHostInfo.
            self.client_is_lldb = true;
            return format!(
                "{}hostname:{};watchpoint_exceptions_received:after;",
                common_keys(),
                hex(&hostname())
            );
        }
        if let Some(tid) = payload.strip_prefix("qThreadStopInfo") {
            return self.thread_stop_info(tid);
        }
        if payload == "jThreadsInfo" {
            return self.threads_info();
        }
        if payload == "qShlibInfoAddr" {
            return self.shlib_info_addr();
        }
        let Some(backend) = self.session.backend_ref() else {
            return reply(StubError::Query(ProcessError::NoProcess));
        };
        if payload == "qProcessInfo" {
            return match backend.process_info() {
                Ok(info) => format!(
                    "pid:{:x};parent-pid:{:x};real-uid:{uid:x};real-gid:{gid:x};effective-uid:{uid:x};effective-gid:{gid:x};{}",
                    backend.pid().as_raw(),
                    info.ppid,
                    common_keys(),
                    uid = info.uid,
                    gid = info.gid,
                ),
                Err(e) => reply(StubError::Query(e)),
            };
        }
        if payload == "qGetWorkingDir" {
            return match backend.working_dir() {
                Ok(p) => hex(&p.to_string_lossy()),
                Err(e) => reply(StubError::Query(e)),
            };
        }
        if let Some(addr) = payload.strip_prefix("qMemoryRegionInfo:") {
            let Ok(addr) = u64::from_str_radix(addr, 16) else {
                return reply(StubError::BadArgument(addr.to_string()));
            };
            return match backend.regions() {
                Ok(regions) => memory_region_info(&regions, addr),
                Err(e) => reply(StubError::Query(e)),
            };
        }
        String::new()
    }
}

/// lldb-server's answer for the region holding `addr`, or the unmapped gap around it. The
/// region's name is the first word of its path, as it always was here.
fn memory_region_info(regions: &[Region], addr: u64) -> String {
    let mut gap_start = 0u64;
    for r in regions {
        if addr < r.start {
            return format!("start:{gap_start:x};size:{:x};", r.start - gap_start);
        }
        if addr < r.end {
            let p: String = r
                .perms
                .chars()
                .filter(|c| matches!(c, 'r' | 'w' | 'x'))
                .collect();
            let name = match r.path.split_whitespace().next() {
                Some(name) => format!("name:{};", hex(name)),
                None => String::new(),
            };
            return format!(
                "start:{:x};size:{:x};permissions:{p};{name}",
                r.start,
                r.end - r.start
            );
        }
        gap_start = r.end;
    }
    format!("start:{gap_start:x};size:{:x};", u64::MAX - gap_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_two_lower_case_digits_a_byte() {
        assert_eq!(hex_bytes(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex("x8"), "7838");
    }

    fn regions() -> Vec<Region> {
        [
            (0x400000, 0x401000, "r-xp", "/bin/prog"),
            (0x600000, 0x602000, "rw-p", ""),
            (0x7ffff000, 0x80000000, "rw-p", "[stack]"),
        ]
        .map(|(start, end, perms, path)| Region {
            start,
            end,
            perms: perms.into(),
            path: path.into(),
        })
        .to_vec()
    }

    #[test]
    fn region_inside_a_mapping() {
        assert_eq!(
            memory_region_info(&regions(), 0x400010),
            format!(
                "start:400000;size:1000;permissions:rx;name:{};",
                hex("/bin/prog")
            )
        );
        assert_eq!(
            memory_region_info(&regions(), 0x600000),
            "start:600000;size:2000;permissions:rw;"
        );
    }

    #[test]
    fn unmapped_address_gets_the_gap() {
        assert_eq!(
            memory_region_info(&regions(), 0x500000),
            "start:401000;size:1ff000;"
        );
        assert_eq!(memory_region_info(&regions(), 0x10), "start:0;size:400000;");
        assert!(memory_region_info(&regions(), 0x9000_0000).starts_with("start:80000000;"));
    }

    #[test]
    fn triple_is_hex_encoded() {
        assert!(common_keys().contains("triple:7838365f36342d70632d6c696e75782d676e75;"));
    }
}
