//! Ending the session: kill (reaping every thread), detach (every int3 byte out, debug registers
//! cleared on every thread, queued debug traps taken, held signals given back), release as a
//! client disconnect does, and the same on drop.
//!
//! Kernel quirks met here: debug registers live in each thread and stay armed until written, so
//! an emptied wanted set proves nothing about the threads; a thread's SIGTRAP from a debug trap
//! stays queued behind a PTRACE_INTERRUPT stop and is delivered by PTRACE_DETACH's resume.

use nix::sys::ptrace;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::super::debugregs::{self, DebugRegs};
use super::super::error::ptrace_err;
use super::super::wait::{self, Decision, Waited};
use super::super::{Origin, ProcessError, StopEvent};
use super::stops::{sigtrap_queued, SI_KERNEL, TRAP_BRKPT, TRAP_HWBKPT, TRAP_TRACE};
use super::Inferior;

/// How many stops a thread may report before its queued SIGTRAP: a pending interrupt and the
/// signals numbered below SIGTRAP (they are dequeued first).
const STOPS_BEFORE_TRAP: usize = 6;

/// Whether thread `tid` is stopped delivering `sig` as a fault the kernel raised (SIGILL,
/// SIGSEGV, SIGBUS or SIGFPE with a positive `si_code`), not one sent by a process.
fn is_fault(tid: Pid, sig: i32) -> bool {
    const FAULTS: [i32; 4] = [libc::SIGILL, libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE];
    FAULTS.contains(&sig)
        && ptrace::getsiginfo(tid).is_ok_and(|info| info.si_signo == sig && info.si_code > 0)
}

impl Inferior {
    /// A thread stopped by PTRACE_INTERRUPT right after it executed one of our int3s, hit a
    /// debug register or finished a step reports the interrupt first and keeps the SIGTRAP
    /// queued; left alone, the signal reaches the program after the detach and kills it. Such
    /// a thread is resumed to take the SIGTRAP under ptrace (it stops before it runs any code):
    /// a trap of ours is dropped (an int3 hit rewound to the breakpoint), the program's own
    /// SIGTRAP and any signal dequeued ahead of it are kept for the detach.
    fn take_queued_trap(&mut self, tid: Pid) -> Result<(), ProcessError> {
        for _ in 0..STOPS_BEFORE_TRAP {
            if !sigtrap_queued(tid) {
                return Ok(());
            }
            match self.thread(tid)?.run(false, None) {
                Ok(()) => {}
                Err(nix::Error::ESRCH) => return Ok(()),
                Err(e) => return Err(ptrace_err(tid)(e)),
            }
            let status = match wait::wait(Some(tid), true).map_err(ptrace_err(tid))? {
                Waited::Status(status) => status,
                Waited::Nothing | Waited::NoChildren => return Ok(()),
            };
            let decision = wait::decide(status);
            if let Decision::Gone { tid, end } = decision {
                self.on_thread_gone(tid, end);
                return Ok(());
            }
            self.mark_stopped(tid);
            match decision.signal() {
                Some(libc::SIGTRAP) if self.drop_our_trap(tid)? => {}
                Some(sig) => self.keep_for_detach(tid, sig)?,
                None => {}
            }
        }
        Ok(())
    }

    /// Whether the SIGTRAP `tid` stopped with is one of ours; an int3 hit is rewound.
    fn drop_our_trap(&mut self, tid: Pid) -> Result<bool, ProcessError> {
        let info = ptrace::getsiginfo(tid).map_err(ptrace_err(tid))?;
        match info.si_code {
            TRAP_BRKPT | TRAP_TRACE | TRAP_HWBKPT => Ok(true),
            SI_KERNEL => {
                let t = self.thread(tid)?;
                let bp = t.pc().map_err(ptrace_err(tid))?.wrapping_sub(1);
                if !self.breakpoints.is_inserted(bp) && !self.breakpoints.was_removed(bp) {
                    return Ok(false);
                }
                self.thread(tid)?.set_pc(bp).map_err(ptrace_err(tid))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// A signal of the program's met while detaching: given with the detach, or sent after it.
    fn keep_for_detach(&mut self, tid: Pid, sig: i32) -> Result<(), ProcessError> {
        let t = self.thread(tid)?;
        if t.held_signal.is_none() {
            t.held_signal = Some(sig);
        } else {
            self.pending.push_back(StopEvent::Signal { tid, sig });
        }
        Ok(())
    }

    /// Kills the process and reaps it.
    pub fn kill(&mut self) {
        if self.exited {
            return;
        }
        let _ = kill(self.pid, Signal::SIGKILL);
        // Reap every thread; the leader's status comes last (bounded by the kernel's reaping).
        // Another process's statuses are kept for it.
        while let Ok(Waited::Status(status)) = wait::wait(None, true) {
            if !self.claims(&status) {
                wait::stash(status);
                continue;
            }
            if matches!(wait::decide(status), Decision::Gone { tid, .. } if tid == self.pid) {
                break;
            }
        }
        self.mark_exited();
    }

    /// Takes every breakpoint out, clears the debug registers and lets the process run on.
    pub fn detach(&mut self) -> Result<(), ProcessError> {
        if self.exited {
            return Ok(());
        }
        if self.running {
            self.interrupt_requested = false;
            self.stop_all()?;
            self.running = false;
        }
        // A fault met while stopping is not sent again: the thread goes on at the faulting
        // instruction, which faults again if the fault is the program's own and not our int3's
        // (out by then).
        self.pending.retain(|e| match *e {
            StopEvent::Signal { tid, sig } => !is_fault(tid, sig),
            _ => true,
        });
        // Every thread is disarmed, whatever the wanted set says: a slot removed since the
        // last resume is still armed in the threads.
        self.debug_regs = DebugRegs::default();
        for &tid in self.threads.keys() {
            if let Err(e) = debugregs::clear_thread(tid) {
                log::warn!("thread {tid}: debug registers not cleared: {e}");
            }
        }
        // Breakpoint hits met while stopping were rewound; they simply do not happen. A trap
        // still queued behind an interrupt stop is taken now, while the int3 is there to see.
        let tids: Vec<Pid> = self.threads.keys().copied().collect();
        for tid in tids {
            self.take_queued_trap(tid)?;
        }
        if self.exited {
            return Ok(());
        }
        // A page that cannot be written any more (unmapped since) holds no int3 of ours: the
        // other breakpoints still come out, and the program is not killed for it.
        for (addr, byte) in self.breakpoints.plan_remove_all() {
            if let Err(e) = self.write_raw(addr, &[byte]) {
                log::warn!("detach: breakpoint at {addr:#x} not removed: {e}");
            }
        }
        for t in self.threads.values_mut() {
            let _ = t.flush_registers();
            let sig = t.held_signal.take().and_then(|s| Signal::try_from(s).ok());
            let _ = ptrace::detach(t.tid, sig);
        }
        // Signals met while stopping that the client never saw go back to the program.
        for event in self.pending.drain(..) {
            if let StopEvent::Signal { tid, sig } = event {
                if self.signals.given_back_at_detach(sig) {
                    let _ = nix::sys::signal::kill(tid, Signal::try_from(sig).ok());
                }
            }
        }
        self.mark_exited();
        Ok(())
    }

    /// What a client disconnect does, as gdbserver: a launched process is killed, an attached
    /// one detached.
    pub fn release(&mut self) {
        match self.origin {
            Origin::Launched => self.kill(),
            Origin::Attached => {
                if let Err(e) = self.detach() {
                    log::error!("detach failed: {e}");
                    self.kill();
                }
            }
        }
    }
}

impl Drop for Inferior {
    /// Never leave the debuggee with our int3 bytes, whatever ended the session.
    fn drop(&mut self) {
        self.release();
    }
}
