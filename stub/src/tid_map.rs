//! The one place that maps the thread ids gdb and lldb see to Linux tids and goroutine ids.
//!
//! In the `os` view every thread id is a Linux tid. In the `goroutines` view a goroutine's thread
//! id is `GOROUTINE_ID_BASE + goid`, stable across stops however the Go scheduler moves it between
//! OS threads; an OS thread that runs no shown goroutine keeps its Linux tid. Linux tids never
//! reach the base (pid_max is at most 2^22), so the two ranges cannot collide.

use gdbstub::common::Tid;
use nix::unistd::Pid;

pub const GOROUTINE_ID_BASE: usize = 1 << 30;

/// What a client thread id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadRef {
    Os(Pid),
    Goroutine(u64),
}

impl ThreadRef {
    pub fn from_tid(tid: Tid) -> ThreadRef {
        let raw = tid.get();
        if raw >= GOROUTINE_ID_BASE {
            ThreadRef::Goroutine((raw - GOROUTINE_ID_BASE) as u64)
        } else {
            ThreadRef::Os(Pid::from_raw(raw as i32))
        }
    }

    /// The client thread id; `None` only for ids no client can carry (tid 0, a goid past usize).
    pub fn to_tid(self) -> Option<Tid> {
        match self {
            ThreadRef::Os(pid) => usize::try_from(pid.as_raw()).ok().and_then(Tid::new),
            ThreadRef::Goroutine(goid) => usize::try_from(goid)
                .ok()
                .and_then(|g| g.checked_add(GOROUTINE_ID_BASE))
                .and_then(Tid::new),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_do_not_collide() {
        for r in [
            ThreadRef::Os(Pid::from_raw(1)),
            ThreadRef::Os(Pid::from_raw(4_194_304)),
            ThreadRef::Goroutine(0),
            ThreadRef::Goroutine(17),
        ] {
            assert_eq!(ThreadRef::from_tid(r.to_tid().unwrap()), r);
        }
        assert!(ThreadRef::Os(Pid::from_raw(0)).to_tid().is_none());
        assert!(ThreadRef::Goroutine(u64::MAX).to_tid().is_none());
    }
}
