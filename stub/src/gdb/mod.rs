//! Protocol glue: translates between gdbstub's `Target` traits and process control. It never
//! decides; `crate::process` does. Every protocol feature gostub serves is switched on in the
//! `Target` impl below, one file per feature.

pub mod arch;
mod base;
mod breakpoints;
pub mod conn;
pub mod event_loop;
mod extended_mode;
mod host_files;
mod host_io;
mod lldb;
pub mod monitor;
mod resume;
mod signal_numbers;
mod tap;
mod thread_extra_info;
mod threads;
mod xfer;

use std::collections::HashMap;
use std::path::PathBuf;

use gdbstub::common::Tid;
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::{Target, TargetError};
use nix::unistd::Pid;

use crate::cli::ThreadsView;
use crate::goroutines::GoState;
use crate::process::launch::Stdio;
use crate::process::signals::SignalSet;
use crate::process::{Inferior, ProcessError, StopEvent};
use arch::Amd64Linux;
use host_files::HostFiles;

/// What every process of a session is started with.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub quiet_signals: SignalSet,
    pub cache_pages: usize,
    pub stdio: Stdio,
    /// `--multi`: the session outlives its processes and its clients.
    pub multi: bool,
    /// The traceback policy Go commands start with.
    pub traceback: goruntime::Policy,
    /// What the client sees as threads (`--threads`, `monitor threads`).
    pub threads: ThreadsView,
    /// At most this many goroutines are shown as threads.
    pub max_threads: usize,
}

/// The debugging session as gdbstub sees it: at most one process.
pub struct GdbTarget {
    pub inferior: Option<Inferior>,
    pub options: SessionOptions,
    /// The program most recently launched, for `qXfer:exec-file` and `run` without a name.
    pub program: Option<PathBuf>,
    host_files: HostFiles,
    go: GoState,
    /// The thread view resolved for the current process (`None`: not yet decided).
    view: Option<threads::View>,
    /// The client asked an lldb-only question (qHostInfo).
    pub client_is_lldb: bool,
    /// The client thread ids of the OS threads the last resume named (`vCont;s:ID`).
    resumed_as: HashMap<Pid, Tid>,
    /// The client thread, signal and kind of the last stop reported (for lldb's questions).
    pub last_stop: Option<(Tid, u8, StopKind)>,
}

impl GdbTarget {
    pub fn new(options: SessionOptions) -> GdbTarget {
        GdbTarget {
            go: GoState::new(options.traceback),
            inferior: None,
            options,
            program: None,
            host_files: HostFiles::new(),
            view: None,
            client_is_lldb: false,
            last_stop: None,
            resumed_as: HashMap::new(),
        }
    }

    fn inferior(&mut self) -> Result<&mut Inferior, TargetError<ProcessError>> {
        self.inferior.as_mut().ok_or(TargetError::Errno(ESRCH))
    }

    fn pid(&self) -> Option<Pid> {
        self.inferior.as_ref().map(|i| i.pid())
    }

    /// The stop to report, once the running process has fully stopped. A process error while
    /// waiting is reported as the process having been killed: the client must hear something.
    pub fn poll_stop(&mut self) -> Option<StopEvent> {
        let Some(inf) = self.inferior.as_mut() else {
            return Some(StopEvent::Exited(0));
        };
        match inf.poll_stop() {
            Ok(event) => event,
            Err(e) => {
                log::error!("lost control of the process: {e}");
                inf.kill();
                Some(StopEvent::Killed(libc::SIGKILL))
            }
        }
    }

    /// Whether a stop can be reported without waiting for SIGCHLD (an event kept from the last
    /// stop, or no process at all).
    pub fn stop_pending(&self) -> bool {
        self.inferior
            .as_ref()
            .is_none_or(|inf| inf.has_pending_event())
    }

    /// Ctrl-C: stop the running process; the stop is reported by `poll_stop`.
    pub fn interrupt(&mut self) {
        if let Some(inf) = self.inferior.as_mut() {
            inf.interrupt();
        }
    }

    /// `D`: take out every breakpoint and let the process run on.
    pub fn detach(&mut self) {
        if let Some(mut inf) = self.inferior.take() {
            if let Err(e) = inf.detach() {
                log::error!("detach failed, killing the process instead: {e}");
                inf.kill();
            }
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut inf) = self.inferior.take() {
            inf.kill();
        }
    }
}

/// What kind of stop the last stop reply told, in lldb's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    Breakpoint,
    Watchpoint,
    Trace,
    Signal,
}

impl StopKind {
    pub fn lldb_reason(self) -> &'static str {
        match self {
            StopKind::Breakpoint => "breakpoint",
            StopKind::Watchpoint => "watchpoint",
            StopKind::Trace => "trace",
            StopKind::Signal => "signal",
        }
    }
}

pub const ESRCH: u8 = libc::ESRCH as u8;
pub const EFAULT: u8 = libc::EFAULT as u8;
pub const EINVAL: u8 = libc::EINVAL as u8;
pub const EIO: u8 = libc::EIO as u8;

/// A process error, as the client hears it: an errno reply (the session goes on).
fn errno_of(e: ProcessError) -> TargetError<ProcessError> {
    log::debug!("request failed: {e}");
    TargetError::Errno(match e {
        ProcessError::NoSuchThread(_) | ProcessError::Exited => ESRCH,
        ProcessError::Memory(_) => EFAULT,
        ProcessError::Hardware(_) => EINVAL,
        ProcessError::GoroutineParked { .. } => libc::EPERM as u8,
        _ => EIO,
    })
}

impl Target for GdbTarget {
    type Arch = Amd64Linux;
    type Error = ProcessError;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::MultiThread(self)
    }

    // gostub does not follow forks; the client must not expect fork events.
    fn use_fork_stop_reason(&self) -> bool {
        false
    }
    fn use_vfork_stop_reason(&self) -> bool {
        false
    }
    fn use_vforkdone_stop_reason(&self) -> bool {
        false
    }

    fn support_breakpoints(
        &mut self,
    ) -> Option<gdbstub::target::ext::breakpoints::BreakpointsOps<'_, Self>> {
        Some(self)
    }
    fn support_extended_mode(
        &mut self,
    ) -> Option<gdbstub::target::ext::extended_mode::ExtendedModeOps<'_, Self>> {
        Some(self)
    }
    fn support_monitor_cmd(
        &mut self,
    ) -> Option<gdbstub::target::ext::monitor_cmd::MonitorCmdOps<'_, Self>> {
        Some(self)
    }
    fn support_auxv(&mut self) -> Option<gdbstub::target::ext::auxv::AuxvOps<'_, Self>> {
        Some(self)
    }
    fn support_exec_file(
        &mut self,
    ) -> Option<gdbstub::target::ext::exec_file::ExecFileOps<'_, Self>> {
        Some(self)
    }
    fn support_libraries_svr4(
        &mut self,
    ) -> Option<gdbstub::target::ext::libraries::LibrariesSvr4Ops<'_, Self>> {
        Some(self)
    }
    fn support_host_io(&mut self) -> Option<gdbstub::target::ext::host_io::HostIoOps<'_, Self>> {
        Some(self)
    }
}
