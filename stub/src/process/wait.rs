//! The one wait path: `waitpid` with EINTR retried and ECHILD turned into data ([`wait`]), and
//! the pure decision of what a wait status means ([`decide`]), which every caller (launch,
//! attach, the all-stop machinery, kill, fork release) matches on.
//!
//! Kernel quirks named here: `__WALL` is needed to see clone()d threads; ECHILD means nothing is
//! traced any more (the whole process is gone, possibly reaped by someone else); a thread's exit
//! may be reported as `Signaled` when the group was killed.
//!
//! With more than one process on a connection (fork children), `waitpid(-1)` run for one
//! process can collect another's status: that status is kept here ([`stash`]) until its
//! process asks ([`take_stashed`]). A forked child's first stop, which may come before its
//! parent's fork event, waits here the same way.

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::StopEvent;
use crate::eintr::retry;

/// What one `waitpid` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    Status(WaitStatus),
    /// Non-blocking wait: no status is ready yet.
    Nothing,
    /// ECHILD: no traced child is left.
    NoChildren,
}

/// Waits for `who` (`None`: any traced thread), blocking or not.
pub fn wait(who: Option<Pid>, block: bool) -> nix::Result<Waited> {
    let mut flags = WaitPidFlag::__WALL;
    if !block {
        flags |= WaitPidFlag::WNOHANG;
    }
    match retry(|| waitpid(who.unwrap_or(Pid::from_raw(-1)), Some(flags))) {
        Ok(WaitStatus::StillAlive) => Ok(Waited::Nothing),
        Ok(status) => Ok(Waited::Status(status)),
        Err(nix::Error::ECHILD) => Ok(Waited::NoChildren),
        Err(e) => Err(e),
    }
}

/// How many statuses of other processes are kept at most (the oldest goes first): a status
/// nobody claims (a process detached meanwhile) must not grow the list for good.
const STASH_MAX: usize = 4096;

thread_local! {
    /// Statuses collected for another process than the one that waited (the tracing thread's).
    static STASHED: std::cell::RefCell<std::collections::VecDeque<WaitStatus>> =
        const { std::cell::RefCell::new(std::collections::VecDeque::new()) };
}

/// Keeps a status that belongs to another process of the session.
pub fn stash(status: WaitStatus) {
    STASHED.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() >= STASH_MAX {
            s.pop_front();
        }
        s.push_back(status);
    });
}

/// The first kept status that `mine` claims, taken out.
pub fn take_stashed(mut mine: impl FnMut(&WaitStatus) -> bool) -> Option<WaitStatus> {
    STASHED.with(|s| {
        let mut s = s.borrow_mut();
        let at = s.iter().position(&mut mine)?;
        s.remove(at)
    })
}

/// Whether a kept status is one `mine` claims.
pub fn has_stashed(mut mine: impl FnMut(&WaitStatus) -> bool) -> bool {
    STASHED.with(|s| s.borrow().iter().any(&mut mine))
}

/// Waits up to `timeout` for a SIGCHLD (blocked in this process, so it stays pending until read
/// here or by the event loop's signalfd); returns early when one is pending. For waits that must
/// not block in `waitpid`: a zombie leader's exit wakes the tracer but gives no status.
pub fn sigchld(timeout: std::time::Duration) {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGCHLD);
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `set` and `ts` are valid for the call; a null siginfo pointer is allowed.
    let _ = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
}

/// What a wait status means for the tracer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The thread is gone; for the thread-group leader `end` is the process's end.
    Gone { tid: Pid, end: StopEvent },
    /// PTRACE_EVENT_CLONE: `tid` created a thread (its id comes from PTRACE_GETEVENTMSG).
    Cloned { tid: Pid },
    /// PTRACE_EVENT_FORK or _VFORK: `tid` created a process.
    Forked { tid: Pid, vfork: bool },
    /// PTRACE_EVENT_EXEC: the program replaced itself.
    Exec { tid: Pid },
    /// PTRACE_EVENT_STOP: a seized thread's first stop, an interrupt, or a group stop.
    EventStop { tid: Pid },
    /// PTRACE_EVENT_VFORK_DONE: `tid`'s vfork child exec'd or exited (the memory is its own
    /// again).
    VforkDone { tid: Pid },
    /// Any other ptrace event stop: resumed as it was running.
    OtherEvent { tid: Pid },
    /// A syscall stop (not asked for; resumed as it was running).
    SyscallStop { tid: Pid },
    /// SIGTRAP: a breakpoint, a step or a hardware trap (siginfo tells which).
    Trap { tid: Pid },
    /// Any other signal.
    Signal { tid: Pid, sig: i32 },
    /// Nothing to act on (`Continued`, `StillAlive`).
    Nothing,
}

/// The decision for one wait status: a pure function, testable without ptrace.
pub fn decide(status: WaitStatus) -> Decision {
    match status {
        WaitStatus::Exited(tid, code) => Decision::Gone {
            tid,
            end: StopEvent::Exited(code),
        },
        WaitStatus::Signaled(tid, sig, _) => Decision::Gone {
            tid,
            end: StopEvent::Killed(sig as i32),
        },
        WaitStatus::PtraceEvent(tid, _, event) => match event {
            libc::PTRACE_EVENT_CLONE => Decision::Cloned { tid },
            libc::PTRACE_EVENT_FORK => Decision::Forked { tid, vfork: false },
            libc::PTRACE_EVENT_VFORK => Decision::Forked { tid, vfork: true },
            libc::PTRACE_EVENT_EXEC => Decision::Exec { tid },
            libc::PTRACE_EVENT_VFORK_DONE => Decision::VforkDone { tid },
            libc::PTRACE_EVENT_STOP => Decision::EventStop { tid },
            _ => Decision::OtherEvent { tid },
        },
        WaitStatus::PtraceSyscall(tid) => Decision::SyscallStop { tid },
        WaitStatus::Stopped(tid, sig) if sig as i32 == libc::SIGTRAP => Decision::Trap { tid },
        WaitStatus::Stopped(tid, sig) => Decision::Signal {
            tid,
            sig: sig as i32,
        },
        WaitStatus::Continued(_) | WaitStatus::StillAlive => Decision::Nothing,
    }
}

impl Decision {
    /// Whether the thread is in a ptrace-stop now (it must be resumed or detached).
    pub fn is_stop(self) -> bool {
        !matches!(self, Decision::Gone { .. } | Decision::Nothing)
    }

    /// The signal a signal-delivery stop carries (SIGTRAP included).
    pub fn signal(self) -> Option<i32> {
        match self {
            Decision::Trap { .. } => Some(libc::SIGTRAP),
            Decision::Signal { sig, .. } => Some(sig),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;

    fn t(n: i32) -> Pid {
        Pid::from_raw(n)
    }

    #[test]
    fn exits_and_kills_end_the_thread() {
        assert_eq!(
            decide(WaitStatus::Exited(t(7), 3)),
            Decision::Gone {
                tid: t(7),
                end: StopEvent::Exited(3)
            }
        );
        assert_eq!(
            decide(WaitStatus::Signaled(t(7), Signal::SIGKILL, false)),
            Decision::Gone {
                tid: t(7),
                end: StopEvent::Killed(libc::SIGKILL)
            }
        );
        assert!(!decide(WaitStatus::Exited(t(7), 0)).is_stop());
    }

    #[test]
    fn ptrace_events_are_told_apart() {
        let ev = |e| decide(WaitStatus::PtraceEvent(t(5), Signal::SIGTRAP, e));
        assert_eq!(ev(libc::PTRACE_EVENT_CLONE), Decision::Cloned { tid: t(5) });
        assert_eq!(
            ev(libc::PTRACE_EVENT_FORK),
            Decision::Forked {
                tid: t(5),
                vfork: false
            }
        );
        assert_eq!(
            ev(libc::PTRACE_EVENT_VFORK),
            Decision::Forked {
                tid: t(5),
                vfork: true
            }
        );
        assert_eq!(ev(libc::PTRACE_EVENT_EXEC), Decision::Exec { tid: t(5) });
        assert_eq!(
            ev(libc::PTRACE_EVENT_STOP),
            Decision::EventStop { tid: t(5) }
        );
        assert_eq!(
            ev(libc::PTRACE_EVENT_VFORK_DONE),
            Decision::VforkDone { tid: t(5) }
        );
        assert!(ev(libc::PTRACE_EVENT_STOP).is_stop());
        assert_eq!(ev(libc::PTRACE_EVENT_STOP).signal(), None);
    }

    #[test]
    fn signal_stops_carry_their_signal() {
        let trap = decide(WaitStatus::Stopped(t(9), Signal::SIGTRAP));
        assert_eq!(trap, Decision::Trap { tid: t(9) });
        assert_eq!(trap.signal(), Some(libc::SIGTRAP));
        let urg = decide(WaitStatus::Stopped(t(9), Signal::SIGURG));
        assert_eq!(
            urg,
            Decision::Signal {
                tid: t(9),
                sig: libc::SIGURG
            }
        );
        assert_eq!(urg.signal(), Some(libc::SIGURG));
        assert_eq!(
            decide(WaitStatus::PtraceSyscall(t(9))),
            Decision::SyscallStop { tid: t(9) }
        );
    }

    #[test]
    fn nothing_to_act_on() {
        assert_eq!(decide(WaitStatus::Continued(t(1))), Decision::Nothing);
        assert_eq!(decide(WaitStatus::StillAlive), Decision::Nothing);
        assert!(!Decision::Nothing.is_stop());
    }

    #[test]
    fn wait_without_children_is_data() {
        // This test process traces nothing (other tests' children are waited for by pid).
        let got = wait(Some(Pid::from_raw(i32::MAX - 1)), false);
        assert!(matches!(got, Ok(Waited::NoChildren)), "{got:?}");
    }
}
