//! Protocol glue: translates between gdbstub's `Target` traits and process control. It never
//! decides; `crate::process` does. Every protocol feature gostub serves is switched on in the
//! `Target` impl below, one file per feature.

pub mod arch;
mod base;
mod breakpoints;
pub mod conn;
mod error;
pub mod event_loop;
mod exec_events;
mod extended_mode;
mod fork_events;
mod host_files;
mod host_io;
mod lldb;
mod lldb_stop;
pub mod monitor;
mod non_stop;
mod osdata;
mod resume;
mod signal_numbers;
mod signal_settings;
mod tap;
mod thread_extra_info;
mod thread_id;
mod thread_suffix;
mod threads;
mod tls;
mod xfer;
mod xfer_siginfo;
mod xfer_threads;

use std::collections::HashMap;

use gdbstub::common::Tid;
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::Target;
use nix::unistd::Pid;

use crate::cli::ThreadsView;
use crate::goroutines::GoState;
use crate::process::{Backend, ForkEvents, ProcessError, Session, SignalSet, StartOptions, Stdio};
use arch::Amd64Linux;
pub use error::StubError;
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

/// The debugging session as gdbstub sees it: at most one process, which `session` owns.
pub struct GdbTarget {
    pub session: Session,
    pub options: SessionOptions,
    host_files: HostFiles,
    go: GoState,
    /// The thread view resolved for the current process (`None`: not yet decided).
    view: Option<threads::View>,
    /// The client asked an lldb-only question (qHostInfo).
    pub client_is_lldb: bool,
    /// lldb sent `QListThreadsInStopReply`: stop replies list every thread (`lldb_stop.rs`).
    pub lldb_thread_lists: bool,
    /// The client thread ids of the OS threads the last resume named (`vCont;s:ID`).
    resumed_as: HashMap<Pid, Tid>,
    /// The client thread, signal and kind of the last stop reported (for lldb's questions).
    pub last_stop: Option<(Tid, u8, StopKind)>,
    /// The stop id, OS thread and client thread of the last stop reply (see `threads.rs`).
    reported: Option<(u64, Pid, Tid)>,
    /// The `qXfer:threads` document being read (built at offset 0).
    threads_xml: Vec<u8>,
    /// The `qXfer:osdata` document being read (built at offset 0).
    osdata_xml: Vec<u8>,
    /// The thread the client selected with `Hg` or last heard of in a stop reply
    /// (`xfer_siginfo.rs`).
    general_thread: Option<Tid>,
    /// The client offered `exec-events+`: exec stops carry `exec:` (`exec_events.rs`).
    exec_events: bool,
    /// The client offered `no-resumed+`: it reads the `N` stop reply (`exec_events.rs`).
    no_resumed: bool,
    /// The fork events the client offered (`fork_events.rs`).
    fork_events: ForkEvents,
    /// The first process as last seen, to notice when a fork child takes its place.
    first_pid: Option<Pid>,
    /// `monitor set libthread-db-search-path` (TLS is refused while it finds none).
    thread_db_path: String,
    /// OS thread names read at one stop (the stop id, then comm by thread).
    comms: (u64, HashMap<Pid, Option<String>>),
    /// Non-stop mode's client state (`non_stop.rs`).
    non_stop: non_stop::NonStopClient,
}

impl GdbTarget {
    pub fn new(options: SessionOptions) -> GdbTarget {
        GdbTarget {
            go: GoState::new(options.traceback),
            session: Session::new(StartOptions {
                quiet_signals: options.quiet_signals,
                cache_pages: options.cache_pages,
                stdio: options.stdio,
            }),
            options,
            host_files: HostFiles::new(),
            view: None,
            client_is_lldb: false,
            lldb_thread_lists: false,
            last_stop: None,
            reported: None,
            resumed_as: HashMap::new(),
            threads_xml: Vec::new(),
            osdata_xml: Vec::new(),
            thread_db_path: tls::DEFAULT_THREAD_DB_PATH.to_string(),
            general_thread: None,
            exec_events: false,
            no_resumed: false,
            fork_events: ForkEvents::default(),
            first_pid: None,
            comms: (u64::MAX, HashMap::new()),
            non_stop: Default::default(),
        }
    }

    /// Parses the program's binary before a client connects (issue 9): the goroutine view of
    /// the first stop needs it, and its load (decompressing and walking Go's DWARF, a few ms)
    /// was most of the stub's CPU in a gdb connect. Without a process, or for a program that is
    /// not Go, nothing is kept but what the first stop would have learned as well.
    pub fn load_program(&mut self) {
        if let Ok(backend) = self.session.backend() {
            self.go.is_go(backend);
        }
    }

    /// The process, or `NoProcess`.
    fn backend(&mut self) -> Result<&mut dyn Backend, ProcessError> {
        self.session.backend()
    }

    fn pid(&self) -> Option<Pid> {
        self.session.pid()
    }
}

/// What kind of stop the last stop reply told, in lldb's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    Breakpoint,
    Watchpoint,
    Trace,
    Signal,
    /// The program execed (`exec_events.rs`).
    Exec,
}

impl StopKind {
    pub fn lldb_reason(self) -> &'static str {
        match self {
            StopKind::Breakpoint => "breakpoint",
            StopKind::Watchpoint => "watchpoint",
            StopKind::Trace => "trace",
            StopKind::Signal => "signal",
            StopKind::Exec => "exec",
        }
    }
}

/// What `qSupported` offers beyond gdbstub's own features: packets answered in front of gdbstub
/// (`signal_settings.rs`, `xfer_threads.rs`, `osdata.rs`, `xfer_siginfo.rs`, `non_stop.rs`), and
/// exec stop replies and the `N` stop reply for clients that read them (`exec_events.rs`).
macro_rules! extra_features {
    () => {
        concat!(
            ";QPassSignals+;QProgramSignals+;qXfer:threads:read+;qXfer:osdata:read+",
            ";qXfer:siginfo:read+;qXfer:siginfo:write+;exec-events+;no-resumed+",
            ";QNonStop+;QThreadEvents+"
        )
    };
}
const EXTRA_FEATURES: &str = extra_features!();

/// The same with fork and vfork stop replies, for a client that offered them (`fork_events.rs`;
/// gdbstub's own fork stop reasons would name the child with the parent's pid).
const EXTRA_FEATURES_FORKS: &str = concat!(extra_features!(), ";fork-events+;vfork-events+");

impl Target for GdbTarget {
    type Arch = Amd64Linux;
    type Error = StubError;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::MultiThread(self)
    }

    // Fork stop replies are written by `fork_events.rs` (gdbstub's would carry the wrong pid),
    // and offered in `extra_supported_features`.
    fn use_fork_stop_reason(&self) -> bool {
        false
    }
    fn use_vfork_stop_reason(&self) -> bool {
        false
    }
    fn use_vforkdone_stop_reason(&self) -> bool {
        false
    }
    fn extra_supported_features(&self) -> &'static str {
        if self.fork_events.fork || self.fork_events.vfork {
            EXTRA_FEATURES_FORKS
        } else {
            EXTRA_FEATURES
        }
    }
    fn use_no_resumed_stop_reason(&self) -> bool {
        self.no_resumed
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
