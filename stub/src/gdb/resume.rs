//! Resume packets (`vCont` with continue, step, range step and scheduler locking) and the
//! translation of process stop events into stop replies.

use gdbstub::common::{Signal, Tid};
use gdbstub::stub::MultiThreadStopReason;
use gdbstub::target::ext::base::multithread::{
    MultiThreadRangeStepping, MultiThreadRangeSteppingOps, MultiThreadResume,
    MultiThreadSchedulerLocking, MultiThreadSchedulerLockingOps, MultiThreadSingleStep,
    MultiThreadSingleStepOps,
};
use gdbstub::target::ext::breakpoints::WatchKind;
use nix::unistd::Pid;

use super::signal_numbers::{from_gdb, to_gdb};
use super::{GdbTarget, StubError};
use crate::process::{Action, HwKind, StopEvent};

impl GdbTarget {
    /// A thread-specific action. A parked goroutine cannot run alone: the error makes the whole
    /// resume packet an error reply (see vendor/README.md), and nothing runs.
    fn set_action(&mut self, tid: Tid, action: Action) -> Result<(), StubError> {
        let pid = self
            .os_tid(tid)
            .inspect_err(|e| log::warn!("resume refused: {e}"))?;
        self.session.set_action(pid, action)?;
        self.resumed_as.insert(pid, tid);
        Ok(())
    }
}

impl MultiThreadResume for GdbTarget {
    fn resume(&mut self) -> Result<(), Self::Error> {
        self.backend()?;
        Ok(self.session.resume()?)
    }

    fn clear_resume_actions(&mut self) -> Result<(), Self::Error> {
        self.resumed_as.clear();
        self.session.clear_actions();
        Ok(())
    }

    fn set_resume_action_continue_process(
        &mut self,
        pid: Option<gdbstub::common::Pid>,
        _signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
        let pid = pid
            .and_then(|p| i32::try_from(p.get()).ok())
            .map(Pid::from_raw);
        self.session.continue_all_of(pid);
        Ok(())
    }

    fn set_resume_action_continue(
        &mut self,
        tid: Tid,
        signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
        self.set_action(tid, Action::Continue(signal.and_then(|s| from_gdb(s.0))))
    }

    fn support_single_step(&mut self) -> Option<MultiThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_range_step(&mut self) -> Option<MultiThreadRangeSteppingOps<'_, Self>> {
        Some(self)
    }

    fn support_scheduler_locking(&mut self) -> Option<MultiThreadSchedulerLockingOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadSingleStep for GdbTarget {
    fn set_resume_action_step(
        &mut self,
        tid: Tid,
        signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
        self.set_action(tid, Action::Step(signal.and_then(|s| from_gdb(s.0))))
    }
}

impl MultiThreadRangeStepping for GdbTarget {
    fn set_resume_action_range_step(
        &mut self,
        tid: Tid,
        start: u64,
        end: u64,
    ) -> Result<(), Self::Error> {
        self.set_action(tid, Action::RangeStep { start, end })
    }
}

impl MultiThreadSchedulerLocking for GdbTarget {
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), Self::Error> {
        self.session.lock_scheduler();
        Ok(())
    }
}

/// The stop reply for a process stop event; `tid` names the client thread of an OS thread.
pub fn stop_reason(
    event: StopEvent,
    mut tid: impl FnMut(nix::unistd::Pid) -> Tid,
) -> MultiThreadStopReason<u64> {
    match event {
        StopEvent::SwBreak { tid: t } => MultiThreadStopReason::SwBreak(tid(t)),
        StopEvent::HwBreak { tid: t } => MultiThreadStopReason::HwBreak(tid(t)),
        StopEvent::Watch { tid: t, kind, addr } => MultiThreadStopReason::Watch {
            tid: tid(t),
            kind: match kind {
                HwKind::Write => WatchKind::Write,
                HwKind::Read => WatchKind::Read,
                HwKind::ReadWrite | HwKind::Execute => WatchKind::ReadWrite,
            },
            addr,
        },
        // A step is reported with its thread (DoneStep would send a thread-less S05).
        StopEvent::Step { tid: t } => MultiThreadStopReason::SignalWithThread {
            tid: tid(t),
            signal: Signal::SIGTRAP,
        },
        StopEvent::Signal { tid: t, sig } => MultiThreadStopReason::SignalWithThread {
            tid: tid(t),
            signal: Signal(to_gdb(sig)),
        },
        // `T05` whose `exec:`, `fork:`, `vfork:` or `vforkdone:` key (`exec_events.rs`,
        // `fork_events.rs`) tells the client what happened.
        StopEvent::Exec { tid: t }
        | StopEvent::Fork { tid: t, .. }
        | StopEvent::VforkDone { tid: t } => MultiThreadStopReason::SignalWithThread {
            tid: tid(t),
            signal: Signal::SIGTRAP,
        },
        StopEvent::Exited(code) => MultiThreadStopReason::Exited(code as u8),
        StopEvent::Killed(sig) => MultiThreadStopReason::Terminated(Signal(to_gdb(sig))),
        StopEvent::NoResumed => MultiThreadStopReason::NoResumed,
    }
}

/// The reply for the end of the process the stub reports itself (`k`): `W` and the exit code,
/// or `X` and the signal.
pub fn end_reply(event: StopEvent) -> Option<String> {
    match event {
        StopEvent::Exited(code) => Some(format!("W{:02x}", code as u8)),
        StopEvent::Killed(sig) => Some(format!("X{:02x}", to_gdb(sig))),
        _ => None,
    }
}
