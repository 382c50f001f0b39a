//! `gostub`: a GDB/LLDB remote-protocol stub for Linux x86_64 that knows Go.
//!
//! A thin binary: the command line (`cli`), then one session after another over the protocol
//! glue (`gdb`) and process control (`process`).

mod cli;
mod eintr;
mod gdb;
mod goroutines;
mod process;
mod tid_map;

use std::process::ExitCode;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

use cli::{Comm, Config, Mode};
use gdb::conn::Listener;
use gdb::event_loop::{run_session, SessionEnd};
use gdb::{GdbTarget, SessionOptions};
use process::{SignalSet, Stdio};

fn main() -> ExitCode {
    let config = cli::parse();
    if config.mode == Mode::Selftest {
        println!("{}", cli::SELFTEST_SUMMARY);
        return ExitCode::SUCCESS;
    }
    if let Err(message) = init_log(&config.debug) {
        eprintln!("gostub: {message}");
        return ExitCode::FAILURE;
    }
    process::set_launch_style(process::LaunchStyle {
        wrapper: config.wrapper.clone(),
        disable_randomization: config.disable_randomization,
    });
    match serve(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("gostub: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The log: `RUST_LOG` (default `gostub=info`), raised by `--debug` (gostub) and
/// `--remote-debug` (every packet, from gdbstub), to `--debug-file` or stderr.
fn init_log(debug: &cli::DebugOptions) -> Result<(), String> {
    let mut log =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("gostub=info"));
    if debug.debug {
        log.filter_module("gostub", log::LevelFilter::Debug);
    }
    if debug.remote {
        log.filter_module("gdbstub", log::LevelFilter::Trace);
    }
    if let Some(path) = &debug.file {
        let file = std::fs::File::create(path)
            .map_err(|e| format!("cannot open debug file {}: {e}", path.display()))?;
        log.target(env_logger::Target::Pipe(Box::new(file)));
    }
    if debug.timestamps {
        log.format_timestamp_micros();
    } else {
        log.format_timestamp(None);
    }
    log.init();
    Ok(())
}

fn serve(config: &Config) -> Result<(), String> {
    if let Some(warning) = cli::exposure_warning(config) {
        eprintln!("gostub: warning: {warning}");
    }
    if config.comm == Comm::Stdio {
        // `target remote | gostub - prog` puts the stub in gdb's process group: a Ctrl-C typed at
        // gdb reaches the stub too. gdb forwards it as an interrupt packet; the stub ignores the
        // signal itself, as gdbserver does.
        // SAFETY: installing SIG_IGN has no handler to race with.
        unsafe { nix::sys::signal::signal(Signal::SIGINT, nix::sys::signal::SigHandler::SigIgn) }
            .map_err(|e| format!("cannot ignore SIGINT: {e}"))?;
    }
    // SIGCHLD is read through a signalfd, so it must be blocked before any child exists.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.thread_block()
        .map_err(|e| format!("cannot block SIGCHLD: {e}"))?;
    let sigchld = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| format!("cannot create a signalfd: {e}"))?;

    let options = SessionOptions {
        quiet_signals: SignalSet::from_numbers(&config.pass_signals),
        cache_pages: config.cache_pages,
        stdio: if config.comm == Comm::Stdio {
            Stdio::AwayFromProtocol
        } else {
            Stdio::Inherit
        },
        multi: matches!(config.mode, Mode::Multi),
        traceback: config.traceback.parse().map_err(|e: String| e)?,
        threads: config.threads_view,
        max_threads: config.max_threads,
    };
    let mut target = GdbTarget::new(options.clone());
    match &config.mode {
        Mode::Launch { program, args } => {
            let pid = target
                .session
                .launch(Some(program.clone()), args)
                .map_err(|e| match e.exec_failure() {
                    Some((status, errno)) => startup_failure(program, status, errno),
                    None => e.to_string(),
                })?;
            eprintln!("Process {} created; pid = {pid}", program.display());
        }
        Mode::Attach { pid } => {
            target
                .session
                .attach(Pid::from_raw(*pid))
                .map_err(|e| e.to_string())?;
            eprintln!("Attached; pid = {pid}");
        }
        Mode::Core { core, program } => {
            let pid = target
                .session
                .open_core(core, program.as_deref())
                .map_err(|e| e.to_string())?;
            eprintln!("Core file {}; pid = {pid}", core.display());
        }
        Mode::Multi | Mode::Selftest => {}
    }

    let mut listener = Listener::bind(&config.comm).map_err(|e| match e.kind() {
        // gdbserver's words: GDB's testsuite waits for them to try the next port.
        std::io::ErrorKind::AddrInUse => "Can't bind address: Address already in use.".to_string(),
        _ => format!("cannot listen: {e}"),
    })?;
    // While the client starts (a connection meanwhile waits in the listen backlog).
    target.load_program();
    loop {
        let conn = listener
            .accept()
            .map_err(|e| format!("cannot accept a client: {e}"))?;
        let end = run_session(&mut target, conn, &sigchld);
        match &end {
            Ok(SessionEnd::ClientGone) => eprintln!("Remote side has terminated connection."),
            Ok(SessionEnd::TargetEnded) => eprintln!("Process exited."),
            Ok(SessionEnd::Detached) => eprintln!("Detached from process."),
            Ok(SessionEnd::Killed) => eprintln!("Process killed."),
            Err(e) => eprintln!("gostub: session ended: {e}"),
        }
        // As gdbserver: without --once the stub waits for the next client, in --multi mode
        // always, otherwise while the process it was started with is still there.
        let process_left =
            matches!(end, Ok(SessionEnd::ClientGone)) && target.session.pid().is_some();
        if config.once
            || config.comm == Comm::Stdio
            || gdb::monitor::exit_requested()
            || !(options.multi || process_left)
        {
            break;
        }
        if !options.multi {
            eprintln!("Listening again on the same address for the next client.");
            continue;
        }
        // A process survives its client only in --multi; without a client it would hang.
        if let Ok(SessionEnd::ClientGone) | Err(_) = &end {
            target.session.release();
        }
    }
    // Dropping the target releases a process still held: killed if launched, detached if
    // attached, with every breakpoint byte removed.
    drop(target);
    Ok(())
}

/// gdbserver's lines when PROGRAM cannot be executed (the message printed after `gostub: `):
/// its default, `startup-with-shell`, form, the shell's words then gdbserver's own. The name is
/// the one given, relative to the current directory when it lies there (gostub never searches
/// PATH, so a name without `/` that is not found is the shell's "not found").
fn startup_failure(program: &std::path::Path, status: i32, errno: Option<i32>) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    let shown = program.strip_prefix(&cwd).unwrap_or(program).display();
    let why = match errno {
        Some(libc::ENOENT) if !shown.to_string().contains('/') => {
            format!("exec: {shown}: not found")
        }
        Some(e @ libc::ENOENT) => format!("{shown}: {}", nix::errno::Errno::from_raw(e).desc()),
        Some(e) => format!(
            "exec: {shown}: cannot execute: {}",
            nix::errno::Errno::from_raw(e).desc()
        ),
        None => format!("{shown}: exited before its first instruction"),
    };
    format!("{why}\nDuring startup program exited with code {status}.\nExiting")
}
