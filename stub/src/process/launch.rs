//! Starting a traced process: launch (fork, seize, exec) and attach (seize every thread).
//!
//! Launch seizes the child while it waits on a pipe, then lets it exec: with PTRACE_O_TRACEEXEC
//! the exec is reported as PTRACE_EVENT_EXEC, which leaves the new program stopped at its first
//! instruction, as gdbserver does. PTRACE_SEIZE (not TRACEME or ATTACH) is used everywhere so
//! that PTRACE_INTERRUPT can stop threads without queueing a SIGSTOP. Address-space randomisation
//! is disabled in the child, as gdbserver does by default. With gdbserver's `--wrapper`, the
//! child execs the wrapper, which execs the program: the first PTRACE_EVENT_EXEC is the
//! wrapper's and is let go, the second leaves the program at its first instruction.
//!
//! As gdbserver's, the child runs in its own process group, the terminal's foreground one
//! (`terminal.rs`), with the stub's SIGCHLD block lifted, and over stdio it says
//! `stdin/stdout redirected` on stderr before it execs. A failed exec sends execvp's errno back
//! through a close-on-exec pipe (which an exec that succeeds closes unread), so the stub can
//! say why; the child then exits 127 (not found) or 126 (cannot execute), the shell's codes.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;

use nix::sys::signal::Signal;

use nix::sys::ptrace::{self, Options};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use super::wait::{self, Decision, Waited};
use super::StopEvent;

/// The ptrace options every traced thread gets. Forks are traced so that the child can be
/// cleaned of our breakpoints and let go, or held for a client that follows forks
/// (`inferior/fork.rs`); vfork-done tells such a client when a vfork child let go of the
/// parent's memory.
pub fn trace_options() -> Options {
    Options::PTRACE_O_TRACECLONE
        | Options::PTRACE_O_TRACEEXEC
        | Options::PTRACE_O_TRACESYSGOOD
        | Options::PTRACE_O_TRACEFORK
        | Options::PTRACE_O_TRACEVFORK
        | Options::PTRACE_O_TRACEVFORKDONE
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("program path or argument contains a NUL byte")]
    NulInArgument,
    #[error("cannot start {program}: {source}")]
    Spawn { program: String, source: nix::Error },
    /// The child could not exec: `errno` is execvp's error (through the close-on-exec pipe),
    /// `None` when the exec succeeded but the program exited before its first instruction (a
    /// wrapper's failure).
    #[error("{program} could not be executed{} (exit status {status})", errno.map(|e| format!(": {}", nix::errno::Errno::from_raw(e).desc())).unwrap_or_default())]
    ExecFailed {
        program: String,
        status: i32,
        errno: Option<i32>,
    },
    #[error("cannot attach to process {pid}: {source}")]
    Attach { pid: i32, source: nix::Error },
    #[error("process {pid} does not exist")]
    NoSuchProcess { pid: i32 },
    #[error("unexpected wait status while starting: {0:?}")]
    Unexpected(WaitStatus),
}

/// How every launch starts its program (gdbserver's `--wrapper` and
/// `--(no-)disable-randomization`), set once from the command line.
#[derive(Debug, Clone)]
pub struct Style {
    /// Run `WRAPPER... PROGRAM ARGS` (empty: no wrapper).
    pub wrapper: Vec<OsString>,
    pub disable_randomization: bool,
}

static STYLE: OnceLock<Style> = OnceLock::new();

/// Sets the launch style; the first call wins. Without a call: no wrapper, ASLR disabled.
pub fn set_style(style: Style) {
    let _ = STYLE.set(style);
}

/// Where the launched program's standard streams go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdio {
    /// Inherited from the stub.
    Inherit,
    /// The stub talks to the client on stdin/stdout: the program gets /dev/null as stdin and the
    /// stub's stderr as stdout.
    AwayFromProtocol,
}

/// Forks and execs `program` traced; returns its pid, stopped at the first instruction.
pub fn launch(program: &Path, args: &[OsString], stdio: Stdio) -> Result<Pid, StartError> {
    let name = program.display().to_string();
    let (wrapper, disable_randomization) = STYLE.get().map_or((&[][..], true), |s| {
        (&s.wrapper[..], s.disable_randomization)
    });
    // Everything the child needs is prepared before fork: no allocation after it.
    let argv = wrapper
        .iter()
        .map(OsString::as_os_str)
        .chain([program.as_os_str()])
        .chain(args.iter().map(OsString::as_os_str))
        .map(|a| CString::new(a.as_bytes()).map_err(|_| StartError::NulInArgument))
        .collect::<Result<Vec<_>, _>>()?;
    let path = argv[0].clone();
    // The wrapper's exec, then the program's.
    let mut execs_left = if wrapper.is_empty() { 1 } else { 2 };
    let devnull = CString::new("/dev/null").expect("no NUL");
    // Both pipes close on exec, so the program inherits neither: the gate holds the child until
    // it is seized; the other carries execvp's errno back when the exec fails (and reads empty
    // when it succeeds).
    let pipe = || {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|source| StartError::Spawn {
            program: name.clone(),
            source,
        })
    };
    let (gate_read, gate_write) = pipe()?;
    let (errno_read, errno_write) = pipe()?;
    let redirected = b"stdin/stdout redirected\n";

    // SAFETY: the child only calls async-signal-safe functions before exec or _exit.
    match unsafe { fork() }.map_err(|source| StartError::Spawn {
        program: name.clone(),
        source,
    })? {
        ForkResult::Child => {
            drop(gate_write);
            drop(errno_read);
            let mut byte = [0u8; 1];
            let _ = nix::unistd::read(&gate_read, &mut byte);
            unsafe {
                // Its own process group, as gdbserver's inferiors (`info os procgroups`).
                libc::setpgid(0, 0);
                if disable_randomization {
                    libc::personality(libc::ADDR_NO_RANDOMIZE as libc::c_ulong);
                }
                // Rust ignores SIGPIPE, and a stdio stub ignores SIGINT; an ignored disposition
                // survives exec, so the program gets the defaults back.
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                // Ignored by the stub once it has given a program the terminal (`terminal.rs`).
                libc::signal(libc::SIGTTOU, libc::SIG_DFL);
                libc::signal(libc::SIGTTIN, libc::SIG_DFL);
                // The stub blocks SIGCHLD for its signalfd; a blocked mask survives exec too
                // (gdb.base/sigchld.exp).
                let mut chld: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut chld);
                libc::sigaddset(&mut chld, libc::SIGCHLD);
                libc::sigprocmask(libc::SIG_UNBLOCK, &chld, std::ptr::null_mut());
                if stdio == Stdio::AwayFromProtocol {
                    let fd = libc::open(devnull.as_ptr(), libc::O_RDONLY);
                    if fd >= 0 {
                        libc::dup2(fd, 0);
                    }
                    libc::dup2(2, 1);
                    // gdbserver's word that the program's streams are not the protocol's.
                    libc::write(2, redirected.as_ptr().cast(), redirected.len());
                }
            }
            let errno = nix::unistd::execvp(&path, &argv).map_or_else(|e| e as i32, |_| 0);
            let _ = nix::unistd::write(&errno_write, &errno.to_ne_bytes());
            // The shell's codes: 127 for a program not found, 126 for one that cannot run.
            unsafe { libc::_exit(if errno == libc::ENOENT { 127 } else { 126 }) }
        }
        ForkResult::Parent { child } => {
            drop(gate_read);
            drop(errno_write);
            let seized = ptrace::seize(child, trace_options() | Options::PTRACE_O_EXITKILL);
            drop(gate_write);
            if let Err(source) = seized {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                let _ = waitpid(child, None);
                return Err(StartError::Spawn {
                    program: name,
                    source,
                });
            }
            loop {
                let status = match wait::wait(Some(child), true) {
                    Ok(Waited::Status(status)) => Ok(status),
                    Ok(_) => Err(nix::Error::ECHILD),
                    Err(e) => Err(e),
                }
                .map_err(|source| StartError::Spawn {
                    program: name.clone(),
                    source,
                })?;
                match wait::decide(status) {
                    Decision::Exec { .. } => {
                        // With a wrapper, its own exec comes first.
                        execs_left -= 1;
                        if execs_left == 0 {
                            super::terminal::hand_to(child);
                            return Ok(child);
                        }
                        let _ = ptrace::cont(child, None);
                    }
                    Decision::Gone {
                        end: StopEvent::Exited(status),
                        ..
                    } => {
                        return Err(StartError::ExecFailed {
                            program: name,
                            status,
                            errno: exec_errno(&errno_read),
                        })
                    }
                    // The child may take a signal before it execs; pass it along.
                    d @ (Decision::Trap { .. } | Decision::Signal { .. }) => {
                        let sig = d.signal().and_then(|s| Signal::try_from(s).ok());
                        let _ = ptrace::cont(child, sig);
                    }
                    Decision::Cloned { .. }
                    | Decision::Forked { .. }
                    | Decision::EventStop { .. }
                    | Decision::VforkDone { .. }
                    | Decision::OtherEvent { .. } => {
                        let _ = ptrace::cont(child, None);
                    }
                    _ => return Err(StartError::Unexpected(status)),
                }
            }
        }
    }
}

/// The errno the child sent before exiting, if its exec failed (the pipe's write end is
/// closed by then: the read does not block).
fn exec_errno(pipe: &std::os::fd::OwnedFd) -> Option<i32> {
    let mut bytes = [0u8; 4];
    match nix::unistd::read(pipe, &mut bytes) {
        Ok(4) => Some(i32::from_ne_bytes(bytes)),
        _ => None,
    }
}

/// A thread seized by `attach`, with a signal it received while being stopped (held for the
/// thread's next continue).
pub type AttachedThread = (Pid, Option<i32>);

/// Seizes every thread of `pid` and stops them all.
pub fn attach(pid: Pid) -> Result<Vec<AttachedThread>, StartError> {
    let raw = pid.as_raw();
    let mut seized: Vec<Pid> = Vec::new();
    // Threads may be created while we attach: rescan until a pass finds nothing new (bounded).
    for _ in 0..100 {
        let tids = list_tasks(raw).ok_or(StartError::NoSuchProcess { pid: raw })?;
        let fresh: Vec<Pid> = tids.into_iter().filter(|t| !seized.contains(t)).collect();
        if fresh.is_empty() {
            break;
        }
        for tid in fresh {
            match ptrace::seize(tid, trace_options()) {
                Ok(()) => {
                    let _ = ptrace::interrupt(tid);
                    seized.push(tid);
                }
                // The thread exited between the scan and the seize.
                Err(nix::Error::ESRCH) if tid != pid => {}
                Err(source) => return Err(StartError::Attach { pid: raw, source }),
            }
        }
    }
    let mut held: Vec<(Pid, i32)> = Vec::new();
    let mut pending: Vec<Pid> = seized.clone();
    while !pending.is_empty() {
        let status = match wait::wait(None, true) {
            Ok(Waited::Status(status)) => Ok(status),
            Ok(_) => Err(nix::Error::ECHILD),
            Err(e) => Err(e),
        }
        .map_err(|source| StartError::Attach { pid: raw, source })?;
        // A status of another process (one of the session's, running in non-stop mode) or of a
        // thread not seized here: kept for its owner (`wait.rs`).
        if status.pid().is_some_and(|t| !seized.contains(&t)) {
            wait::stash(status);
            continue;
        }
        match wait::decide(status) {
            Decision::Gone { tid, .. } => {
                pending.retain(|t| *t != tid);
                seized.retain(|t| *t != tid);
            }
            d @ (Decision::Trap { tid } | Decision::Signal { tid, .. }) => {
                held.extend(d.signal().map(|sig| (tid, sig)));
                pending.retain(|t| *t != tid);
            }
            Decision::Cloned { tid }
            | Decision::Forked { tid, .. }
            | Decision::Exec { tid }
            | Decision::EventStop { tid }
            | Decision::VforkDone { tid }
            | Decision::OtherEvent { tid } => pending.retain(|t| *t != tid),
            Decision::SyscallStop { .. } | Decision::Nothing => {}
        }
    }
    if !seized.contains(&pid) {
        return Err(StartError::NoSuchProcess { pid: raw });
    }
    Ok(seized
        .into_iter()
        .map(|t| (t, held.iter().find(|(h, _)| *h == t).map(|(_, s)| *s)))
        .collect())
}

fn list_tasks(pid: i32) -> Option<Vec<Pid>> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    Some(
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .map(Pid::from_raw)
            .collect(),
    )
}
