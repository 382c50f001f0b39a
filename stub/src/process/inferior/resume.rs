//! Resume: the actions the client gave each thread, applied with the breakpoint changes; and
//! Ctrl-C. Resume is the one place that invalidates cached memory.

use nix::sys::ptrace;

use super::super::threads::Action;
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
    /// already pending, nothing runs and the event is reported by the next `poll_stop`.
    pub fn resume(&mut self) -> Result<(), ProcessError> {
        if self.exited {
            return Err(ProcessError::Exited);
        }
        self.sync_breakpoints()?;
        self.memory.on_resume();
        self.other_breakpoint_hits.clear();
        self.running = true;
        if !self.pending.is_empty() {
            return Ok(());
        }
        let locked = self.scheduler_locked;
        for t in self.threads.values_mut() {
            if !t.stopped {
                continue;
            }
            let action = match t.action {
                Action::Hold if !locked => Action::Continue(None),
                other => other,
            };
            let result = match action {
                Action::Hold => continue,
                Action::Continue(sig) => {
                    let sig = sig.or_else(|| t.held_signal.take());
                    t.run(false, sig)
                }
                Action::Step(sig) => t.run(true, sig),
                Action::RangeStep { .. } => t.run(true, None),
            };
            match result {
                // The thread died while stopped; its exit status is reaped by poll_stop.
                Ok(()) | Err(nix::Error::ESRCH) => {}
                Err(source) => {
                    return Err(ProcessError::Ptrace {
                        tid: t.tid.as_raw(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// Ctrl-C from the client: stops every thread; the next `poll_stop` reports SIGINT.
    pub fn interrupt(&mut self) {
        self.interrupt_requested = true;
        for t in self.threads.values().filter(|t| !t.stopped) {
            let _ = ptrace::interrupt(t.tid);
        }
    }
}
