//! lldb packets gdbstub cannot answer well, answered through the packet tap: `qHostInfo` and
//! `qProcessInfo` (with `ostype:linux`, the real pid and the hex-encoded triple, as lldb-server
//! sends them) and `qMemoryRegionInfo` (from the process's memory regions, which lldb uses
//! while unwinding). The facts come from the process layer; this file only formats them.

use gdbstub::common::Tid;

use super::arch::Amd64RegId;
use super::error::reply;
use super::{signal_numbers, GdbTarget, StopKind, StubError};
use crate::process::{hostname, ProcessError, Region};

/// Payload prefixes the tap hands to [`GdbTarget::answer_lldb`].
pub const INTERCEPTS: &[&str] = &[
    "qHostInfo",
    "qProcessInfo",
    "qMemoryRegionInfo",
    "qGetWorkingDir",
    "qThreadStopInfo",
    "jThreadsInfo",
];

const TRIPLE: &str = "x86_64-pc-linux-gnu";

fn hex(s: &str) -> String {
    hex_bytes(s.as_bytes())
}

fn hex_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn common_keys() -> String {
    format!(
        "triple:{};ostype:linux;vendor:pc;endian:little;ptrsize:8;",
        hex(TRIPLE)
    )
}

impl GdbTarget {
    /// The stop reply for `?` to lldb: SIGSTOP on the first thread, as lldb-server says it; for
    /// a core (to every client), its fatal signal on the thread that took it.
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
                let sig = signal_numbers::to_gdb(sig);
                self.last_stop = Some((tid, sig, StopKind::Signal));
                format!("T{sig:02x}thread:{:x};reason:signal;", tid.get())
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
    fn stop_of(&mut self, tid: Tid) -> Option<(u8, StopKind)> {
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
    pub fn answer_lldb(&mut self, payload: &str) -> String {
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

impl GdbTarget {
    /// `jThreadsInfo`: every thread with its stop reason and pc, sp, fp, as lldb-server sends it.
    /// lldb takes the stop reasons from here; without them it may resume on its own.
    fn threads_info(&mut self) -> String {
        let mut threads = Vec::new();
        for tid in self.client_threads() {
            let mut entry = serde_json::json!({ "tid": tid.get(), "name": self.thread_label(tid) });
            if let Some((sig, kind)) = self.stop_of(tid) {
                entry["reason"] = kind.lldb_reason().into();
                entry["signal"] = sig.into();
            }
            if let Ok(regs) = self.client_regs(tid) {
                let reg = |id| {
                    let mut b = [0u8; 8];
                    regs.read_one(id, &mut b);
                    hex_bytes(&b)
                };
                entry["registers"] = serde_json::json!({
                    "16": reg(Amd64RegId::Rip),
                    "6": reg(Amd64RegId::Gpr(6)),
                    "7": reg(Amd64RegId::Gpr(7)),
                });
            }
            threads.push(entry);
        }
        // The reply is JSON: escape the bytes the protocol reserves.
        escape_binary(&serde_json::Value::Array(threads).to_string())
    }
}

/// Escapes `#`, `$`, `}` and `*` as the protocol's binary data requires (`}` then byte ^ 0x20).
fn escape_binary(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '#' | '$' | '}' | '*') {
            out.push('}');
            out.push(char::from(c as u8 ^ 0x20));
        } else {
            out.push(c);
        }
    }
    out
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
