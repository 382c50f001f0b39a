//! The one owner of the process a client debugs: launch, attach, release, detach and kill, for
//! the plain and the extended mode alike. It also makes the decisions about the process's end:
//! a process whose control is lost (a wait error) or whose detach fails is killed, and a new
//! `run` or `attach` releases the old process first (killed if launched, detached if attached).
//! The fork children a client follows are processes of the session too (`session/processes.rs`):
//! ending the session ends them as it ends the first.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;

use super::backend::Backend;
use super::core::Core;
use super::inferior::ForkEvents;
use super::launch::Stdio;
use super::signals::{SignalRules, SignalSet};
use super::{Inferior, ProcessError, StopEvent};

mod non_stop;
mod processes;
pub use processes::ResumeScope;

/// What every process of a session is started with.
#[derive(Debug, Clone, Copy)]
pub struct StartOptions {
    pub quiet_signals: SignalSet,
    pub cache_pages: usize,
    pub stdio: Stdio,
}

pub struct Session {
    options: StartOptions,
    /// The quiet and detach rules every process of the session runs under.
    signals: SignalRules,
    /// The first process: the one launched or attached to, whose program the Go state reads
    /// (or, once it is gone, the fork child that took its place).
    backend: Option<Box<dyn Backend>>,
    /// The other processes on the connection: fork children, held or followed.
    others: Vec<Box<dyn Backend>>,
    /// Processes that came from a fork (a Go program's child has one thread and no goroutines
    /// of its own).
    forked: Vec<Pid>,
    /// Fork children the client does not know yet (until the next resume).
    unlisted: Vec<Pid>,
    /// Fork children whose fork stop is still kept in the parent, unreported, with their
    /// parents: they go with their parent (detached or killed), as gdbserver's.
    unreported: Vec<(Pid, Pid)>,
    /// The process memory and breakpoint requests without a thread go to (`Hg`); `None`: the
    /// first.
    selected: Option<Pid>,
    /// The process of the stop reported last.
    last_stopped: Option<Pid>,
    fork_events: ForkEvents,
    scope: ResumeScope,
    /// The client handles several processes (gdb's `multiprocess+`): a new `run` or `attach`
    /// adds a process instead of releasing the one held (gdb's second inferior).
    keep_processes: bool,
    /// The program most recently launched or attached to, for `qXfer:exec-file` and `run`
    /// without a name.
    program: Option<PathBuf>,
    /// The arguments of the last launch, for a restart.
    args: Vec<OsString>,
}

impl Session {
    pub fn new(options: StartOptions) -> Session {
        Session {
            options,
            signals: SignalRules::new(options.quiet_signals),
            backend: None,
            others: Vec::new(),
            forked: Vec::new(),
            unlisted: Vec::new(),
            unreported: Vec::new(),
            selected: None,
            last_stopped: None,
            fork_events: ForkEvents::default(),
            scope: ResumeScope::default(),
            keep_processes: false,
            program: None,
            args: Vec::new(),
        }
    }

    /// Launches `program` (the last one when `None`), releasing a process still held (kept, for
    /// a client that handles several processes: see `keep_processes`).
    pub fn launch(
        &mut self,
        program: Option<PathBuf>,
        args: &[OsString],
    ) -> Result<Pid, ProcessError> {
        let program = program
            .or_else(|| self.program.clone())
            .ok_or(ProcessError::NoProgram)?;
        if !self.keep_processes {
            self.release();
        }
        let o = self.options;
        let mut inf = Inferior::launch(&program, args, o.stdio, self.signals, o.cache_pages)?;
        inf.set_fork_events(self.fork_events);
        let pid = inf.pid();
        self.add_first(Box::new(inf));
        self.program = Some(program);
        self.args = args.to_vec();
        Ok(pid)
    }

    /// `R` (extended mode): the last program again, with the same arguments; a process still
    /// held is released first.
    pub fn restart(&mut self) -> Result<Pid, ProcessError> {
        let args = std::mem::take(&mut self.args);
        self.release();
        self.launch(None, &args)
    }

    /// Attaches to `pid`, releasing a process still held (or keeping it, as `launch`). A process
    /// held already is refused, as gdbserver refuses it (it stays attached).
    pub fn attach(&mut self, pid: Pid) -> Result<(), ProcessError> {
        if self.pids().contains(&pid) {
            return Err(ProcessError::AlreadyAttached(pid.as_raw()));
        }
        if !self.keep_processes {
            self.release();
        }
        let o = self.options;
        let mut inf = Inferior::attach(pid, self.signals, o.cache_pages)?;
        inf.set_fork_events(self.fork_events);
        self.program = inf.exe().map(Path::to_path_buf);
        self.add_first(Box::new(inf));
        Ok(())
    }

    /// Changes the signal rules (a client's `QPassSignals`, a new client, a Go program), for
    /// the process held and every later one.
    pub fn update_signals(&mut self, change: impl FnOnce(&mut SignalRules)) {
        change(&mut self.signals);
        let signals = self.signals;
        self.each(|b| b.set_signal_rules(signals));
    }

    /// Opens the core file `core` (of `program`, or of the executable the core names).
    pub fn open_core(&mut self, core: &Path, program: Option<&Path>) -> Result<Pid, ProcessError> {
        self.release();
        let core = Core::open(core, program)?;
        let pid = core.pid();
        self.program = core.exe().map(Path::to_path_buf);
        self.backend = Some(Box::new(core));
        Ok(pid)
    }

    pub fn program(&self) -> Option<&Path> {
        self.program.as_deref()
    }

    /// The process, or `NoProcess`.
    pub fn backend(&mut self) -> Result<&mut dyn Backend, ProcessError> {
        match self.backend.as_mut() {
            Some(b) => Ok(b.as_mut()),
            None => Err(ProcessError::NoProcess),
        }
    }

    pub fn backend_ref(&self) -> Option<&dyn Backend> {
        self.backend.as_deref()
    }

    pub fn pid(&self) -> Option<Pid> {
        self.backend.as_ref().map(|b| b.pid())
    }

    /// Ctrl-C: stop the running process; the stop is reported by `poll_stop`.
    pub fn interrupt(&mut self) {
        self.each(|b| b.interrupt());
    }

    /// `D`: take out every breakpoint and let every process run on; killed if that fails.
    pub fn detach(&mut self) {
        for pid in self.pids() {
            self.detach_process(pid);
        }
    }

    /// `k`: kill every process (if any). The answer the client hears is the process killed by
    /// SIGKILL, whether or not there was one.
    pub fn kill(&mut self) -> StopEvent {
        for mut b in self.take_all() {
            b.kill();
        }
        StopEvent::Killed(libc::SIGKILL)
    }

    /// The client went away (or a new process replaces this one): a launched process is killed,
    /// an attached one detached (a fork child as its parent).
    pub fn release(&mut self) {
        for mut b in self.take_all() {
            b.release();
        }
    }

    /// The process ended and the client was told: nothing is left to release.
    pub fn forget_ended(&mut self) {
        self.backend = None;
        self.promote();
    }

    /// The signal the first stop of a process is reported with to lldb (as lldb-server says it:
    /// SIGSTOP), or `None` without a process.
    pub fn initial_stop_signal(&self) -> Option<i32> {
        self.backend.as_ref().map(|_| libc::SIGSTOP)
    }

    /// Whether the process is a core file's (its pid names no live process, or another one).
    pub fn is_core(&self) -> bool {
        self.fixed_stop().is_some()
    }

    /// The thread and signal of a stop the backend started in (a core's fatal signal), which
    /// `?` reports to every client.
    pub fn fixed_stop(&self) -> Option<(Pid, i32)> {
        match self.backend.as_ref()?.initial_stop()? {
            StopEvent::Signal { tid, sig } => Some((tid, sig)),
            _ => None,
        }
    }
}
