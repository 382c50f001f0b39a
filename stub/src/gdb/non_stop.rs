//! Non-stop mode's packets, answered in front of gdbstub (which has no non-stop mode):
//! `QNonStop`, `QThreadEvents`, `vStopped`, `vCtrlC`, and, while non-stop is on, `vCont` and `?`.
//! The process layer (`process/inferior/non_stop.rs`) decides what runs; this file parses the
//! packets, names threads and writes stop replies. gdbstub stays in its idle state throughout:
//! it answers every other packet (memory, registers, breakpoints) while threads run.
//!
//! Protocol quirks (gdb's "Remote Non-Stop", as gdbserver's `notif.cc` and `server.cc` do it):
//! - `vCont` replies `OK` at once; each stop comes later as a `%Stop:` notification (no ack).
//!   Stop replies wait in a queue whose head is the one sent: a notification goes out only when
//!   the queue was empty, and gdb drains the rest with `vStopped`, each answered with the next
//!   stop reply, and `OK` once the queue is empty.
//! - `?` queues the stop of every thread reported stopped (of a process stopped as a whole and
//!   not yet reported, as after `--attach`: the first thread only, as gdbserver) and answers
//!   with the first (or `OK`).
//! - A thread stopped by `vCont;t` is reported with signal 0 (`T00`); one already stopped is
//!   not reported again. A wildcard resume leaves alone the threads whose stop is still queued.
//! - A thread exit is `w` (status, then the thread), sent only after `QThreadEvents:1` or for a
//!   thread gdb asked to stop; the process's end is `W`/`X` with `process:`.
//! - Thread ids are `pPID.TID` and ends carry `;process:PID` only for a client that offered
//!   `multiprocess+` (gdb 13 does unless told `set remote multiprocess-feature-packet off`);
//!   otherwise gdb takes the pid for a new inferior's.
//!
//! In non-stop mode the client sees OS threads, whatever the thread view (a parked goroutine
//! cannot be stopped or run alone; see README "Non-stop mode").

use std::collections::VecDeque;

use gdbstub::common::Tid;
use gdbstub::stub::MultiThreadStopReason;
use gdbstub::target::ext::breakpoints::WatchKind;
use nix::unistd::Pid;

use super::error::reply;
use super::resume::stop_reason;
use super::signal_numbers::from_gdb;
use super::thread_id::{self, IdPart};
use super::{GdbTarget, StubError};
use crate::process::{Action, NonStop, NonStopEvent, ProcessError, Request, ThreadSet};

/// The client side of non-stop mode.
#[derive(Debug, Default)]
pub struct NonStopClient {
    on: bool,
    thread_events: bool,
    /// The client offered `multiprocess+`: thread ids are `pPID.TID`, ends name the process.
    multiprocess: bool,
    /// A reply filled the empty queue: its head goes out as a notification after the reply.
    notify: bool,
    /// Stop replies not yet acknowledged: the head was sent, the rest wait for `vStopped`.
    /// Each with the OS thread it reports.
    queue: VecDeque<(Option<Pid>, String)>,
}

impl NonStopClient {
    pub fn on(&self) -> bool {
        self.on
    }

    pub fn set_multiprocess(&mut self, offered: bool) {
        self.multiprocess = offered;
    }
}

/// What a packet in front of gdbstub is, for non-stop mode.
fn kind(payload: &str, on: bool) -> bool {
    payload.starts_with("QNonStop:")
        || payload.starts_with("QThreadEvents:")
        || payload == "vStopped"
        || payload == "vCtrlC"
        || (on
            && (payload == "?" || payload.starts_with("vCont;") || payload.starts_with("vAttach;")))
}

/// The payload of a framed packet (`$payload#xx`).
fn payload(packet: &[u8]) -> Option<&str> {
    let body = packet.strip_prefix(b"$")?;
    let end = body.iter().rposition(|&b| b == b'#')?;
    std::str::from_utf8(&body[..end]).ok()
}

impl GdbTarget {
    /// Whether the event loop answers this framed packet here.
    pub fn is_non_stop_packet(&self, packet: &[u8]) -> bool {
        payload(packet).is_some_and(|p| kind(p, self.non_stop.on))
    }

    /// The reply to a packet [`Self::is_non_stop_packet`] took.
    pub fn answer_non_stop(&mut self, packet: &[u8]) -> String {
        let Some(p) = payload(packet) else {
            return reply(StubError::BadArgument(String::new()));
        };
        log::trace!("<- {p}");
        let result = if let Some(arg) = p.strip_prefix("QNonStop:") {
            self.set_non_stop(arg)
        } else if let Some(arg) = p.strip_prefix("QThreadEvents:") {
            flag(arg).map(|on| {
                self.non_stop.thread_events = on;
                self.sync_non_stop_mode();
                "OK".to_string()
            })
        } else if p == "vStopped" {
            self.non_stop.queue.pop_front();
            Ok(self.queue_head())
        } else if p == "vCtrlC" {
            self.controls()
                .and_then(|c| Ok(c.interrupt_process()?))
                .map(|()| "OK".to_string())
        } else if p == "?" {
            Ok(self.all_stopped())
        } else if let Some(pid) = p.strip_prefix("vAttach;") {
            self.non_stop_attach(pid)
        } else {
            self.non_stop_resume(&p["vCont".len()..])
        };
        result.unwrap_or_else(reply)
    }

    fn set_non_stop(&mut self, arg: &str) -> Result<String, StubError> {
        let on = flag(arg)?;
        if on && self.session.backend_ref().is_some() && self.controls().is_err() {
            return Err(ProcessError::NotRunning.into());
        }
        self.non_stop.on = on;
        self.non_stop.queue.clear();
        // The thread view is OS threads in non-stop mode.
        self.view = None;
        self.sync_non_stop_mode();
        Ok("OK".to_string())
    }

    /// Gives every process (a new one too, after `vRun`) the client's mode.
    pub fn sync_non_stop_mode(&mut self) {
        let (on, events) = (self.non_stop.on, self.non_stop.thread_events);
        self.session.each_non_stop(|c| {
            c.set_thread_events(events);
            if c.enabled() != on {
                if let Err(e) = c.set_non_stop(on) {
                    log::warn!("non-stop mode {on}: {e}");
                }
            }
        });
    }

    fn controls(&mut self) -> Result<&mut dyn NonStop, StubError> {
        self.session
            .backend()?
            .non_stop_control()
            .ok_or_else(|| ProcessError::NotRunning.into())
    }

    /// Whether the loop must watch the processes while idle: non-stop, and something runs.
    pub fn non_stop_watching(&self) -> bool {
        self.non_stop.on && self.session.non_stop_running()
    }

    /// Before a packet gdbstub answers while threads run (the page cache is dropped).
    pub fn non_stop_before_packet(&mut self) {
        if self.non_stop.on {
            self.sync_non_stop_mode();
            self.session.each_non_stop(|c| c.before_request());
        }
    }

    /// After a packet gdbstub answered while threads run (breakpoints are written at once).
    pub fn non_stop_after_packet(&mut self) {
        if self.non_stop.on {
            self.sync_non_stop_mode();
            self.session.each_non_stop(|c| {
                if let Err(e) = c.after_request() {
                    log::warn!("breakpoints while threads run: {e}");
                }
            });
        }
    }

    /// Collects every process's events into the queue; returns the `%Stop` notification to
    /// send (framed) when the queue was empty.
    pub fn non_stop_events(&mut self) -> Option<Vec<u8>> {
        if !self.non_stop.on {
            return None;
        }
        let events = self.session.non_stop_events();
        let was_empty = self.non_stop.queue.is_empty();
        for (pid, event) in events {
            let entry = self.event_reply(pid, event);
            self.non_stop.queue.push_back(entry);
        }
        let notify = std::mem::take(&mut self.non_stop.notify) || was_empty;
        let head = &self.non_stop.queue.front()?.1;
        notify.then(|| notification(head))
    }

    fn queue_head(&self) -> String {
        self.non_stop
            .queue
            .front()
            .map_or_else(|| "OK".to_string(), |(_, text)| text.clone())
    }

    /// `?`: the stops the process layer lists (see `NonStop::stopped_threads`), the first as
    /// the reply.
    fn all_stopped(&mut self) -> String {
        let stops = self.session.non_stop_stopped_threads();
        self.non_stop.queue.clear();
        for (pid, stop) in stops {
            let entry = self.event_reply(pid, NonStopEvent::Stop(stop));
            self.non_stop.queue.push_back(entry);
        }
        self.queue_head()
    }

    /// `vAttach` in non-stop mode: `OK`, then the first thread's stop (signal 0) as a
    /// notification; gdb then stops the others (`vCont;t`), each reported as it is asked.
    fn non_stop_attach(&mut self, pid: &str) -> Result<String, StubError> {
        let pid =
            usize::from_str_radix(pid, 16).map_err(|_| StubError::BadArgument(pid.to_string()))?;
        self.attach_process(pid)?;
        self.sync_non_stop_mode();
        let was_empty = self.non_stop.queue.is_empty();
        self.all_stopped();
        self.non_stop.notify = was_empty && !self.non_stop.queue.is_empty();
        Ok("OK".to_string())
    }

    /// `vCont` in non-stop mode (`body` after `vCont`): applied at once, replied `OK`.
    fn non_stop_resume(&mut self, body: &str) -> Result<String, StubError> {
        let mut requests = Vec::new();
        for item in body.split(';').skip(1) {
            let (action, thread) = match item.split_once(':') {
                Some((a, t)) => (a, Some(t)),
                None => (item, None),
            };
            let request = parse_action(action)?;
            let set = match thread.map(parse_thread).transpose()? {
                None | Some(Named::All) => ThreadSet::All,
                Some(Named::Process(pid)) => ThreadSet::Process(pid),
                Some(Named::One(tid)) => ThreadSet::One(self.os_tid(tid)?),
            };
            requests.push((set, request));
        }
        if requests.is_empty() {
            return Err(StubError::BadArgument(body.to_string()));
        }
        let unheard: Vec<Pid> = self.non_stop.queue.iter().filter_map(|e| e.0).collect();
        self.session.non_stop_apply(&requests, &unheard)?;
        Ok("OK".to_string())
    }

    /// The stop reply for an event of process `pid`, and the OS thread it reports.
    fn event_reply(&mut self, pid: Pid, event: NonStopEvent) -> (Option<Pid>, String) {
        let pid = pid.as_raw();
        let (process, end) = match self.non_stop.multiprocess {
            true => (format!("p{pid:x}."), format!(";process:{pid:x}")),
            false => (String::new(), String::new()),
        };
        let event = match event {
            NonStopEvent::ThreadExited { tid, status } => {
                let text = format!("w{:02x};{process}{:x}", status as u8, tid.as_raw());
                return (None, text);
            }
            NonStopEvent::Stop(event) => event,
        };
        let mut keys = self.exec_stop_keys(event);
        keys.push_str(&self.fork_stop_keys(event));
        let thread = |tid: Tid| format!("thread:{process}{:x};", tid.get());
        let text = match stop_reason(event, |os| self.client_tid(os)) {
            MultiThreadStopReason::SwBreak(tid) => format!("T05{}swbreak:;", thread(tid)),
            MultiThreadStopReason::HwBreak(tid) => format!("T05{}hwbreak:;", thread(tid)),
            MultiThreadStopReason::Watch { tid, kind, addr } => {
                let key = match kind {
                    WatchKind::Write => "watch",
                    WatchKind::Read => "rwatch",
                    WatchKind::ReadWrite => "awatch",
                };
                format!("T05{}{key}:{addr:x};", thread(tid))
            }
            MultiThreadStopReason::SignalWithThread { tid, signal } => {
                format!("T{:02x}{}{keys}", signal.0, thread(tid))
            }
            MultiThreadStopReason::Exited(code) => format!("W{code:02x}{end}"),
            MultiThreadStopReason::Terminated(sig) => format!("X{:02x}{end}", sig.0),
            _ => "N".to_string(),
        };
        (event.thread(), text)
    }
}

/// `%payload#checksum`: a notification, which the client does not acknowledge.
pub fn notification(payload: &str) -> Vec<u8> {
    let text = format!("Stop:{payload}");
    let sum = text.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    format!("%{text}#{sum:02x}").into_bytes()
}

fn flag(arg: &str) -> Result<bool, StubError> {
    match arg {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(StubError::BadArgument(arg.to_string())),
    }
}

/// One `vCont` action: `c`, `Csig`, `s`, `Ssig`, `t`, `rSTART,END`.
fn parse_action(action: &str) -> Result<Request, StubError> {
    let bad = || StubError::BadArgument(action.to_string());
    let signal = |hex: &str| -> Result<Option<i32>, StubError> {
        let n = u8::from_str_radix(hex, 16).map_err(|_| bad())?;
        Ok(from_gdb(n))
    };
    let (head, rest) = action.split_at(action.len().min(1));
    Ok(match head {
        "c" if rest.is_empty() => Request::Run(Action::Continue(None)),
        "C" => Request::Run(Action::Continue(signal(rest)?)),
        "s" if rest.is_empty() => Request::Run(Action::Step(None)),
        "S" => Request::Run(Action::Step(signal(rest)?)),
        "t" if rest.is_empty() => Request::Stop,
        "r" => {
            let (start, end) = rest.split_once(',').ok_or_else(bad)?;
            let num = |s: &str| u64::from_str_radix(s, 16).map_err(|_| bad());
            Request::Run(Action::RangeStep {
                start: num(start)?,
                end: num(end)?,
            })
        }
        _ => return Err(bad()),
    })
}

/// The threads a `vCont` thread id names.
#[derive(Debug, PartialEq, Eq)]
enum Named {
    /// `-1`, `p-1`, `p-1.-1`: every thread of every process.
    All,
    /// `pPID`, `pPID.-1`: every thread of one process.
    Process(Pid),
    One(Tid),
}

fn parse_thread(id: &str) -> Result<Named, StubError> {
    let bad = || StubError::BadArgument(id.to_string());
    let parsed = thread_id::parse(id).ok_or_else(bad)?;
    match (parsed.process, parsed.thread) {
        (_, IdPart::Number(tid)) => Tid::new(tid as usize).map(Named::One).ok_or_else(bad),
        (None | Some(IdPart::All), IdPart::All) => Ok(Named::All),
        (Some(IdPart::Number(pid)), IdPart::All) => Ok(Named::Process(Pid::from_raw(pid))),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_thread_ids_parse() {
        assert_eq!(
            parse_action("c").unwrap(),
            Request::Run(Action::Continue(None))
        );
        assert_eq!(
            parse_action("C0a").unwrap(),
            Request::Run(Action::Continue(Some(libc::SIGBUS)))
        );
        assert_eq!(parse_action("t").unwrap(), Request::Stop);
        assert_eq!(
            parse_action("r10,20").unwrap(),
            Request::Run(Action::RangeStep {
                start: 0x10,
                end: 0x20
            })
        );
        for bad in ["", "x", "cz", "Czz", "r10", "tt"] {
            assert!(parse_action(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_thread("-1").unwrap(), Named::All);
        assert_eq!(parse_thread("p-1.-1").unwrap(), Named::All);
        let p1a = Named::Process(Pid::from_raw(0x1a));
        assert_eq!(parse_thread("p1a.-1").unwrap(), p1a);
        assert_eq!(parse_thread("p1a").unwrap(), p1a);
        let t1b = Named::One(Tid::new(0x1b).unwrap());
        assert_eq!(parse_thread("p1a.1b").unwrap(), t1b);
        assert_eq!(parse_thread("1b").unwrap(), t1b);
        for bad in ["0", "pzz.q", "pzz.-1", "p0.-1"] {
            assert!(parse_thread(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn notifications_are_framed_with_percent() {
        assert_eq!(notification("T05"), b"%Stop:T05#99".to_vec());
        assert!(kind("vStopped", false));
        assert!(!kind("?", false));
        assert!(kind("?", true));
        assert!(kind("vCont;c", true));
        assert!(!kind("vCont;c", false));
        assert!(!kind("vCont?", true));
        assert_eq!(payload(b"$vStopped#55"), Some("vStopped"));
    }
}
