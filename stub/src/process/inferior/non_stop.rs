//! Non-stop mode (gdb's `set non-stop on`): a thread that stops is reported alone and the others
//! run on. Each resume names the threads it runs, the others stay as they are (running or
//! stopped); a thread can be asked to stop alone (`vCont;t`), and its stop is reported with
//! signal 0; every stop and thread exit is an event of its own, reported as it comes.
//!
//! All-stop's machinery is reused: wait statuses go through `on_status` (a breakpoint hit is
//! rewound, quiet signals pass, new threads start running), but no thread is stopped on another's
//! behalf. Memory may change under the client while threads run: the page cache is dropped before
//! each client request, and breakpoint changes are written at once (debug registers by stopping
//! the running threads for the write).
//!
//! Kernel quirks: a PTRACE_INTERRUPT sent to a thread that stops for another reason first is
//! consumed by that stop, so a thread asked to stop that meets a quiet signal, a clone event or
//! its first stop is interrupted again when resumed (`interrupt_again`); the interrupt left
//! pending by a thread that reported a breakpoint instead shows up later as a spurious event stop,
//! which resumes it. A new thread's first stop may come before its parent's clone event: it is
//! asked to stop when its first stop comes.

use std::collections::{BTreeMap, BTreeSet};

use nix::sys::ptrace;
use nix::unistd::Pid;

use super::super::threads::Action;
use super::super::{ProcessError, StopEvent};
use super::resume::start;
use super::{next_stop_id, Inferior};

/// Which threads a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadSet {
    All,
    /// Every thread of one process (the session routes it: a process takes it as `All`).
    Process(Pid),
    One(Pid),
}

/// What a client request asks of the threads it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Run as the action says (a thread already running is left alone).
    Run(Action),
    /// Stop (a thread already stopped is left alone; no event is reported for it).
    Stop,
}

/// An event of non-stop mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonStopEvent {
    /// A thread stopped (the others run on), or the process ended.
    Stop(StopEvent),
    /// A thread other than the leader exited with this status (reported only while the client
    /// asked for thread events, or when the client waits for its stop).
    ThreadExited { tid: Pid, status: i32 },
}

/// The state non-stop mode keeps beside all-stop's.
#[derive(Debug, Default)]
pub(super) struct NonStopState {
    on: bool,
    thread_events: bool,
    /// Threads asked to stop whose stop has not come yet.
    stop_requested: BTreeSet<Pid>,
    /// Why each stopped thread stopped, as reported (for `?`).
    reasons: BTreeMap<Pid, StopEvent>,
    /// Thread exits met since the last `poll_events`.
    exits: Vec<NonStopEvent>,
}

impl NonStopState {
    /// The stop asked for thread `tid` came: reported with signal 0.
    pub(super) fn take_stop_request(&mut self, tid: Pid) -> bool {
        self.on && self.stop_requested.remove(&tid)
    }

    pub(super) fn stop_requested(&self, tid: Pid) -> bool {
        self.on && self.stop_requested.contains(&tid)
    }

    /// A thread other than the leader is gone, with `end` its exit.
    pub(super) fn thread_gone(&mut self, tid: Pid, end: StopEvent) {
        if !self.on {
            return;
        }
        self.reasons.remove(&tid);
        let waited_for = self.stop_requested.remove(&tid);
        if self.thread_events || waited_for {
            let status = match end {
                StopEvent::Exited(code) => code,
                _ => 0,
            };
            self.exits.push(NonStopEvent::ThreadExited { tid, status });
        }
    }
}

/// Non-stop control, as the protocol glue sees it (`Backend::non_stop`).
pub trait NonStop {
    /// Turns non-stop mode on or off. Turning it off while threads run stops them (their events
    /// are kept for the next all-stop resume).
    fn set_non_stop(&mut self, on: bool) -> Result<(), ProcessError>;
    fn enabled(&self) -> bool;
    /// Whether thread exits are reported (gdb's `QThreadEvents`).
    fn set_thread_events(&mut self, on: bool);
    /// Whether a thread runs (or is about to: a new thread before its first stop).
    fn any_running(&self) -> bool;
    /// Applies the client's requests: each thread takes the first request that names it; a
    /// wildcard run leaves out the threads in `unheard` (stopped, but the client has not been
    /// told yet), as gdbserver's wildcard resume leaves a thread with a queued stop reply alone.
    fn apply(
        &mut self,
        requests: &[(ThreadSet, Request)],
        unheard: &[Pid],
    ) -> Result<(), ProcessError>;
    /// Collects every wait status ready now, without blocking, and returns the events the
    /// client must hear, in order.
    fn poll_events(&mut self) -> Result<Vec<NonStopEvent>, ProcessError>;
    /// The stops `?` reports in non-stop mode: each thread whose stop the client was told, with
    /// the event it reported; when none was (the process's first stop, or non-stop mode just
    /// turned on), the first thread alone, with signal 0 (gdb takes an initial SIGTRAP as
    /// signal 0 anyway), as gdbserver does. The others count as running for the client: a
    /// `vCont;t` reports them stopped, a wildcard resume runs them.
    fn stopped_threads(&mut self) -> Vec<StopEvent>;
    /// gdb's `vCtrlC`: SIGINT to the process, as gdbserver sends it; the thread that takes it
    /// stops and is reported.
    fn interrupt_process(&mut self) -> Result<(), ProcessError>;
    /// Before a client request while threads run: what they may have changed is forgotten.
    fn before_request(&mut self);
    /// After a client request while threads run: breakpoint changes reach memory at once (gdb
    /// keeps breakpoints inserted in non-stop mode).
    fn after_request(&mut self) -> Result<(), ProcessError>;
}

impl NonStop for Inferior {
    fn set_non_stop(&mut self, on: bool) -> Result<(), ProcessError> {
        if !on && self.threads.values().any(|t| !t.stopped) {
            let also_hit = self.stop_all()?;
            self.other_breakpoint_hits = also_hit;
        }
        self.non_stop = NonStopState {
            on,
            thread_events: self.non_stop.thread_events,
            ..NonStopState::default()
        };
        self.running = false;
        Ok(())
    }

    fn set_thread_events(&mut self, on: bool) {
        self.non_stop.thread_events = on;
    }

    fn enabled(&self) -> bool {
        self.non_stop.on
    }

    fn any_running(&self) -> bool {
        !self.exited && self.threads.values().any(|t| !t.stopped)
    }

    fn apply(
        &mut self,
        requests: &[(ThreadSet, Request)],
        unheard: &[Pid],
    ) -> Result<(), ProcessError> {
        for (set, _) in requests {
            if let ThreadSet::One(tid) = set {
                self.thread(*tid)?;
            }
        }
        // Statuses already waiting are taken first (as running threads' events: nothing is
        // stopped for them); a thread whose event is still to be reported is not run.
        while !self.exited {
            let Some(status) = self.next_status(false)? else {
                break;
            };
            if let Some(event) = self.on_status(status, false)? {
                self.pending.push_back(event);
            }
        }
        let waiting: Vec<Pid> = self.pending.iter().filter_map(|e| e.thread()).collect();
        let chosen: Vec<(Pid, Request)> = self
            .threads
            .keys()
            .filter_map(|&tid| {
                // A wildcard stop reaches every thread; a wildcard run skips the unheard.
                let (_, request) = requests.iter().find(|(set, request)| match set {
                    ThreadSet::All | ThreadSet::Process(_) => {
                        matches!(request, Request::Stop) || !unheard.contains(&tid)
                    }
                    ThreadSet::One(one) => *one == tid,
                })?;
                Some((tid, *request))
            })
            .collect();
        let runs = chosen.iter().any(|(_, r)| matches!(r, Request::Run(_)));
        if runs && !self.exited {
            self.sync_breakpoints()?;
            self.memory.on_resume();
            self.other_breakpoint_hits.clear();
        }
        let pid = self.pid;
        for (tid, request) in chosen {
            let Some(t) = self.threads.get_mut(&tid) else {
                continue;
            };
            match request {
                // Stopped, but the client was never told: the stop it asks for is reported.
                Request::Stop if t.stopped && !self.non_stop.reasons.contains_key(&tid) => {
                    if !waiting.contains(&tid) {
                        self.pending.push_back(StopEvent::Signal { tid, sig: 0 });
                    }
                }
                Request::Stop if t.stopped => {}
                Request::Stop => {
                    if !t.awaiting_first_stop {
                        let _ = ptrace::interrupt(tid);
                    }
                    self.non_stop.stop_requested.insert(tid);
                }
                Request::Run(_) if !t.stopped || waiting.contains(&tid) => {}
                Request::Run(action) => {
                    t.action = action;
                    start(pid, t, action)?;
                    if action != Action::Hold {
                        self.non_stop.reasons.remove(&tid);
                    }
                }
            }
        }
        self.running = self.any_running() || !self.pending.is_empty();
        Ok(())
    }

    fn poll_events(&mut self) -> Result<Vec<NonStopEvent>, ProcessError> {
        let mut events = Vec::new();
        loop {
            while let Some(event) = self.pending.pop_front() {
                self.note_stop(event, &mut events);
            }
            events.append(&mut self.non_stop.exits);
            if self.exited {
                break;
            }
            let Some(status) = self.next_status(false)? else {
                if !self.pending.is_empty() {
                    continue;
                }
                if self.drop_zombie_leader() {
                    continue;
                }
                break;
            };
            if let Some(event) = self.on_status(status, false)? {
                self.note_stop(event, &mut events);
            }
        }
        events.append(&mut self.non_stop.exits);
        self.running = self.any_running();
        Ok(events)
    }

    fn stopped_threads(&mut self) -> Vec<StopEvent> {
        let told: Vec<StopEvent> = self
            .threads
            .values()
            .filter(|t| t.stopped)
            .filter_map(|t| self.non_stop.reasons.get(&t.tid).copied())
            .collect();
        if !told.is_empty() {
            return told;
        }
        let Some(first) = self.threads.values().find(|t| t.stopped).map(|t| t.tid) else {
            return Vec::new();
        };
        let stop = StopEvent::Signal { tid: first, sig: 0 };
        self.non_stop.reasons.insert(first, stop);
        vec![stop]
    }

    fn interrupt_process(&mut self) -> Result<(), ProcessError> {
        nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGINT).map_err(|source| {
            ProcessError::Ptrace {
                tid: self.pid.as_raw(),
                source,
            }
        })
    }

    fn before_request(&mut self) {
        if self.non_stop.on && self.any_running() {
            self.memory.on_resume();
        }
    }

    fn after_request(&mut self) -> Result<(), ProcessError> {
        if !(self.non_stop.on && self.any_running()) {
            return Ok(());
        }
        if !self.debug_regs.is_dirty() {
            return self.sync_breakpoints();
        }
        // Debug registers are per thread and written only in a ptrace-stop: the running threads
        // stop for the write and go on, as gdbserver's do. What they met meanwhile is kept: a
        // breakpoint hit is rewound (hit again), any other event is reported, its thread held.
        let running: Vec<Pid> = self
            .threads
            .values()
            .filter(|t| !t.stopped)
            .map(|t| t.tid)
            .collect();
        self.stop_all()?;
        self.sync_breakpoints()?;
        let waiting: Vec<Pid> = self.pending.iter().filter_map(|e| e.thread()).collect();
        for tid in running {
            if !waiting.contains(&tid) && self.threads.get(&tid).is_some_and(|t| t.stopped) {
                self.rerun(tid)?;
            }
        }
        Ok(())
    }
}

impl Inferior {
    /// Notes a stop the client is told of: the thread's requested stop is served, whatever
    /// stopped it.
    fn note_stop(&mut self, event: StopEvent, events: &mut Vec<NonStopEvent>) {
        if let Some(tid) = event.thread() {
            self.non_stop.stop_requested.remove(&tid);
            self.non_stop.reasons.insert(tid, event);
            self.stop_id = next_stop_id();
            self.begin_stop();
        }
        events.push(NonStopEvent::Stop(event));
    }
}
