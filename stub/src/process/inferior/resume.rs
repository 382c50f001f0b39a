//! Resume: the actions the client gave each thread, applied with the breakpoint changes; and
//! Ctrl-C. Resume is the one place that invalidates cached memory, and where the death of a
//! process killed from outside while stopped is found and reported (as the stop it resumes to).
//!
//! Kernel quirks: a signal given at a stop that is not a signal-delivery stop is dropped (it is
//! queued with tgkill instead, [`run_with_signal`]); a SIGKILL ends threads in a ptrace-stop
//! too; their exits wait in waitpid, and until they are reaped every ptrace request and
//! /proc/PID/mem write fails.

use nix::sys::ptrace;
use nix::unistd::Pid;

use super::super::threads::{Action, Thread};
use super::super::ProcessError;
use super::Inferior;

impl Inferior {
    pub fn clear_actions(&mut self) {
        self.scheduler_locked = false;
        for t in self.threads.values_mut() {
            t.action = Action::Hold;
        }
    }

    /// Applies breakpoint changes and starts the threads as their actions say. When an event is
    /// already pending for a thread this resume runs, nothing runs and the event is reported by
    /// the next `poll_stop` (the signals given are held for the next continue); the events of
    /// threads held stopped stay pending.
    pub fn resume(&mut self) -> Result<(), ProcessError> {
        self.reap_killed_while_stopped()?;
        if self.exited {
            // Killed from outside while stopped: the end is the stop this resume reports.
            if self.pending.is_empty() {
                return Err(ProcessError::Exited);
            }
            self.running = true;
            return Ok(());
        }
        if let Err(e) = self.sync_breakpoints() {
            if !self.killed_while_stopped() {
                return Err(e);
            }
            // Being killed right now: its end comes through poll_stop like any exit.
            log::debug!("resume: the process is being killed ({e})");
            self.running = true;
            return Ok(());
        }
        self.memory.on_resume();
        self.other_breakpoint_hits.clear();
        self.running = true;
        if self.has_reportable() {
            // Nothing runs: a signal given to a thread waits for its next continue (gdbserver
            // queues it so), else it would be lost (gdb.threads/siginfo-threads.exp).
            for t in self.threads.values_mut() {
                if let Action::Continue(Some(sig)) | Action::Step(Some(sig)) = t.action {
                    t.held_signal.get_or_insert(sig);
                }
            }
            return Ok(());
        }
        let locked = self.scheduler_locked;
        let pid = self.pid;
        for t in self.threads.values_mut() {
            if !t.stopped {
                continue;
            }
            let action = match t.action {
                Action::Hold if !locked => Action::Continue(None),
                other => other,
            };
            start(pid, t, action)?;
        }
        Ok(())
    }

    /// Collects the exits of threads killed while every thread was stopped (SIGKILL from another
    /// process): nothing else can end a stopped thread. The process's end is queued as the next
    /// stop.
    fn reap_killed_while_stopped(&mut self) -> Result<(), ProcessError> {
        while !self.exited {
            let Some(status) = self.next_status(false)? else {
                break;
            };
            if let Some(event) = self.on_status(status, true)? {
                self.pending.push_back(event);
            }
        }
        Ok(())
    }

    /// Whether a thread we hold stopped is gone (ESRCH): the process is being killed.
    fn killed_while_stopped(&self) -> bool {
        self.threads
            .keys()
            .any(|&tid| ptrace::read_user(tid, std::ptr::null_mut()) == Err(nix::Error::ESRCH))
    }

    /// All-stop across processes: another process of the session stopped, so this one stops
    /// too, with nothing to report; what its threads met while stopping is kept for its next
    /// resume (breakpoint hits are rewound: they come again).
    pub fn halt(&mut self) -> Result<(), ProcessError> {
        if !self.running {
            return Ok(());
        }
        self.other_breakpoint_hits = self.stop_all()?;
        self.running = false;
        self.stop_id = super::next_stop_id();
        self.begin_stop();
        Ok(())
    }

    /// Ctrl-C from the client: stops every thread; the next `poll_stop` reports SIGINT. A Ctrl-C
    /// while stopped is ignored, as gdbserver does (a request left standing would turn the next
    /// resume's first unreported stop into a SIGINT).
    pub fn interrupt(&mut self) {
        if !self.running {
            return;
        }
        self.interrupt_requested = true;
        for t in self.threads.values().filter(|t| !t.stopped) {
            let _ = ptrace::interrupt(t.tid);
        }
    }
}

/// Starts stopped thread `t` (of process `pid`) as `action` says; a continue takes the quiet
/// signal held for it, `Hold` leaves it stopped. A thread that died while stopped is left for
/// its exit status, which the next wait reaps.
pub(super) fn start(pid: Pid, t: &mut Thread, action: Action) -> Result<(), ProcessError> {
    let result = match action {
        Action::Hold => return Ok(()),
        Action::Continue(sig) => {
            let sig = sig.or_else(|| t.held_signal.take());
            run_with_signal(pid, t, false, sig)
        }
        Action::Step(sig) => run_with_signal(pid, t, true, sig),
        Action::RangeStep { .. } => t.run(true, None),
    };
    match result {
        Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
        Err(source) => Err(ProcessError::Ptrace {
            tid: t.tid.as_raw(),
            source,
        }),
    }
}

/// Resumes `t` (of process `pid`) with `sig`. Kernel quirk: a signal named at a stop other than
/// a signal-delivery stop (a PTRACE_INTERRUPT, group or event stop) is dropped; there the signal
/// is sent with tgkill instead, and its delivery stop, which comes at once, resumes the thread
/// with it (see `on_status`).
fn run_with_signal(pid: Pid, t: &mut Thread, step: bool, sig: Option<i32>) -> nix::Result<()> {
    match sig {
        Some(sig) if !t.at_signal_stop => {
            // SAFETY: tgkill takes three integers and touches no memory of ours.
            let sent =
                unsafe { libc::syscall(libc::SYS_tgkill, pid.as_raw(), t.tid.as_raw(), sig) };
            if sent != 0 {
                return Err(nix::Error::last());
            }
            t.queued_signal = Some(sig);
            t.run(step, None)
        }
        sig => t.run(step, sig),
    }
}
