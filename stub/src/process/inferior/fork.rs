//! Fork and vfork children. For a client that asked for fork events (gdb's `fork-events+`,
//! `vfork-events+`) each fork is a stop, and the child is held stopped, traced, as a process of
//! its own (an [`Inferior`] the session takes, see `process/processes.rs`) until the client
//! detaches or follows it; vfork-done is a stop too. Without them the child is cleaned of our
//! int3 bytes and let go at once, and vfork-done is resumed unseen.
//!
//! Kernel quirks met here:
//! - the child starts traced with the parent's ptrace options, in a stop of its own whose status
//!   may be collected before the parent's fork event (it waits in `wait::stash` then);
//! - a fork child's memory is a copy of the parent's, our int3 bytes included: as gdbserver's
//!   `clone_all_breakpoints`, the child gets a copy of the breakpoint table, so that the
//!   client's `z0` through the child (gdb's `detach_breakpoints`) and our own detach find them;
//! - a vfork child shares the parent's memory until it execs or exits (PTRACE_EVENT_VFORK_DONE in
//!   the parent), and the parent sleeps in vfork until then;
//! - debug registers are not inherited (a new task starts with them zeroed): the child gets the
//!   parent's wanted set, written to it before it runs, so the client can remove them as from
//!   the parent (gdbserver's `x86_linux_new_fork`).

use nix::sys::ptrace;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use super::super::backend::Backend;
use super::super::error::ptrace_err;
use super::super::threads::Thread;
use super::super::wait::{self, Waited};
use super::super::{ProcessError, StopEvent};
use super::Inferior;

/// Which forks the client wants to hear of (and whose children it wants held).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForkEvents {
    pub fork: bool,
    pub vfork: bool,
}

impl Inferior {
    /// PTRACE_EVENT_FORK or _VFORK of thread `tid`. `stopping`: met while every thread is being
    /// stopped (nothing is resumed then; a fork stop is kept for the next resume).
    pub(super) fn on_fork(
        &mut self,
        tid: Pid,
        vfork: bool,
        stopping: bool,
    ) -> Result<Option<StopEvent>, ProcessError> {
        let child = Pid::from_raw(ptrace::getevent(tid).map_err(ptrace_err(tid))? as i32);
        self.mark_stopped(tid);
        let wanted = if vfork {
            self.fork_events.vfork
        } else {
            self.fork_events.fork
        };
        if child_first_stop(child) {
            if wanted {
                match self.held_child(child, vfork) {
                    Ok(inf) => {
                        self.forked.push(inf);
                        return Ok(Some(StopEvent::Fork { tid, child, vfork }));
                    }
                    Err(e) => log::warn!("forked child {child} cannot be held: {e}"),
                }
            }
            self.release_child(child, vfork);
        }
        if !stopping {
            self.rerun(tid)?;
        }
        Ok(None)
    }

    /// PTRACE_EVENT_VFORK_DONE of thread `tid`: a stop for a client that hears of vforks.
    pub(super) fn on_vfork_done(
        &mut self,
        tid: Pid,
        stopping: bool,
    ) -> Result<Option<StopEvent>, ProcessError> {
        self.mark_stopped(tid);
        if self.fork_events.vfork {
            return Ok(Some(StopEvent::VforkDone { tid }));
        }
        if !stopping {
            self.rerun(tid)?;
        }
        Ok(None)
    }

    /// The child as a process of its own, stopped: one thread, the parent's breakpoint table
    /// (the int3 bytes are in its copy of memory) and wanted debug registers.
    fn held_child(&self, child: Pid, vfork: bool) -> Result<Inferior, ProcessError> {
        let mut inf = Inferior::new(child, self.origin, self.signals, self.cache_pages)?;
        let mut main = Thread::new(child);
        main.stopped = true;
        inf.threads.insert(child, main);
        inf.breakpoints = self.breakpoints.clone();
        inf.debug_regs = self.debug_regs.for_new_process();
        inf.fork_events = self.fork_events;
        inf.vfork_parent = vfork.then_some(self.pid);
        if inf.exe.is_none() {
            inf.exe.clone_from(&self.exe);
        }
        Ok(inf)
    }

    /// A child let go as the program forked it (the client follows no forks): its copy of
    /// memory still holds our int3 bytes, which are put back to the originals first. A vfork
    /// child shares the parent's memory and is let go as it is.
    fn release_child(&mut self, child: Pid, shares_memory: bool) {
        if !shares_memory {
            if let Ok(mut mem) = memcache::ProcMem::open(child.as_raw()) {
                for (addr, orig) in self.breakpoints.inserted_originals() {
                    if let Err(e) = mem.write(addr, &[orig]) {
                        log::warn!(
                            "forked child {child}: breakpoint at {addr:#x} not removed: {e}"
                        );
                    }
                }
            }
        }
        if let Err(e) = ptrace::detach(child, None) {
            log::warn!("forked child {child}: detach failed: {e}");
        }
    }

    /// The processes forked since the last call, held stopped, for the session to take.
    pub(super) fn take_forked(&mut self) -> Vec<Box<dyn Backend>> {
        self.forked
            .drain(..)
            .map(|inf| Box::new(inf) as Box<dyn Backend>)
            .collect()
    }

    /// A vfork child whose parent still shares its memory: the int3 bytes there are the
    /// parent's to take out, not this process's (its table is forgotten before a detach).
    pub(super) fn forget_shared_breakpoints(&mut self) {
        if self.vfork_parent.take().is_some() {
            self.breakpoints.forget_inserted();
        }
    }
}

/// Waits for a forked child's first stop (kept already, or to come); false if it died first.
fn child_first_stop(child: Pid) -> bool {
    let mine = |s: &WaitStatus| s.pid() == Some(child);
    let status = match wait::take_stashed(mine) {
        Some(status) => status,
        None => match wait::wait(Some(child), true) {
            Ok(Waited::Status(status)) => status,
            _ => return false,
        },
    };
    wait::decide(status).is_stop()
}
