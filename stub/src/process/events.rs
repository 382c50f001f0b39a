//! What the process layer reports: why the process stopped, and how it came under control.

use nix::unistd::Pid;

use super::debugregs::HwKind;

/// Why the process stopped, as the client must hear it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopEvent {
    /// A software breakpoint of ours; the pc is already at the breakpoint address.
    SwBreak {
        tid: Pid,
    },
    HwBreak {
        tid: Pid,
    },
    Watch {
        tid: Pid,
        kind: HwKind,
        addr: u64,
    },
    /// A single step or range step finished.
    Step {
        tid: Pid,
    },
    Signal {
        tid: Pid,
        sig: i32,
    },
    /// The program replaced itself (execve): `tid`, the group leader, is the one thread left,
    /// at the new program's first instruction.
    Exec {
        tid: Pid,
    },
    /// `tid` forked (or vforked) `child`, which is held stopped at its first instruction after
    /// the fork (`inferior/fork.rs`), for a client that asked for fork events.
    Fork {
        tid: Pid,
        child: Pid,
        vfork: bool,
    },
    /// `tid`'s vfork child exec'd or exited: the parent's memory is its own again.
    VforkDone {
        tid: Pid,
    },
    Exited(i32),
    Killed(i32),
    /// No thread is left running to report a stop: under scheduler locking the only resumed
    /// thread exited (gdbserver's `N`).
    NoResumed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Launched,
    Attached,
}

impl StopEvent {
    /// The thread the stop names, if any.
    pub fn thread(self) -> Option<Pid> {
        match self {
            StopEvent::SwBreak { tid }
            | StopEvent::HwBreak { tid }
            | StopEvent::Watch { tid, .. }
            | StopEvent::Step { tid }
            | StopEvent::Signal { tid, .. }
            | StopEvent::Exec { tid }
            | StopEvent::Fork { tid, .. }
            | StopEvent::VforkDone { tid } => Some(tid),
            StopEvent::Exited(_) | StopEvent::Killed(_) | StopEvent::NoResumed => None,
        }
    }
}
