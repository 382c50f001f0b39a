//! The one map from an error to what the client hears. Every failure of a request is a
//! [`StubError`] carrying its cause; [`errno`] picks the errno the reply names, and
//! [`target_error`] (gdbstub's `TargetError` paths) and [`reply`] (packets answered by the tap
//! and the lldb glue) are the only places that turn one into a reply, logging the cause there.
//!
//! Protocol quirk: an error reply is `Exx` with a two-digit hex errno, and clients only test
//! that it is an error; the numbers are gdbserver's where it has one (`E01` for an unreadable
//! /proc fact, `E02` for an unknown thread, `E03` without a process, `E16` for a bad argument).

use gdbstub::target::TargetError;
use memcache::MemError;

use crate::goroutines::GoViewError;
use crate::process::ProcessError;

#[derive(Debug, thiserror::Error)]
pub enum StubError {
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    Memory(#[from] MemError),
    /// The thread view: a parked goroutine has no OS thread to run or write registers of.
    #[error("goroutine {goid} is parked: it cannot run alone or have its registers written")]
    GoroutineParked { goid: u64 },
    /// The thread view: a goroutine shown where a signal interrupted it; its thread runs the
    /// handler, whose registers are not the ones shown.
    #[error("goroutine {goid} is interrupted by a signal: its registers cannot be written")]
    GoroutineInSignalHandler { goid: u64 },
    #[error(transparent)]
    Go(#[from] GoViewError),
    #[error("run failed: {0}")]
    Run(ProcessError),
    #[error("attach failed: {0}")]
    Attach(ProcessError),
    #[error("no process {0}")]
    BadPid(usize),
    #[error("no thread {0:#x}")]
    UnknownThread(usize),
    #[error("the exec file is unknown: {0}")]
    ExecFile(ProcessError),
    /// A process fact lldb asked for (cwd, memory regions) that /proc would not give.
    #[error("{0}")]
    Query(ProcessError),
    /// `qGetTLSAddr` while `monitor set libthread-db-search-path` finds no libthread_db.
    #[error("no libthread_db.so.1 in libthread-db-search-path {0:?}")]
    NoThreadDb(String),
    #[error("bad argument {0:?}")]
    BadArgument(String),
    #[error("bad register value")]
    RegisterValue,
    #[error("packet longer than {0} bytes")]
    PacketTooLong(usize),
}

/// The errno an error is reported with.
pub fn errno(e: &StubError) -> u8 {
    let n = match e {
        StubError::Process(p) => process_errno(p),
        StubError::Memory(_) => libc::EFAULT,
        StubError::GoroutineParked { .. } | StubError::GoroutineInSignalHandler { .. } => {
            libc::EPERM
        }
        StubError::Go(_) | StubError::NoThreadDb(_) => libc::EIO,
        StubError::Run(ProcessError::NoProgram) => libc::EINVAL,
        StubError::Run(_) => libc::EIO,
        StubError::Attach(_) => libc::EPERM,
        StubError::BadPid(_) | StubError::ExecFile(_) => libc::ESRCH,
        StubError::UnknownThread(_) => libc::ENOENT,
        StubError::Query(ProcessError::NoProcess) => libc::ESRCH,
        StubError::Query(_) => libc::EPERM,
        StubError::BadArgument(_) | StubError::RegisterValue | StubError::PacketTooLong(_) => {
            libc::EINVAL
        }
    };
    n as u8
}

fn process_errno(e: &ProcessError) -> i32 {
    match e {
        ProcessError::NoSuchThread(_) | ProcessError::Exited | ProcessError::NoProcess => {
            libc::ESRCH
        }
        ProcessError::Memory(_) => libc::EFAULT,
        ProcessError::Hardware(_) | ProcessError::NoProgram => libc::EINVAL,
        // A core file: nothing runs, nothing can be written.
        ProcessError::NotRunning => libc::EPERM,
        _ => libc::EIO,
    }
}

/// A failed gdbstub request: the errno reply, with the cause logged.
pub fn target_error(e: impl Into<StubError>) -> TargetError<StubError> {
    let e = e.into();
    let n = errno(&e);
    log::debug!("request failed (E{n:02x}): {e}");
    TargetError::Errno(n)
}

/// A failed request the stub answers itself: the `Exx` payload, with the cause logged.
pub fn reply(e: impl Into<StubError>) -> String {
    let e = e.into();
    let n = errno(&e);
    log::debug!("request failed (E{n:02x}): {e}");
    format!("E{n:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_stay_as_gdbserver_sends_them() {
        assert_eq!(reply(StubError::PacketTooLong(8)), "E16");
        assert_eq!(reply(StubError::BadArgument("zz".into())), "E16");
        assert_eq!(reply(StubError::UnknownThread(5)), "E02");
        assert_eq!(reply(StubError::Query(ProcessError::NoProcess)), "E03");
        assert_eq!(reply(StubError::Query(ProcessError::Exited)), "E01");
        assert_eq!(reply(ProcessError::NoSuchThread(3)), "E03");
        assert_eq!(reply(MemError::Unreadable { addr: 0 }), "E0e");
        assert_eq!(reply(StubError::GoroutineParked { goid: 1 }), "E01");
        assert_eq!(
            reply(StubError::GoroutineInSignalHandler { goid: 1 }),
            "E01"
        );
        assert_eq!(reply(StubError::Run(ProcessError::NoProgram)), "E16");
        assert_eq!(reply(StubError::Run(ProcessError::Exited)), "E05");
        assert_eq!(reply(StubError::Attach(ProcessError::Exited)), "E01");
        assert_eq!(reply(StubError::ExecFile(ProcessError::NoProcess)), "E03");
        assert_eq!(reply(ProcessError::NotRunning), "E01");
    }
}
