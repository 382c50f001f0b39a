//! Fork and vfork events and more than one process on a connection (gdb's `multiprocess+`),
//! translated: the client's `fork-events+`/`vfork-events+` offer, the `fork:`, `vfork:` and
//! `vforkdone:` stop keys, `D;PID` and `Hg` for a process that is not the first, and the exit of
//! one process of several (`W..;process:PID`). The process layer holds the children and decides
//! which process each request goes to (`process/session/processes.rs`).
//!
//! Protocol quirks met here:
//! - gdb offers `fork-events+` and `vfork-events+` in `qSupported`; as gdbserver, the stub
//!   offers them back only then, and only then holds children (gdb without them expects none).
//! - A fork stop is `T05fork:pCHILD.CHILD;thread:pPARENT.TID;…`. gdb then, to detach the child
//!   (follow-fork-mode parent, detach-on-fork on), selects a child thread (`Hg pCHILD.CHILD`),
//!   takes its breakpoints out of the child's copy of memory with `z0`, and sends `D;CHILD`.
//!   Following the child, it takes the breakpoints out of the parent and sends `D;PARENT`.
//! - gdbstub detaches "the" process on any `D`, and ends the session: `D;PID` is answered here
//!   while the connection carries more than one process.
//! - The thread ids of a fork child carry its own pid (the vendored `pid_of_thread`).

use gdbstub::common::{Pid as GdbPid, Signal, Tid};
use gdbstub::stub::MultiThreadStopReason;
use nix::unistd::Pid;

use super::exec_events::client_offers;
use super::signal_numbers::to_gdb;
use super::thread_id::{self, IdPart};
use super::{GdbTarget, StubError};
use crate::process::{Backend, ForkEvents, ProcessError, StopEvent};
use crate::tid_map::ThreadRef;

impl GdbTarget {
    /// Notes the client's fork and vfork event offer and whether it handles several processes
    /// (`multiprocess+`: a second `run` or `attach` adds an inferior), from its `qSupported`.
    pub(super) fn note_fork_offer(&mut self, packet: &[u8]) {
        let offers = |f: &[u8]| client_offers(packet, f).unwrap_or(false);
        let events = ForkEvents {
            fork: offers(b"fork-events+"),
            vfork: offers(b"vfork-events+"),
        };
        self.fork_events = events;
        self.session.set_fork_events(events);
        self.session.keep_processes(offers(b"multiprocess+"));
    }

    /// The `fork:`, `vfork:` or `vforkdone:` key of a stop (else nothing).
    pub fn fork_stop_keys(&self, event: StopEvent) -> String {
        match event {
            StopEvent::Fork { child, vfork, .. } => {
                let kind = if vfork { "vfork" } else { "fork" };
                format!("{kind}:p{:x}.{:x};", child.as_raw(), child.as_raw())
            }
            StopEvent::VforkDone { .. } => "vforkdone:;".to_string(),
            _ => String::new(),
        }
    }

    /// The reply for the end of one process of several (`W..;process:PID`), which does not
    /// end the session; `None` for any other stop.
    pub fn end_of_one(&self, event: StopEvent) -> Option<MultiThreadStopReason<u64>> {
        let pid = self.session.stopped_process()?;
        if self.session.pids().contains(&pid) {
            return None;
        }
        let pid = usize::try_from(pid.as_raw()).ok().and_then(GdbPid::new)?;
        match event {
            StopEvent::Exited(code) => Some(MultiThreadStopReason::ProcessExited {
                pid,
                code: code as u8,
            }),
            StopEvent::Killed(sig) => Some(MultiThreadStopReason::ProcessTerminated {
                pid,
                signal: Signal(to_gdb(sig)),
            }),
            _ => None,
        }
    }

    /// `D;PID` while the connection carries more than one process: that process is detached
    /// and the session goes on. `None` for any other packet (gdbstub answers it).
    pub fn answer_detach(&mut self, packet: &[u8]) -> Option<String> {
        let pid = detach_pid(packet)?;
        if self.session.process_count() < 2 {
            return None;
        }
        if !self.session.detach_process(pid) {
            return Some(super::error::reply(
                StubError::BadPid(pid.as_raw() as usize),
            ));
        }
        self.after_process_change();
        Some("OK".to_string())
    }

    /// Follows an `Hg` packet: requests that name no thread (breakpoints) go to the process of
    /// the thread it selects.
    pub fn note_thread_selection(&mut self, packet: &[u8]) {
        let Some((pid, tid)) = general_thread(packet) else {
            return;
        };
        let owner = tid
            .and_then(|t| self.session.owner_of(t))
            .or(pid.filter(|&p| self.session.process_ref(p).is_some()));
        self.session.select(owner);
    }

    /// The process whose memory client thread `tid` reads: its own for an OS thread, the first
    /// process for a goroutine.
    pub(super) fn memory_of(&mut self, tid: Tid) -> Result<&mut dyn Backend, ProcessError> {
        match ThreadRef::from_tid(tid) {
            ThreadRef::Os(os) => self.session.backend_of(os),
            ThreadRef::Goroutine(_) => self.session.backend(),
        }
    }

    /// The first process changed (it was detached, killed or ended, and a fork child took its
    /// place): what the stub knew of its program (Go state, thread view) is dropped.
    pub fn after_process_change(&mut self) {
        let first = self.pid();
        if first == self.first_pid {
            return;
        }
        self.first_pid = first;
        self.go.forget_program();
        self.view = None;
        self.resumed_as.clear();
        if first.is_some() {
            self.note_program();
        }
    }
}

/// The pid of a framed `D;PID` packet.
fn detach_pid(packet: &[u8]) -> Option<Pid> {
    let body = packet.strip_prefix(b"$D;")?;
    let hex = std::str::from_utf8(&body[..body.iter().position(|&b| b == b'#')?]).ok()?;
    let pid = i32::from_str_radix(hex, 16).ok().filter(|&p| p > 0)?;
    Some(Pid::from_raw(pid))
}

/// The process and thread a framed `Hg` packet names: `Hgp10.11` is (0x10, 0x11), `Hgp10.0`
/// and `Hgp10.-1` (0x10, none), `Hg11` (none, 0x11); `Hg0` and `Hg-1` name neither.
fn general_thread(packet: &[u8]) -> Option<(Option<Pid>, Option<Pid>)> {
    let body = packet.strip_prefix(b"$Hg")?;
    let body = std::str::from_utf8(&body[..body.iter().position(|&b| b == b'#')?]).ok()?;
    let id = thread_id::parse(body)?;
    let pid = |part: Option<IdPart>| part.and_then(IdPart::number).map(Pid::from_raw);
    Some((pid(id.process), pid(Some(id.thread))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: i32) -> Option<Pid> {
        Some(Pid::from_raw(n))
    }

    #[test]
    fn detach_packets_name_their_process() {
        assert_eq!(detach_pid(b"$D;1a2b#00"), p(0x1a2b));
        assert_eq!(detach_pid(b"$D#44"), None);
        assert_eq!(detach_pid(b"$D;zz#00"), None);
        assert_eq!(detach_pid(b"$D;0#00"), None);
        assert_eq!(detach_pid(b"$D;-1#00"), None);
    }

    #[test]
    fn general_thread_packets_are_parsed_in_every_form() {
        assert_eq!(general_thread(b"$Hgp10.11#00"), Some((p(0x10), p(0x11))));
        assert_eq!(general_thread(b"$Hgp10.0#00"), Some((p(0x10), None)));
        assert_eq!(general_thread(b"$Hgp10.-1#00"), Some((p(0x10), None)));
        assert_eq!(general_thread(b"$Hg11#00"), Some((None, p(0x11))));
        assert_eq!(general_thread(b"$Hg0#00"), Some((None, None)));
        assert_eq!(general_thread(b"$Hc11#00"), None);
        assert_eq!(general_thread(b"$m10,4#00"), None);
    }
}
