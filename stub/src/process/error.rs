//! The process layer's error: every failure carries its cause (the ptrace call and thread, the
//! /proc file, the memory address). `gdb/error.rs` maps it to the one reply the client hears.

use nix::unistd::Pid;

use super::core::CoreError;
use super::debugregs::HwError;
use super::launch::StartError;
use super::svr4::Svr4Error;
use super::tls::TlsError;
use memcache::MemError;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("ptrace on thread {tid} failed: {source}")]
    Ptrace { tid: i32, source: nix::Error },
    #[error("no thread {0}")]
    NoSuchThread(i32),
    #[error("the process has exited")]
    Exited,
    #[error(transparent)]
    Memory(#[from] MemError),
    #[error("cannot open the memory of process {pid}: {source}")]
    OpenMemory { pid: i32, source: std::io::Error },
    #[error(transparent)]
    Hardware(#[from] HwError),
    #[error("no process")]
    NoProcess,
    #[error("no program to run")]
    NoProgram,
    #[error("already attached to process {0}")]
    AlreadyAttached(i32),
    #[error("cannot read /proc/{pid}/{what}: {source}")]
    Proc {
        pid: i32,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("shared library list: {0}")]
    LibraryList(#[from] Svr4Error),
    #[error("thread-local storage: {0}")]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Core(#[from] CoreError),
    /// What a core file cannot do: write, resume, step, deliver a signal.
    #[error("core file: the program is not running")]
    NotRunning,
}

impl ProcessError {
    /// A launch whose exec failed: the child's exit status and execvp's errno, if it got that
    /// far.
    pub fn exec_failure(&self) -> Option<(i32, Option<i32>)> {
        match self {
            ProcessError::Start(StartError::ExecFailed { status, errno, .. }) => {
                Some((*status, *errno))
            }
            _ => None,
        }
    }
}

pub(super) fn ptrace_err(tid: Pid) -> impl FnOnce(nix::Error) -> ProcessError {
    move |source| ProcessError::Ptrace {
        tid: tid.as_raw(),
        source,
    }
}
