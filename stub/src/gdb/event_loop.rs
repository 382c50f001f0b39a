//! The session loop. One thread does everything (ptrace requests must come from the tracing
//! thread): it waits on the client connection and on SIGCHLD through a signalfd, feeds client
//! bytes through the packet tap into gdbstub's state machine, and reports stops.
//!
//! Kernel quirk: SIGCHLD must be blocked for the signalfd to see it, and one signal may stand for
//! several children, so every wakeup drains waitpid until it has nothing more.

use std::os::fd::{AsFd, BorrowedFd};

use gdbstub::stub::state_machine::GdbStubStateMachine;
use gdbstub::stub::{DisconnectReason, GdbStub, MultiThreadStopReason};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signalfd::SignalFd;

use super::arch::{Amd64RegId, Amd64Regs};
use super::conn::BufferedConn;
use super::error::reply;
use super::resume::{end_reply, stop_reason};
use super::tap::{PacketTap, Tapped};
use super::thread_suffix;
use gdbstub::common::Tid;

use super::{lldb, osdata, signal_settings, tls, xfer_siginfo, GdbTarget, StopKind, StubError};
use crate::eintr::retry;
use crate::process::StopEvent;

/// gdbstub's packet buffer, which it advertises as PacketSize. gdbserver 13 offers 0x47ff.
pub const PACKET_SIZE: usize = 0x8000;

/// How a client session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The client closed the connection (or it broke).
    ClientGone,
    /// `D`: the process was detached.
    Detached,
    /// `k`: the process was killed.
    Killed,
    /// The process exited or was killed by a signal; the client was told.
    TargetEnded,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("gdbstub: {0}")]
    Protocol(String),
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
}

fn protocol<E: std::fmt::Display>(e: E) -> SessionError {
    SessionError::Protocol(e.to_string())
}

/// Serves one client until it goes away, the process is detached or killed, or (outside
/// extended mode) the process ends.
pub fn run_session(
    target: &mut GdbTarget,
    conn: BufferedConn,
    sigchld: &SignalFd,
) -> Result<SessionEnd, SessionError> {
    let stub = GdbStub::builder(conn)
        .packet_buffer_size(PACKET_SIZE)
        .build()
        .map_err(protocol)?;
    let mut tap = PacketTap::new(
        PACKET_SIZE,
        &[
            lldb::INTERCEPTS,
            signal_settings::INTERCEPTS,
            &[tls::PREFIX, osdata::PREFIX],
        ],
    );
    target.start_client();
    let mut sm = stub.run_state_machine(target).map_err(protocol)?;
    let mut sigchld_seen = false;
    target.lldb_thread_lists = false;
    loop {
        sm = match sm {
            GdbStubStateMachine::Idle(mut g) => {
                // Stopped: only the client can say anything, so a blocking read (no poll) waits.
                // In non-stop mode threads may run meanwhile: their stops are sent as they come.
                watch_non_stop(target, g.borrow_conn(), sigchld)?;
                let Some(byte) = g.borrow_conn().read_byte()? else {
                    return Ok(SessionEnd::ClientGone);
                };
                // The rest of a packet already buffered goes to the tap here: the state machine
                // is moved once per packet, not once per byte (about 8% of the stub's CPU in a
                // loop of `g` packets).
                let mut tapped = tap.push(byte);
                while matches!(tapped, Tapped::Pending) && g.borrow_conn().has_buffered_input() {
                    let Some(byte) = g.borrow_conn().read_byte()? else {
                        break;
                    };
                    tapped = tap.push(byte);
                }
                match tapped {
                    Tapped::Pending => GdbStubStateMachine::Idle(g),
                    Tapped::Reply(bytes) => {
                        send(g.borrow_conn(), &bytes)?;
                        GdbStubStateMachine::Idle(g)
                    }
                    Tapped::Intercept(payload) => {
                        log::trace!("<- {payload}");
                        let reply = if let Some(text) = target.answer_signal_settings(&payload) {
                            tap.reply(&text)
                        } else if let Some(args) = payload.strip_prefix(tls::PREFIX) {
                            tap.reply(&target.tls_address(args))
                        } else if let Some(args) = payload.strip_prefix(osdata::PREFIX) {
                            tap.reply_bytes(&target.xfer_osdata(args))
                        } else {
                            tap.reply_bytes(&target.answer_lldb(&payload))
                        };
                        send(g.borrow_conn(), &reply)?;
                        GdbStubStateMachine::Idle(g)
                    }
                    Tapped::Forward(bytes) if target.is_non_stop_packet(&bytes) => {
                        let reply = target.answer_non_stop(&bytes);
                        send(g.borrow_conn(), &tap.reply(&reply))?;
                        // A resume may have found events waiting already.
                        if let Some(note) = target.non_stop_events() {
                            send(g.borrow_conn(), &note)?;
                        }
                        GdbStubStateMachine::Idle(g)
                    }
                    Tapped::Forward(bytes)
                        if bytes == b"$?#3f"
                            && (target.client_is_lldb || target.session.fixed_stop().is_some()) =>
                    {
                        // gdbstub answers `?` with T05. lldb takes a SIGTRAP at the pc of a
                        // breakpoint it has just planted (its entry-point probe) as a hit and
                        // resumes on its own; lldb-server reports the first stop as SIGSTOP.
                        // A core's stop is its fatal signal, for every client.
                        log::trace!("<- ?");
                        let reply = target.initial_stop_reply();
                        send(g.borrow_conn(), &tap.reply(&reply))?;
                        GdbStubStateMachine::Idle(g)
                    }
                    Tapped::Forward(bytes) if thread_suffix::parse(&bytes).is_some() => {
                        log::trace!("<- {}", String::from_utf8_lossy(&bytes));
                        let reply = thread_suffix::parse(&bytes)
                            .map(|p| target.answer_suffixed(&p))
                            .unwrap_or_default();
                        send(g.borrow_conn(), &tap.reply(&reply))?;
                        GdbStubStateMachine::Idle(g)
                    }
                    Tapped::Forward(bytes)
                        if selected_thread(&bytes)
                            .is_some_and(|t| !target.has_client_thread(t)) =>
                    {
                        // gdbstub accepts any thread id in `H`; an unknown one is an error.
                        log::trace!("<- {} (no such thread)", String::from_utf8_lossy(&bytes));
                        let tid = selected_thread(&bytes).map_or(0, |t| t.get());
                        send(
                            g.borrow_conn(),
                            &tap.reply(&reply(StubError::UnknownThread(tid))),
                        )?;
                        GdbStubStateMachine::Idle(g)
                    }
                    Tapped::Forward(bytes) if bytes.starts_with(b"$D;") => {
                        // `D;PID` of one process of several: that one goes, the session stays
                        // (`fork_events.rs`); with one process, gdbstub detaches and ends.
                        log::trace!("<- {}", String::from_utf8_lossy(&bytes));
                        match target.answer_detach(&bytes) {
                            Some(reply) => {
                                send(g.borrow_conn(), &tap.reply(&reply))?;
                                GdbStubStateMachine::Idle(g)
                            }
                            None => feed(g, target, bytes)?,
                        }
                    }
                    Tapped::Forward(bytes) if bytes.starts_with(b"$k#") => {
                        // gdbstub answers `k` with OK (extended mode) or nothing; lldb waits for
                        // the exit status, and gdb reads no reply at all. The session kills and
                        // names the end (killed by SIGKILL: `X09`).
                        log::trace!("<- k");
                        let end = target.session.kill();
                        let text = end_reply(end).unwrap_or_default();
                        send(g.borrow_conn(), &tap.reply(&text))?;
                        if !(target.options.multi || tap.extended()) {
                            return Ok(SessionEnd::Killed);
                        }
                        GdbStubStateMachine::Idle(g)
                    }
                    Tapped::Forward(bytes)
                        if !target.client_is_lldb && super::breakpoints::is_read_watch(&bytes) =>
                    {
                        // x86 cannot watch reads alone. gdbserver calls `Z3` unsupported (an
                        // empty reply): gdb then sets an access watchpoint and reports only the
                        // reads that left the value unchanged. lldb asks for read-or-write itself.
                        log::trace!("<- {} (unsupported)", String::from_utf8_lossy(&bytes));
                        send(g.borrow_conn(), &tap.reply(""))?;
                        GdbStubStateMachine::Idle(g)
                    }
                    Tapped::Forward(bytes) if bytes.starts_with(xfer_siginfo::PACKET_PREFIX) => {
                        // gdbstub has no `qXfer:siginfo`; a write carries binary data, so the
                        // raw packet is answered here.
                        log::trace!("<- {}", String::from_utf8_lossy(&bytes));
                        let answer = target.xfer_siginfo(&bytes);
                        send(g.borrow_conn(), &tap.reply_bytes(&answer))?;
                        GdbStubStateMachine::Idle(g)
                    }
                    Tapped::Forward(bytes) if bytes.starts_with(b"$R") && tap.extended() => {
                        // `R` has no reply; gdbstub would send an empty one, and every later
                        // reply would answer the packet before it.
                        log::trace!("<- {}", String::from_utf8_lossy(&bytes));
                        target.restart_program();
                        send(g.borrow_conn(), tap.ack())?;
                        GdbStubStateMachine::Idle(g)
                    }
                    Tapped::Forward(bytes) => {
                        if bytes.len() > 1 {
                            log::trace!("<- {}", String::from_utf8_lossy(&bytes));
                        }
                        target.note_client_features(&bytes);
                        target.note_general_thread(&bytes);
                        target.note_thread_selection(&bytes);
                        target.non_stop_before_packet();
                        let mut sm = feed(g, target, bytes)?;
                        target.non_stop_after_packet();
                        // Threads stopped for a debug-register write may have met events.
                        if let GdbStubStateMachine::Idle(g) = &mut sm {
                            if let Some(note) = target.non_stop_events() {
                                send(g.borrow_conn(), &note)?;
                            }
                        }
                        if super::monitor::exit_requested() {
                            // `monitor exit` was answered: as gdbserver, the stub goes at once
                            // (gdb's testsuite waits for the server to close).
                            return Ok(SessionEnd::ClientGone);
                        }
                        sm
                    }
                }
            }
            GdbStubStateMachine::Running(mut g) => {
                // waitpid only when SIGCHLD said there is something to collect, or an event is
                // already pending from the last stop: no empty waitpid after every resume.
                let event = if std::mem::take(&mut sigchld_seen) || target.session.stop_pending() {
                    target.session.poll_stop()
                } else {
                    None
                };
                if let Some(event) = event {
                    // First: an exec drops the old program's view before the thread is named,
                    // and a process that took the first one's place drops the old view too.
                    target.after_process_change();
                    let mut keys = target.exec_stop_keys(event);
                    keys.push_str(&target.fork_stop_keys(event));
                    let reason = target
                        .end_of_one(event)
                        .unwrap_or_else(|| stop_reason(event, |os| target.client_tid(os)));
                    target.last_stop = stopped_thread(event, reason);
                    target.stop_selects(target.last_stop.map(|(tid, _, _)| tid));
                    if let (Some(pid), Some((tid, _, _))) = (event.thread(), target.last_stop) {
                        target.note_reported(pid, tid);
                    }
                    let expedited = expedited_registers(target, event);
                    if let Some((tid, _, _)) = target.last_stop {
                        keys.push_str(&target.lldb_stop_keys(tid));
                    }
                    match expedited {
                        Some(regs) => {
                            let mut iter = regs.iter().map(|(id, v)| (*id, &v[..]));
                            g.report_stop_with_keys(target, reason, &mut iter, &keys)
                                .map_err(protocol)?
                        }
                        None => g.report_stop(target, reason).map_err(protocol)?,
                    }
                } else {
                    let conn = g.borrow_conn();
                    let input =
                        conn.has_buffered_input() || wait_for(conn.as_fd(), sigchld.as_fd())?;
                    if input {
                        match g.borrow_conn().read_byte()? {
                            Some(b) => g.incoming_data(target, b).map_err(protocol)?,
                            None => return Ok(SessionEnd::ClientGone),
                        }
                    } else {
                        drain(sigchld);
                        sigchld_seen = true;
                        GdbStubStateMachine::Running(g)
                    }
                }
            }
            GdbStubStateMachine::CtrlCInterrupt(g) => {
                target.session.interrupt();
                g.interrupt_handled(target, None::<MultiThreadStopReason<u64>>)
                    .map_err(protocol)?
            }
            GdbStubStateMachine::Disconnected(g) => {
                let end = match g.get_reason() {
                    DisconnectReason::Disconnect => {
                        target.session.detach();
                        SessionEnd::Detached
                    }
                    DisconnectReason::Kill => {
                        target.session.kill();
                        SessionEnd::Killed
                    }
                    DisconnectReason::TargetExited(_) | DisconnectReason::TargetTerminated(_) => {
                        target.session.forget_ended();
                        SessionEnd::TargetEnded
                    }
                };
                // As gdbserver: in extended mode (`--multi`, or a client that sent `!`) the
                // connection outlives the process.
                if !(target.options.multi || tap.extended()) {
                    return Ok(end);
                }
                g.return_to_idle()
            }
        };
    }
}

/// Non-stop mode with threads running: until the client's next byte comes, each event of the
/// process is collected as it comes, and a `%Stop` notification sent when one is due.
fn watch_non_stop(
    target: &mut GdbTarget,
    conn: &mut BufferedConn,
    sigchld: &SignalFd,
) -> Result<(), SessionError> {
    while target.non_stop_watching() && !conn.has_buffered_input() {
        if wait_for(conn.as_fd(), sigchld.as_fd())? {
            break;
        }
        drain(sigchld);
        if let Some(note) = target.non_stop_events() {
            send(conn, &note)?;
        }
    }
    Ok(())
}

/// Feeds a whole packet to gdbstub.
fn feed<'a>(
    g: gdbstub::stub::state_machine::GdbStubStateMachineInner<
        'a,
        gdbstub::stub::state_machine::state::Idle<GdbTarget>,
        GdbTarget,
        BufferedConn,
    >,
    target: &mut GdbTarget,
    bytes: Vec<u8>,
) -> Result<GdbStubStateMachine<'a, GdbTarget, BufferedConn>, SessionError> {
    let mut sm = GdbStubStateMachine::Idle(g);
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        // Bytes are handed over until a packet completes; what follows goes to the new state.
        let (next, taken) = match sm {
            GdbStubStateMachine::Idle(g) => g.incoming_bytes(target, rest).map_err(protocol)?,
            GdbStubStateMachine::Running(g) => g.incoming_bytes(target, rest).map_err(protocol)?,
            other => return Ok(other),
        };
        sm = next;
        rest = rest.get(taken.max(1)..).unwrap_or_default();
    }
    Ok(sm)
}

/// The specific thread an `Hg`/`Hc` packet selects (`None` for "any" or "all", or another packet).
pub(super) fn selected_thread(packet: &[u8]) -> Option<Tid> {
    let body = packet.strip_prefix(b"$H")?;
    let body = &body[..body.iter().position(|&b| b == b'#')?];
    let id = body.get(1..)?;
    let id = match id.strip_prefix(b"p") {
        Some(multi) => &multi[multi.iter().position(|&b| b == b'.')? + 1..],
        None => id,
    };
    let id = std::str::from_utf8(id).ok()?;
    usize::from_str_radix(id, 16).ok().and_then(Tid::new)
}

/// The client thread, signal and kind a stop reply names, for lldb's thread questions.
fn stopped_thread(
    event: StopEvent,
    reason: MultiThreadStopReason<u64>,
) -> Option<(Tid, u8, StopKind)> {
    let kind = match event {
        StopEvent::SwBreak { .. } | StopEvent::HwBreak { .. } => StopKind::Breakpoint,
        StopEvent::Watch { .. } => StopKind::Watchpoint,
        StopEvent::Step { .. } => StopKind::Trace,
        StopEvent::Exec { .. } => StopKind::Exec,
        _ => StopKind::Signal,
    };
    match reason {
        MultiThreadStopReason::SwBreak(tid)
        | MultiThreadStopReason::HwBreak(tid)
        | MultiThreadStopReason::Watch { tid, .. } => Some((tid, libc::SIGTRAP as u8, kind)),
        MultiThreadStopReason::SignalWithThread { tid, signal } => Some((tid, signal.0, kind)),
        _ => None,
    }
}

/// The general registers of the stopping thread, so the client needs no `g` to show the stop.
fn expedited_registers(
    target: &mut GdbTarget,
    event: StopEvent,
) -> Option<Vec<(Amd64RegId, Vec<u8>)>> {
    let tid = event.thread()?;
    let gprs = target.session.backend_of(tid).ok()?.gprs(tid).ok()?;
    Some(Amd64Regs::expedited(&gprs))
}

fn send(conn: &mut BufferedConn, bytes: &[u8]) -> Result<(), SessionError> {
    use gdbstub::conn::Connection;
    conn.write_all(bytes)?;
    conn.flush()?;
    Ok(())
}

/// Blocks until the connection is readable (true) or SIGCHLD arrived (false).
fn wait_for(conn: BorrowedFd<'_>, sigchld: BorrowedFd<'_>) -> Result<bool, SessionError> {
    loop {
        let mut fds = [
            PollFd::new(conn, PollFlags::POLLIN),
            PollFd::new(sigchld, PollFlags::POLLIN),
        ];
        retry(|| poll(&mut fds, PollTimeout::NONE)).map_err(|e| SessionError::Io(e.into()))?;
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        if ready(&fds[0]) {
            return Ok(true);
        }
        if ready(&fds[1]) {
            return Ok(false);
        }
    }
}

/// Empties the signalfd (it is non-blocking) in one read where it can; the waitpid drain
/// happens in `poll_stop`. (SIGCHLD does not queue, so a few records at most are pending.)
fn drain(sigchld: &SignalFd) {
    const RECORD: usize = std::mem::size_of::<libc::signalfd_siginfo>();
    let mut buf = [0u8; 16 * RECORD];
    while let Ok(n) = nix::unistd::read(sigchld.as_fd(), &mut buf) {
        if n < buf.len() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::selected_thread;

    #[test]
    fn thread_selection_is_parsed_in_both_forms() {
        assert_eq!(
            selected_thread(b"$Hg1a2b#00").map(|t| t.get()),
            Some(0x1a2b)
        );
        assert_eq!(
            selected_thread(b"$Hcp10.7ffffff#00").map(|t| t.get()),
            Some(0x7ffffff)
        );
        assert_eq!(selected_thread(b"$Hg-1#00"), None);
        assert_eq!(selected_thread(b"$Hg0#00"), None);
        assert_eq!(selected_thread(b"$Hgp10.-1#00"), None);
        assert_eq!(selected_thread(b"$m10,4#00"), None);
        assert_eq!(selected_thread(b"$Hgzz#00"), None);
    }
}
