//! Ending the session: kill (reaping every thread), detach (every int3 byte out, debug registers
//! cleared, held signals given back), release as a client disconnect does, and the same on drop.

use nix::sys::ptrace;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::super::debugregs::DebugRegs;
use super::super::error::ptrace_err;
use super::super::wait::{self, Decision, Waited};
use super::super::{Origin, ProcessError, StopEvent};
use super::stops::sigtrap_pending;
use super::Inferior;

impl Inferior {
    /// A thread interrupted right after it executed one of our int3s reports the interrupt
    /// first and still has the SIGTRAP queued; left alone, the signal would reach the program
    /// after a detach and kill it. Such a thread is resumed to take the SIGTRAP under ptrace,
    /// where `on_sigtrap` rewinds it. Returns whether the thread was resumed.
    pub(super) fn collect_pending_breakpoint_trap(
        &mut self,
        tid: Pid,
    ) -> Result<bool, ProcessError> {
        let pc = self.thread(tid)?.pc().map_err(ptrace_err(tid))?;
        if !self.breakpoints.is_inserted(pc.wrapping_sub(1)) || !sigtrap_pending(tid) {
            return Ok(false);
        }
        self.thread(tid)?
            .run(false, None)
            .map_err(ptrace_err(tid))?;
        Ok(true)
    }

    /// Blocks until `tid` is in a ptrace-stop again (or gone); other threads' statuses met
    /// meanwhile are handled as during a stop-all.
    pub(super) fn wait_for_thread_stop(&mut self, tid: Pid) -> Result<(), ProcessError> {
        while self.threads.get(&tid).is_some_and(|t| !t.stopped) && !self.exited {
            let Some(status) = self.next_status(true)? else {
                continue;
            };
            if let Some(event) = self.on_status(status, true)? {
                if !matches!(event, StopEvent::SwBreak { .. }) {
                    self.pending.push_back(event);
                }
            }
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
        while let Ok(Waited::Status(status)) = wait::wait(None, true) {
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
        // Breakpoint hits met while stopping were rewound; they simply do not happen. A hit
        // still queued behind an interrupt stop is taken now, while the int3 is there to see.
        let tids: Vec<Pid> = self.threads.keys().copied().collect();
        for tid in tids {
            if self.collect_pending_breakpoint_trap(tid)? {
                self.wait_for_thread_stop(tid)?;
            }
        }
        for (addr, byte) in self.breakpoints.plan_remove_all() {
            self.write_raw(addr, &[byte])?;
        }
        let had_debug_regs = !self.debug_regs.is_empty();
        self.debug_regs = DebugRegs::default();
        for t in self.threads.values_mut() {
            if had_debug_regs {
                let _ = self.debug_regs.write_to(t.tid);
            }
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
