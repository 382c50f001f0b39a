//! One traced thread: its ptrace state, its resume action and its register cache.
//!
//! Registers are read from the kernel only when asked, once per stop, and written back at resume
//! only when the client changed them (a stop costs no GETREGS for threads nobody looks at).

use nix::sys::ptrace;
use nix::unistd::Pid;

use super::regs::{self, XState};

/// What the next resume does with this thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    /// Stays stopped (scheduler locking, or not named by the client).
    #[default]
    Hold,
    Continue(Option<i32>),
    Step(Option<i32>),
    /// Single-steps inside the stub while the pc stays in `start..end` (gdb's `vCont;r`).
    RangeStep {
        start: u64,
        end: u64,
    },
}

#[derive(Debug, Default)]
struct Cached<T> {
    value: Option<T>,
    dirty: bool,
}

#[derive(Debug)]
pub struct Thread {
    pub tid: Pid,
    /// In a ptrace-stop now.
    pub stopped: bool,
    /// Created by clone and its first ptrace-stop has not been seen yet.
    pub awaiting_first_stop: bool,
    pub action: Action,
    /// A quiet signal held back while the thread was stepped or stopped; delivered at the next
    /// continue.
    pub held_signal: Option<i32>,
    /// The thread's stop is a signal-delivery stop, the only one at which the kernel delivers
    /// the signal a resume names (at an interrupt, group or event stop it is dropped).
    pub at_signal_stop: bool,
    /// A signal the client gave at another kind of stop, sent with tgkill: its delivery stop
    /// is not reported; the thread is resumed with it there.
    pub queued_signal: Option<i32>,
    gprs: Cached<libc::user_regs_struct>,
    xstate: Cached<XState>,
    fs_base_seen: Option<u64>,
}

impl Thread {
    pub fn new(tid: Pid) -> Thread {
        Thread {
            tid,
            stopped: false,
            awaiting_first_stop: false,
            action: Action::Hold,
            held_signal: None,
            at_signal_stop: false,
            queued_signal: None,
            gprs: Cached {
                value: None,
                dirty: false,
            },
            xstate: Cached {
                value: None,
                dirty: false,
            },
            fs_base_seen: None,
        }
    }

    pub fn gprs(&mut self) -> nix::Result<&mut libc::user_regs_struct> {
        if self.gprs.value.is_none() {
            let regs = regs::get_gprs(self.tid)?;
            self.fs_base_seen = Some(regs.fs_base);
            self.gprs.value = Some(regs);
        }
        Ok(self.gprs.value.as_mut().expect("filled above"))
    }

    /// The registers if they were read at this stop already (no ptrace call).
    pub fn gprs_if_read(&self) -> Option<&libc::user_regs_struct> {
        self.gprs.value.as_ref()
    }

    /// The thread's fs_base as last read. A thread sets it once, when it starts (Go's settls,
    /// libc's clone), so it stands across stops; it only guides prefetching.
    pub fn fs_base_seen(&self) -> Option<u64> {
        self.fs_base_seen
    }

    pub fn xstate(&mut self) -> nix::Result<&mut XState> {
        if self.xstate.value.is_none() {
            self.xstate.value = Some(regs::get_xstate(self.tid)?);
        }
        Ok(self.xstate.value.as_mut().expect("filled above"))
    }

    /// Changes the registers (both sets are read first); they are written back before the
    /// thread runs.
    pub fn edit_registers(
        &mut self,
        edit: &mut dyn FnMut(&mut libc::user_regs_struct, &mut XState),
    ) -> nix::Result<()> {
        self.gprs()?;
        self.xstate()?;
        if let (Some(g), Some(x)) = (self.gprs.value.as_mut(), self.xstate.value.as_mut()) {
            edit(g, x);
        }
        self.gprs.dirty = true;
        self.xstate.dirty = true;
        Ok(())
    }

    pub fn pc(&mut self) -> nix::Result<u64> {
        Ok(self.gprs()?.rip)
    }

    pub fn set_pc(&mut self, pc: u64) -> nix::Result<()> {
        self.gprs()?.rip = pc;
        self.gprs.dirty = true;
        Ok(())
    }

    /// Writes back changed registers and forgets the cache; called just before the thread runs.
    pub fn flush_registers(&mut self) -> nix::Result<()> {
        if let (true, Some(g)) = (self.gprs.dirty, &self.gprs.value) {
            regs::set_gprs(self.tid, g)?;
        }
        if let (true, Some(x)) = (self.xstate.dirty, &self.xstate.value) {
            regs::set_xstate(self.tid, x)?;
        }
        self.gprs = Cached {
            value: None,
            dirty: false,
        };
        self.xstate = Cached {
            value: None,
            dirty: false,
        };
        Ok(())
    }

    /// Resumes the thread according to `how`; the register cache is flushed first.
    pub fn run(&mut self, step: bool, signal: Option<i32>) -> nix::Result<()> {
        self.flush_registers()?;
        let sig = signal.and_then(|s| nix::sys::signal::Signal::try_from(s).ok());
        if step {
            ptrace::step(self.tid, sig)?;
        } else {
            ptrace::cont(self.tid, sig)?;
        }
        self.stopped = false;
        Ok(())
    }
}
