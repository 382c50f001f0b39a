//! Wait-status handling and all-stop: collecting statuses, keeping events met while stopping
//! every thread, rewinding breakpoint hits, range stepping and new threads and forks.
//!
//! Kernel quirks met here: a new thread's first stop (PTRACE_EVENT_STOP) may arrive before its
//! parent's PTRACE_EVENT_CLONE; a PTRACE_INTERRUPT sent to a thread that stops for another reason
//! first stays pending and shows up as a spurious PTRACE_EVENT_STOP after the next resume; the
//! thread-group leader's exit is reported only after every other thread has been reaped (so a
//! leader that exits alone is found as a zombie in /proc); and a watched access during a single
//! step is a TRAP_TRACE whose DR6 names the watchpoint.

use nix::sys::ptrace;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use super::super::debugregs::HwKind;
use super::super::error::ptrace_err;
use super::super::procfs;
use super::super::threads::{Action, Thread};
use super::super::wait::{self, Decision, Waited};
use super::super::{ProcessError, StopEvent};
use super::{next_stop_id, Inferior};

/// The `si_code`s of a SIGTRAP on x86: an int3 (SI_KERNEL), a step over `syscall`
/// (TRAP_BRKPT), any other single step (TRAP_TRACE), a debug-register hit (TRAP_HWBKPT).
pub(super) const SI_KERNEL: i32 = 0x80;
pub(super) const TRAP_BRKPT: i32 = 1;
pub(super) const TRAP_TRACE: i32 = 2;
pub(super) const TRAP_HWBKPT: i32 = 4;

/// Whether thread `tid` belongs to process `pid` (a new thread whose clone event is still to
/// come) rather than to a forked child.
fn same_process(pid: Pid, tid: Pid) -> bool {
    let status = procfs::read_text(&format!("/proc/{tid}/status")).unwrap_or_default();
    procfs::status_field(&status, "Tgid:").is_none_or(|tgid| tgid == pid.as_raw() as u64)
}

/// Whether a SIGTRAP is queued for thread `tid` and would be taken at its next resume (`SigPnd`
/// and `SigBlk` in its /proc status). The kernel unblocks the SIGTRAP of a debug trap, so a
/// blocked one is the program's own.
pub(super) fn sigtrap_queued(tid: Pid) -> bool {
    let Ok(status) = procfs::read_text(&format!("/proc/{tid}/status")) else {
        return false;
    };
    let pending =
        procfs::status_mask(&status, "SigPnd:") & !procfs::status_mask(&status, "SigBlk:");
    pending & (1 << (libc::SIGTRAP - 1)) != 0
}

/// A random index below `len` (len > 0), from the standard library's per-process random keys.
fn random_index(len: usize) -> usize {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(len);
    (h.finish() % len as u64) as usize
}

impl Inferior {
    /// Collects wait statuses without blocking. Returns the stop to report once every thread is
    /// stopped, or `None` while the process keeps running.
    pub fn poll_stop(&mut self) -> Result<Option<StopEvent>, ProcessError> {
        if !self.running {
            return Ok(None);
        }
        if let Some(event) = self.take_reportable() {
            return Ok(Some(self.finish_stop(event)?));
        }
        loop {
            let Some(status) = self.next_status(false)? else {
                if let Some(event) = self.take_reportable() {
                    return Ok(Some(self.finish_stop(event)?));
                }
                if self.drop_zombie_leader() {
                    continue;
                }
                if self.nothing_resumed() {
                    return Ok(Some(self.finish_stop(StopEvent::NoResumed)?));
                }
                return Ok(None);
            };
            if let Some(event) = self.on_status(status, false)? {
                return Ok(Some(self.finish_stop(event)?));
            }
        }
    }

    /// The next wait status of any thread (`None`: none ready, when not blocking). ECHILD means
    /// nothing traced is left: the process is marked gone and its end queued as killed.
    pub(super) fn next_status(&mut self, block: bool) -> Result<Option<WaitStatus>, ProcessError> {
        if let Some(status) = wait::take_stashed(|s| self.claims(s)) {
            return Ok(Some(status));
        }
        match wait::wait(None, block).map_err(ptrace_err(Pid::from_raw(-1)))? {
            Waited::Status(status) => Ok(Some(status)),
            Waited::Nothing => Ok(None),
            Waited::NoChildren => {
                self.mark_exited();
                self.pending.push_back(StopEvent::Killed(libc::SIGKILL));
                Ok(None)
            }
        }
    }

    /// Whether a wait status is this process's: of a thread it knows, or a stop of a new thread
    /// of it (its clone event still to come). Another process's thread, or one gone unknown,
    /// is not.
    pub(super) fn claims(&self, status: &WaitStatus) -> bool {
        let Some(tid) = status.pid() else {
            return true;
        };
        if tid == self.pid || self.threads.contains_key(&tid) {
            return true;
        }
        wait::decide(*status).is_stop() && same_process(self.pid, tid)
    }

    pub(super) fn finish_stop(&mut self, mut event: StopEvent) -> Result<StopEvent, ProcessError> {
        if !matches!(
            event,
            StopEvent::Exited(_) | StopEvent::Killed(_) | StopEvent::NoResumed
        ) {
            let mut also_hit = self.stop_all()?;
            if let StopEvent::SwBreak { tid } = event {
                // As gdbserver: report a random one of the threads that hit a breakpoint, so
                // one busy thread cannot starve the others in the client's view.
                also_hit.push(tid);
                let chosen = also_hit.swap_remove(random_index(also_hit.len()));
                event = StopEvent::SwBreak { tid: chosen };
            }
            self.other_breakpoint_hits = also_hit;
        }
        self.running = false;
        self.interrupt_requested = false;
        self.stop_id = next_stop_id();
        self.begin_stop();
        if let Some(tid) = event.thread() {
            self.prefetch_stop_pages(tid);
        }
        Ok(event)
    }

    /// Plans the pages the client reads at almost every stop (the stack near rsp and rbp of the
    /// reporting thread, and the code at its pc) to come in one batch with the first read.
    pub(super) fn prefetch_stop_pages(&mut self, tid: Pid) {
        let Ok(regs) = self
            .thread(tid)
            .and_then(|t| t.gprs().map(|g| *g).map_err(ptrace_err(tid)))
        else {
            return;
        };
        let page = |a: u64| a & !0xfff;
        self.memory.prefetch_with_first_read(vec![
            (page(regs.rsp), 0x2000),
            (page(regs.rbp), 0x1000),
            (page(regs.rip.saturating_sub(64)), 0x1000),
        ]);
    }

    /// Stops every running thread and waits until each is in a ptrace-stop (bounded by the
    /// threads that exist; a thread that exits meanwhile is dropped).
    /// Returns the threads that hit a software breakpoint meanwhile (each rewound to it).
    pub(super) fn stop_all(&mut self) -> Result<Vec<Pid>, ProcessError> {
        let mut also_hit = Vec::new();
        for t in self
            .threads
            .values()
            .filter(|t| !t.stopped && !t.awaiting_first_stop)
        {
            let _ = ptrace::interrupt(t.tid);
        }
        while !self.exited && self.threads.values().any(|t| !t.stopped) {
            // A leader that exited alone gives no status: waitpid would block for good.
            let leader_last = self.only_leader_unstopped();
            let Some(status) = self.next_status(!leader_last)? else {
                if !leader_last {
                    break;
                }
                if !self.drop_zombie_leader() {
                    wait::sigchld(std::time::Duration::from_millis(50));
                }
                continue;
            };
            match self.on_status(status, true)? {
                // Rewound already: the thread hits the breakpoint again when resumed, if the
                // breakpoint is still wanted.
                Some(StopEvent::SwBreak { tid }) => also_hit.push(tid),
                Some(event) => self.pending.push_back(event),
                None => {}
            }
        }
        Ok(also_hit)
    }

    /// Whether this resume runs the thread of a kept `event` (a thread the client named, or any
    /// thread without scheduler locking). An event kept for a thread that stays stopped waits for the
    /// resume that runs it, as gdbserver keeps a status pending with its thread: gdb, stepping
    /// one thread over a breakpoint, must not hear another thread's event (its
    /// `finish_step_over` asserts).
    fn resumes(&self, event: &StopEvent) -> bool {
        let locked = self.scheduler_locked;
        event.thread().is_none_or(|tid| {
            self.threads
                .get(&tid)
                .is_none_or(|t| !locked || t.action != Action::Hold)
        })
    }

    /// Whether an event kept from an earlier stop is to be reported by this resume.
    pub(super) fn has_reportable(&self) -> bool {
        self.pending.iter().any(|e| self.resumes(e))
    }

    /// The first kept event this resume reports, taken out of the queue.
    fn take_reportable(&mut self) -> Option<StopEvent> {
        let at = self.pending.iter().position(|e| self.resumes(e))?;
        self.pending.remove(at)
    }

    /// Whether the process runs but no thread of it does (each is held in a ptrace-stop, as
    /// /proc confirms): no stop can come, which the client hears as [`StopEvent::NoResumed`].
    /// Kernel quirk: at `exit_group` the leader turns zombie first (and is dropped as one that
    /// exited alone) while the other threads, held or not, are killed and run to their exit;
    /// those, and a process with no thread left, still have exit statuses to come, the
    /// leader's last (`N` instead of `W00` was the
    /// flake of `signals::sigusr1_reported_and_delivered` and
    /// `fork::item5_go_program_vfork_keeps_the_parents_goroutine_view`).
    pub(super) fn nothing_resumed(&self) -> bool {
        self.running
            && !self.exited
            && !self.threads.is_empty()
            && self.threads.values().all(|t| t.stopped)
            && self
                .threads
                .keys()
                .all(|&tid| procfs::is_held_in_ptrace_stop(tid))
    }

    fn only_leader_unstopped(&self) -> bool {
        let mut unstopped = self.threads.values().filter(|t| !t.stopped);
        unstopped.next().is_some_and(|t| t.tid == self.pid) && unstopped.next().is_none()
    }

    /// Kernel quirk: a thread-group leader that exits alone (`pthread_exit`) is a zombie that
    /// gives no wait status until every other thread is reaped; it can neither stop nor run.
    /// As gdbserver's `check_zombie_leaders`: when it is the only thread not yet stopped and
    /// /proc says it is a zombie, it leaves the thread list. Its exit status, when it comes,
    /// still ends the process. Returns whether it was dropped.
    pub(super) fn drop_zombie_leader(&mut self) -> bool {
        if self.threads.len() < 2 || !self.only_leader_unstopped() || !procfs::is_zombie(self.pid) {
            return false;
        }
        log::debug!("thread-group leader {} exited alone: dropped", self.pid);
        self.threads.remove(&self.pid);
        if let Some(&tid) = self.threads.keys().next() {
            if let Err(e) = self.memory.reach_through(tid) {
                log::warn!("memory through thread {tid}: {e}");
            }
        }
        true
    }

    pub(super) fn mark_exited(&mut self) {
        self.exited = true;
        self.running = false;
        self.threads.clear();
        self.breakpoints.forget_inserted();
    }

    /// Handles one wait status. `stopping` is true while all threads are being stopped: then
    /// nothing is resumed. Returns an event the client must see.
    pub(super) fn on_status(
        &mut self,
        status: WaitStatus,
        stopping: bool,
    ) -> Result<Option<StopEvent>, ProcessError> {
        log::trace!("wait status {status:?} (stopping: {stopping})");
        if !self.claims(&status) {
            // Another process's (a fork child's first stop ahead of its parent's fork event, or
            // a status of another process of the session): it waits for its owner.
            wait::stash(status);
            return Ok(None);
        }
        match wait::decide(status) {
            Decision::Gone { tid, end } => Ok(self.on_thread_gone(tid, end)),
            Decision::Cloned { tid } => {
                let new_tid = ptrace::getevent(tid).map_err(ptrace_err(tid))? as i32;
                let new_tid = Pid::from_raw(new_tid);
                // Kernel quirk: the new thread's first stop can come before this event, and the
                // thread may have run and exited (and been reaped) since: then it is not added
                // back, or stopping every thread would wait for it for good
                // (gdb.threads/multi-create.exp).
                let reaped = !self.threads.contains_key(&new_tid)
                    && !std::path::Path::new(&format!("/proc/{}/task/{new_tid}", self.pid))
                        .exists();
                if !reaped {
                    self.threads.entry(new_tid).or_insert_with(|| {
                        let mut t = Thread::new(new_tid);
                        t.awaiting_first_stop = true;
                        t
                    });
                }
                self.mark_stopped(tid);
                if !stopping {
                    self.rerun(tid)?;
                }
                Ok(None)
            }
            Decision::Forked { tid, vfork } => self.on_fork(tid, vfork, stopping),
            Decision::VforkDone { tid } => self.on_vfork_done(tid, stopping),
            Decision::Exec { tid } => {
                // The program replaced itself: one thread remains, under the leader's id, and
                // nothing of ours is in the new image (the kernel cleared the debug registers
                // too). The client plants its breakpoints again, as after gdbserver's exec.
                self.threads.clear();
                let mut leader = Thread::new(self.pid);
                leader.stopped = true;
                self.threads.insert(self.pid, leader);
                self.breakpoints.forget_all();
                self.debug_regs = Default::default();
                self.memory.after_exec(self.pid);
                self.exe = procfs::program_of(self.pid).ok();
                let _ = tid;
                Ok(Some(StopEvent::Exec { tid: self.pid }))
            }
            Decision::EventStop { tid } => {
                let first = self.threads.get(&tid).is_none_or(|t| t.awaiting_first_stop);
                self.mark_stopped(tid);
                if first && !self.debug_regs.is_empty() {
                    self.debug_regs.write_to(tid).map_err(ptrace_err(tid))?;
                }
                if stopping {
                    return Ok(None);
                }
                if self.non_stop.take_stop_request(tid) {
                    // Non-stop mode's `vCont;t`: a stop of its own, reported with signal 0.
                    return Ok(Some(StopEvent::Signal { tid, sig: 0 }));
                }
                if self.interrupt_requested && !first {
                    return Ok(Some(StopEvent::Signal {
                        tid,
                        sig: libc::SIGINT,
                    }));
                }
                // A new thread starts running; a spurious interrupt (left pending by a stop-all
                // that the thread answered with another stop) or a group stop is resumed as the
                // thread was running: a stepping thread keeps stepping.
                self.rerun(tid)?;
                Ok(None)
            }
            Decision::OtherEvent { tid } | Decision::SyscallStop { tid } => {
                self.mark_stopped(tid);
                if !stopping {
                    self.rerun(tid)?;
                }
                Ok(None)
            }
            Decision::Trap { tid } => {
                self.mark_stopped(tid);
                self.thread(tid)?.at_signal_stop = true;
                self.on_sigtrap(tid, stopping)
            }
            Decision::Signal { tid, sig } => {
                self.mark_stopped(tid);
                let t = self.thread(tid)?;
                t.at_signal_stop = true;
                if t.queued_signal == Some(sig) {
                    // The client's signal, queued at a stop that could not take it: it is
                    // delivered now, as the client asked.
                    t.queued_signal = None;
                    if stopping {
                        t.held_signal = Some(sig);
                    } else {
                        let step = matches!(t.action, Action::Step(_) | Action::RangeStep { .. });
                        t.run(step, Some(sig)).map_err(ptrace_err(tid))?;
                    }
                    return Ok(None);
                }
                let stepping = matches!(
                    self.thread(tid)?.action,
                    Action::Step(_) | Action::RangeStep { .. }
                );
                // A signal the client passes, met during its step, is its to step over the
                // handler (gdbserver reports it; gdb.base/sigrepeat.exp).
                let client_steps_over =
                    stepping && !stopping && self.signals.client_steps_over(sig);
                if self.signals.is_quiet(sig) && !client_steps_over {
                    let t = self.thread(tid)?;
                    if stopping || stepping {
                        t.held_signal = Some(sig);
                        if !stopping {
                            t.run(true, None).map_err(ptrace_err(tid))?;
                        }
                    } else {
                        t.run(false, Some(sig)).map_err(ptrace_err(tid))?;
                    }
                    if !stopping {
                        self.interrupt_again(tid);
                    }
                    return Ok(None);
                }
                Ok(Some(StopEvent::Signal { tid, sig }))
            }
            Decision::Nothing => Ok(None),
        }
    }

    pub(super) fn on_thread_gone(
        &mut self,
        tid: Pid,
        leader_event: StopEvent,
    ) -> Option<StopEvent> {
        if tid == self.pid {
            self.mark_exited();
            return Some(leader_event);
        }
        self.threads.remove(&tid);
        self.non_stop.thread_gone(tid, leader_event);
        None
    }

    pub(super) fn mark_stopped(&mut self, tid: Pid) {
        let t = self.threads.entry(tid).or_insert_with(|| Thread::new(tid));
        t.stopped = true;
        t.at_signal_stop = false;
        t.awaiting_first_stop = false;
    }

    /// Resumes a thread that stopped for something the client need not see, as it was running.
    pub(super) fn rerun(&mut self, tid: Pid) -> Result<(), ProcessError> {
        let t = self.thread(tid)?;
        let step = matches!(t.action, Action::Step(_) | Action::RangeStep { .. });
        t.run(step, None).map_err(ptrace_err(tid))?;
        self.interrupt_again(tid);
        Ok(())
    }

    /// Kernel quirk: any ptrace stop consumes a pending PTRACE_INTERRUPT ("the actual trap might
    /// not be PTRACE_EVENT_STOP but the pending condition is cleared regardless"). A thread
    /// interrupted by Ctrl-C that met a clone event, a quiet signal or its first stop instead
    /// is interrupted again once resumed, or the Ctrl-C would be lost (issue 11, found by the
    /// packet fuzzer).
    pub(super) fn interrupt_again(&self, tid: Pid) {
        if self.interrupt_requested || self.non_stop.stop_requested(tid) {
            let _ = ptrace::interrupt(tid);
        }
    }

    pub(super) fn on_sigtrap(
        &mut self,
        tid: Pid,
        stopping: bool,
    ) -> Result<Option<StopEvent>, ProcessError> {
        let info = ptrace::getsiginfo(tid).map_err(ptrace_err(tid))?;
        let stepping = matches!(
            self.thread(tid)?.action,
            Action::Step(_) | Action::RangeStep { .. }
        );
        if matches!(info.si_code, TRAP_BRKPT | TRAP_TRACE | TRAP_HWBKPT) {
            // DR6 at every hardware trap: a watched access during a single step or a range step
            // comes as TRAP_TRACE (DR6's step bit and the slot's bit both set), and is reported
            // as the watchpoint, as gdbserver does.
            match self.debug_regs.triggered(tid).map_err(ptrace_err(tid))? {
                Some((_, HwKind::Execute)) => {
                    return Ok((!stopping).then_some(StopEvent::HwBreak { tid }))
                }
                Some((addr, kind)) => return Ok(Some(StopEvent::Watch { tid, kind, addr })),
                None => {}
            }
        }
        match info.si_code {
            // x86 reports a step over `syscall` as TRAP_BRKPT (an int3 is SI_KERNEL), with the
            // pc after the syscall: never a breakpoint hit to rewind, even when a breakpoint sits
            // on the syscall's second byte.
            TRAP_BRKPT if stepping => self.on_step_done(tid, stopping),
            SI_KERNEL => {
                let pc = self.thread(tid)?.pc().map_err(ptrace_err(tid))?;
                let bp = pc.wrapping_sub(1);
                if self.breakpoints.is_inserted(bp) {
                    // Always report a software breakpoint with the pc AT the breakpoint, whether
                    // or not the client offered swbreak+ (lldb does not).
                    self.thread(tid)?.set_pc(bp).map_err(ptrace_err(tid))?;
                    return Ok(Some(StopEvent::SwBreak { tid }));
                }
                if self.breakpoints.was_removed(bp) {
                    // A late report of a breakpoint the client has removed since: the
                    // instruction under it has not run yet.
                    self.thread(tid)?.set_pc(bp).map_err(ptrace_err(tid))?;
                    if !stopping {
                        self.rerun(tid)?;
                    }
                    return Ok(None);
                }
                if stepping {
                    // The program's own int3, stepped.
                    return self.on_step_done(tid, stopping);
                }
                Ok(Some(StopEvent::Signal {
                    tid,
                    sig: libc::SIGTRAP,
                }))
            }
            TRAP_TRACE | TRAP_HWBKPT => self.on_step_done(tid, stopping),
            _ => Ok(Some(StopEvent::Signal {
                tid,
                sig: libc::SIGTRAP,
            })),
        }
    }

    pub(super) fn on_step_done(
        &mut self,
        tid: Pid,
        stopping: bool,
    ) -> Result<Option<StopEvent>, ProcessError> {
        if stopping {
            return Ok(None);
        }
        let t = self.thread(tid)?;
        if let Action::RangeStep { start, end } = t.action {
            let pc = t.pc().map_err(ptrace_err(tid))?;
            if (start..end).contains(&pc) && !self.breakpoints.is_inserted(pc) {
                self.thread(tid)?.run(true, None).map_err(ptrace_err(tid))?;
                return Ok(None);
            }
        }
        Ok(Some(StopEvent::Step { tid }))
    }
}
