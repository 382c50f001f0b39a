//! The gdbserver-compatible command line: parses and validates arguments into a [`Config`].
//!
//! Owns the usage forms (`COMM PROGRAM [ARGS...]`, `--attach COMM PID`, `--core COMM CORE
//! [PROGRAM]`, `--multi COMM`),
//! the COMM syntax, and the option defaults. Quirks it meets:
//!
//! * Arguments after PROGRAM belong to the program, even when they look like options
//!   (`gostub :1234 ./prog -v --x`), so the trailing positional is `trailing_var_arg` with hyphen
//!   values allowed; `--` before PROGRAM works too.
//! * gdbserver's `:PORT` listens on every interface; gostub binds `:PORT` to 127.0.0.1 only.
//!   `HOST:PORT` binds where asked, and [`exposure_warning`] flags non-loopback addresses, since
//!   anyone who connects can run code as this user.
//! * gdbserver also accepts `stdio` for `-`, and a tty device as COMM; gostub accepts `stdio` and
//!   rejects serial devices with a clear message.
//! * The default pass-signal set is what `gdb -batch -ex 'info signals'` marks `nostop noprint
//!   pass` on Linux: SIGALRM, SIGCHLD, SIGURG (Go's asynchronous preemption), SIGVTALRM, SIGPROF,
//!   SIGWINCH and SIGIO (= SIGPOLL). SIGTRAP, SIGKILL and SIGSTOP cannot be passed: the first is
//!   the stub's own breakpoint signal, the other two cannot be caught.
//! * A relative PROGRAM is made absolute against the current directory, never searched in PATH,
//!   as gdbserver does. An unresolvable HOST fails with gdbserver's `HOST:PORT: cannot resolve
//!   name: ...` (GDB's testsuite matches it).
//! * gdbserver's other options live in [`gdbserver_options`].

mod gdbserver_options;

pub use gdbserver_options::{DebugOptions, SELFTEST_SUMMARY};

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;

use clap::builder::{PossibleValuesParser, RangedU64ValueParser};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, ValueEnum};
use nix::sys::signal::Signal;

/// How gdb reaches the stub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comm {
    /// Listen for one TCP client at this (resolved) address.
    Tcp(SocketAddr),
    /// Speak the protocol over stdin/stdout (`target remote | gostub - ...`).
    Stdio,
}

/// What the stub debugs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Start `program` with `args` (argv[1..]) under the stub.
    Launch {
        program: PathBuf,
        args: Vec<OsString>,
    },
    /// Attach to a running process.
    Attach { pid: i32 },
    /// Serve a core file as a stopped process (of `program`, or of the executable it names).
    Core {
        core: PathBuf,
        program: Option<PathBuf>,
    },
    /// Start without a process; gdb picks one with `run` or `attach` (extended-remote).
    Multi,
    /// `--selftest`: print gdbserver's summary line and exit.
    Selftest,
}

/// Which threads gdb sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ThreadsView {
    /// Goroutines for Go programs, OS threads otherwise.
    Auto,
    /// One gdb thread per goroutine.
    Goroutines,
    /// One gdb thread per OS thread (LWP), like gdbserver.
    Os,
}

/// The validated configuration of one stub run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub comm: Comm,
    pub mode: Mode,
    pub threads_view: ThreadsView,
    /// Signal numbers delivered to the program without stopping, sorted and deduplicated.
    pub pass_signals: Vec<i32>,
    /// GOTRACEBACK level for launched Go programs.
    pub traceback: String,
    pub max_threads: usize,
    pub cache_pages: usize,
    /// Exit after the first connection closes (gdbserver's `--once`).
    pub once: bool,
    /// gdbserver's `--wrapper`: the command programs are started through (empty: none).
    pub wrapper: Vec<OsString>,
    /// Launch with ASLR disabled (gdbserver's default; `--no-disable-randomization` clears it).
    pub disable_randomization: bool,
    pub debug: DebugOptions,
}

/// The signals gdb itself marks `nostop noprint pass` on Linux, ascending.
const DEFAULT_PASS_SIGNALS: &str = "SIGALRM,SIGCHLD,SIGURG,SIGVTALRM,SIGPROF,SIGWINCH,SIGIO";

/// Highest signal number on Linux x86_64 (SIGRTMAX).
const MAX_SIGNAL: i32 = 64;

const USAGE: &str = "gostub [OPTIONS] COMM PROGRAM [ARGS...]
       gostub [OPTIONS] --attach COMM PID
       gostub [OPTIONS] --core COMM CORE [PROGRAM]
       gostub [OPTIONS] --multi COMM";

const AFTER_HELP: &str = "\
COMM is where gdb connects:
  :PORT        listen on 127.0.0.1:PORT (loopback only; gdbserver listens on all interfaces)
  HOST:PORT    listen on HOST:PORT, e.g. 0.0.0.0:1234 or [::1]:1234 (a warning is printed
               when the address is reachable from other hosts)
  - | stdio    use stdin/stdout, e.g. gdb -ex 'target remote | gostub - ./prog'
PROGRAM and its ARGS are passed verbatim, even arguments that look like options; put `--`
before PROGRAM if its name starts with `-`.

Default --pass-signals: SIGALRM,SIGCHLD,SIGURG,SIGVTALRM,SIGPROF,SIGWINCH,SIGIO -- the signals
gdb marks `nostop noprint pass` on Linux (SIGURG is Go's goroutine preemption signal). A client
that sends its own list (gdb's QPassSignals, from `handle`) replaces it; a Go program keeps SIGURG
quiet whatever the client sends, unless --pass-signals leaves it out.";

#[derive(Debug, Parser)]
#[command(
    name = "gostub",
    version,
    about = "A GDB/LLDB remote-protocol stub for Linux x86_64 that knows Go (gdbserver-compatible)",
    override_usage = USAGE,
    after_help = AFTER_HELP
)]
struct Args {
    /// Attach to the running process PID instead of starting PROGRAM.
    #[arg(long, conflicts_with = "multi")]
    attach: bool,

    /// Serve the core file CORE as a stopped process: PROGRAM defaults to the executable the
    /// core names.
    #[arg(long, conflicts_with_all = ["multi", "attach"])]
    core: bool,

    /// Start without a program and only quit when gdb says so (use `target extended-remote`).
    #[arg(long)]
    multi: bool,

    /// Exit after the first connection has closed.
    #[arg(long)]
    once: bool,

    /// Threads gdb sees: one per goroutine, or one per OS thread. Default: goroutines for Go
    /// programs, OS threads otherwise.
    #[arg(long, value_enum, value_name = "VIEW", default_value_t = ThreadsView::Auto)]
    threads: ThreadsView,

    /// Signals passed to the program without stopping, until the client sends its own list:
    /// comma-separated names (SIGURG, urg) or numbers (14), or `none`.
    #[arg(
        long,
        value_name = "LIST",
        default_value = DEFAULT_PASS_SIGNALS,
        value_parser = parse_signal_list
    )]
    pass_signals: SignalList,

    /// GOTRACEBACK level for launched Go programs.
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "all",
        value_parser = PossibleValuesParser::new(["none", "single", "all", "system", "crash"])
    )]
    traceback: String,

    /// At most N goroutines are shown as threads in the goroutines view: the running ones first,
    /// then by goid (`monitor threads` says how many are left out; `monitor goroutines` lists
    /// them all). gdb works through the whole thread list at every stop, so the cap keeps a stop
    /// as quick as gdbserver's even with 100,000 goroutines.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 128,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..)
    )]
    max_threads: usize,

    /// Size of the target-memory page cache, in 4 KiB pages.
    #[arg(
        long,
        value_name = "N",
        default_value_t = memcache::DEFAULT_MAX_PAGES,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..)
    )]
    cache_pages: usize,

    #[command(flatten)]
    gdbserver: gdbserver_options::GdbserverOptions,

    /// :PORT, HOST:PORT, or - for stdio.
    #[arg(value_name = "COMM", value_parser = parse_comm, required_unless_present = "selftest")]
    comm: Option<Comm>,

    /// PROGRAM [ARGS...] to start, the PID with --attach, or CORE [PROGRAM] with --core.
    #[arg(
        value_name = "PROGRAM|PID",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    target: Vec<OsString>,
}

/// Wrapper so clap treats the parsed list as one value, not a `Vec` of occurrences.
#[derive(Debug, Clone)]
struct SignalList(Vec<i32>);

/// Parses `args` (including `argv[0]`) into a validated [`Config`].
pub fn parse_from<I, T>(args: I) -> Result<Config, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = Args::try_parse_from(args)?;
    let mode = if args.gdbserver.selftest.is_some() {
        Mode::Selftest
    } else if args.core {
        core_mode(args.target)?
    } else {
        mode_of(args.attach, args.multi, args.target)?
    };
    Ok(Config {
        comm: args.comm.unwrap_or(Comm::Stdio),
        mode,
        wrapper: args.gdbserver.wrapper(),
        disable_randomization: args.gdbserver.disable_randomization(),
        debug: args.gdbserver.debug(),
        threads_view: args.threads,
        pass_signals: args.pass_signals.0,
        traceback: args.traceback,
        max_threads: args.max_threads,
        cache_pages: args.cache_pages,
        once: args.once,
    })
}

/// Parses the process's own arguments; prints clap's message and exits on error, `--help` or
/// `--version`.
pub fn parse() -> Config {
    parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// A warning to print when the stub listens where other hosts can reach it.
pub fn exposure_warning(config: &Config) -> Option<String> {
    match config.comm {
        Comm::Tcp(addr) if !addr.ip().is_loopback() => Some(format!(
            "warning: listening on {addr}, which other hosts can reach; anyone who connects can \
             run arbitrary code as this user. Use :PORT or 127.0.0.1:PORT to stay local."
        )),
        _ => None,
    }
}

fn usage_error(kind: ErrorKind, message: String) -> clap::Error {
    Args::command().error(kind, message)
}

fn mode_of(attach: bool, multi: bool, target: Vec<OsString>) -> Result<Mode, clap::Error> {
    if multi {
        if let Some(extra) = target.first() {
            return Err(usage_error(
                ErrorKind::UnknownArgument,
                format!(
                    "--multi takes no PROGRAM or PID, got '{}'",
                    extra.to_string_lossy()
                ),
            ));
        }
        return Ok(Mode::Multi);
    }
    if attach {
        return match target.as_slice() {
            [pid] => Ok(Mode::Attach {
                pid: parse_pid(pid)?,
            }),
            [] => Err(usage_error(
                ErrorKind::MissingRequiredArgument,
                "--attach needs a PID after COMM".to_string(),
            )),
            [_, extra, ..] => Err(usage_error(
                ErrorKind::UnknownArgument,
                format!(
                    "--attach takes exactly one PID, unexpected '{}'",
                    extra.to_string_lossy()
                ),
            )),
        };
    }
    let mut words = target.into_iter();
    let Some(program) = words.next() else {
        return Err(usage_error(
            ErrorKind::MissingRequiredArgument,
            "missing PROGRAM (or use --attach COMM PID, or --multi COMM)".to_string(),
        ));
    };
    if program.is_empty() {
        return Err(usage_error(
            ErrorKind::InvalidValue,
            "PROGRAM is empty".to_string(),
        ));
    }
    let program = PathBuf::from(program);
    let program = if program.is_relative() {
        std::env::current_dir()
            .map_err(|e| {
                usage_error(
                    ErrorKind::Io,
                    format!("cannot make PROGRAM absolute: current directory: {e}"),
                )
            })?
            .join(program)
    } else {
        program
    };
    Ok(Mode::Launch {
        program,
        args: words.collect(),
    })
}

fn core_mode(target: Vec<OsString>) -> Result<Mode, clap::Error> {
    let mut words = target.into_iter().map(PathBuf::from);
    match (words.next(), words.next(), words.next()) {
        (Some(core), program, None) => Ok(Mode::Core { core, program }),
        (None, ..) => Err(usage_error(
            ErrorKind::MissingRequiredArgument,
            "--core needs a CORE file after COMM".to_string(),
        )),
        (Some(_), _, Some(extra)) => Err(usage_error(
            ErrorKind::UnknownArgument,
            format!(
                "--core takes CORE and at most a PROGRAM, unexpected '{}'",
                extra.display()
            ),
        )),
    }
}

fn parse_pid(word: &OsString) -> Result<i32, clap::Error> {
    word.to_str()
        .and_then(|s| s.parse::<i32>().ok())
        .filter(|pid| *pid > 0)
        .ok_or_else(|| {
            usage_error(
                ErrorKind::InvalidValue,
                format!(
                    "invalid PID '{}': expected a positive process id",
                    word.to_string_lossy()
                ),
            )
        })
}

fn parse_comm(text: &str) -> Result<Comm, String> {
    if text == "-" || text == "stdio" {
        return Ok(Comm::Stdio);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "expected :PORT, HOST:PORT or - (serial devices such as '{text}' are not supported)"
        ));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("invalid port '{port}' (0-65535)"))?;
    if host.is_empty() {
        return Ok(Comm::Tcp(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        )));
    }
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let mut addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{text}: cannot resolve name: {}", resolver_message(&e)))?;
    addrs
        .next()
        .map(Comm::Tcp)
        .ok_or_else(|| format!("'{host}' resolves to no address"))
}

/// The resolver's own words (`Name or service not known`), without Rust's prefix.
fn resolver_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    text.strip_prefix("failed to lookup address information: ")
        .unwrap_or(&text)
        .to_string()
}

fn parse_signal_list(text: &str) -> Result<SignalList, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(SignalList(Vec::new()));
    }
    let mut signals = text
        .split(',')
        .map(|word| parse_signal(word.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    signals.sort_unstable();
    signals.dedup();
    Ok(SignalList(signals))
}

fn parse_signal(word: &str) -> Result<i32, String> {
    if word.is_empty() {
        return Err("empty signal name in list".to_string());
    }
    let upper = word.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let number = if bare.bytes().all(|b| b.is_ascii_digit()) {
        bare.parse::<i32>()
            .ok()
            .filter(|n| (1..=MAX_SIGNAL).contains(n))
    } else {
        let canonical = match bare {
            "POLL" => "IO",
            "IOT" => "ABRT",
            "CLD" => "CHLD",
            other => other,
        };
        Signal::from_str(&format!("SIG{canonical}"))
            .ok()
            .map(|s| s as i32)
    };
    let number = number.ok_or_else(|| format!("unknown signal '{word}'"))?;
    if [Signal::SIGTRAP, Signal::SIGKILL, Signal::SIGSTOP]
        .iter()
        .any(|s| *s as i32 == number)
    {
        return Err(format!(
            "signal '{word}' cannot be passed through (the stub needs it)"
        ));
    }
    Ok(number)
}

#[cfg(test)]
mod tests;
