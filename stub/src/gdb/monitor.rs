//! `monitor …` commands (`qRcmd`; lldb: `process plugin packet monitor …`). An unknown (or
//! empty) command gets gdbserver's answer: "Unknown monitor command.", the help text, then an
//! error reply (gdb: "Protocol error with Rcmd"), which never ends the session.
//!
//! gdbserver's own commands are there too, as GDB's testsuite sends them: `exit` (sent at every
//! restart) makes the stub exit as soon as its (empty) reply is out, killing or detaching the
//! process, as gdbserver's does; `set debug`, `set remote-debug`, `set debug-format` and
//! `set libthread-db-search-path` are accepted (the log level is fixed at startup by `--debug` /
//! `--remote-debug` / RUST_LOG, and gostub reads threads without libthread_db; the search path
//! only decides whether TLS addresses are given, as in gdbserver: see `tls.rs`).

use std::sync::atomic::{AtomicBool, Ordering};

use gdbstub::outputln;
use gdbstub::target::ext::monitor_cmd::{ConsoleOutput, MonitorCmd};

use super::threads::View;
use super::{GdbTarget, StubError};
use crate::cli::ThreadsView;
use crate::goroutines::{GoState, GoViewError, ListFilter};
use crate::process::Backend;

const HELP: &str = "\
The following monitor commands are supported:
gostub's commands:
  help                        this text
  stats                       memory cache hits, misses, syscalls and bytes: last stop and total
  goroutines [-s STATUS] [-w WAITREASON] [-f FUNC] [-l KEY=VALUE] [-new] [-group top|start|go|wait] [-n LIMIT]
                              one line per goroutine: the runtime's header and the top shown frame;
                              -new: only goroutines created since the previous listing, and how
                              many of that listing's exited
  goroutine ID [bt]           the runtime's traceback text of one goroutine
  traceback [none|single|all|system|crash]
                              show or set which frames and goroutines are shown
                              (goroutine threads follow it from the next stop on)
  threads [goroutines|os]     show or set what the client sees as threads
gdbserver's commands:
  exit                        exit at once (the process is killed or detached)
  set debug on|off|1|0        accepted; the debug log is set at startup (--debug, RUST_LOG)
  set remote-debug on|off|1|0 accepted; the packet log is set at startup (--remote-debug)
  set debug-format all|none|timestamp
                              accepted; log timestamps are set at startup (--debug-format)
  set libthread-db-search-path [PATH]
                              gostub lists threads without libthread_db; while PATH has
                              no libthread_db.so.1, TLS variables are refused (gdbserver's)";

/// Set by `monitor exit`: the stub exits as soon as the reply is sent.
static EXIT_REQUESTED: AtomicBool = AtomicBool::new(false);

/// Whether a client asked the stub to exit (`monitor exit`).
pub fn exit_requested() -> bool {
    EXIT_REQUESTED.load(Ordering::Relaxed)
}

/// gdbserver's `monitor set ...`: the reply for `words` (what follows `set`), in gdbserver's
/// words, since GDB's testsuite matches them.
fn set_command<'a>(mut words: impl Iterator<Item = &'a str>) -> String {
    let what = words.next().unwrap_or("");
    let value: Vec<&str> = words.collect();
    let on_off = |v: &str| match v {
        "1" | "on" => Some("enabled"),
        "0" | "off" => Some("disabled"),
        _ => None,
    };
    match (what, value.as_slice()) {
        ("debug", [v]) if on_off(v).is_some() => {
            format!("Debug output {}.", on_off(v).unwrap_or(""))
        }
        ("remote-debug", [v]) if on_off(v).is_some() => {
            format!("Protocol debug output {}.", on_off(v).unwrap_or(""))
        }
        ("debug" | "remote-debug", _) => format!("usage: set {what} on|off|1|0"),
        ("debug-format", ["all"]) => "All extra debug format options enabled.".to_string(),
        ("debug-format", ["none"]) => "All extra debug format options disabled.".to_string(),
        ("debug-format", ["timestamp"]) => "Timestamps will be added to debug output.".to_string(),
        ("debug-format", _) => "usage: set debug-format all|none|timestamp".to_string(),
        _ => format!("unknown setting '{what}'; try 'monitor help'"),
    }
}

impl GdbTarget {
    /// The figures `monitor stats` prints and the per-stop debug log line carries.
    pub fn stats_text(&self) -> String {
        let Some(backend) = self.session.backend_ref() else {
            return "no process".to_string();
        };
        let stats = backend.memory_stats();
        let (last, total, sys) = (stats.last_stop, stats.total, stats.syscalls);
        format!(
            "last stop: {} hits, {} misses, {} pages fetched in {} batches, {} bytes served\n\
             total:     {} hits, {} misses, {} pages fetched in {} batches, {} bytes served\n\
             syscalls:  {} process_vm_readv, {} pread64, {} pwrite64; {} bytes read, {} bytes written",
            last.hits,
            last.misses,
            last.pages_fetched,
            last.batches,
            last.bytes_served,
            total.hits,
            total.misses,
            total.pages_fetched,
            total.batches,
            total.bytes_served,
            sys.process_vm_readv,
            sys.pread64,
            sys.pwrite64,
            sys.bytes_read,
            sys.bytes_written,
        )
    }
}

impl GdbTarget {
    /// Runs `f` on the Go state and the stopped process.
    fn with_go<R>(
        &mut self,
        f: impl FnOnce(&mut GoState, &mut dyn Backend) -> Result<R, GoViewError>,
    ) -> Result<R, GoViewError> {
        let backend = self.session.backend().map_err(|_| GoViewError::NoProcess)?;
        if backend.is_running() {
            return Err(GoViewError::Running);
        }
        f(&mut self.go, backend)
    }
}

/// Writes `text` and a newline in console packets of at most 16 KiB each, flushed one by one, so
/// a 100,000-line goroutine list is never held twice more in buffers.
fn send_text(out: &mut ConsoleOutput<'_>, text: &str) {
    const CHUNK: usize = 16 * 1024;
    let mut rest = text.as_bytes();
    while rest.len() > CHUNK {
        // Cut after a newline where there is one (the client joins the pieces either way).
        let cut = rest[..CHUNK]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(CHUNK, |i| i + 1);
        out.write_raw(&rest[..cut]);
        out.flush();
        rest = &rest[cut..];
    }
    out.write_raw(rest);
    out.write_raw(b"\n");
    out.flush();
}

impl MonitorCmd for GdbTarget {
    fn handle_monitor_cmd(
        &mut self,
        cmd: &[u8],
        mut out: ConsoleOutput<'_>,
    ) -> Result<(), Self::Error> {
        let cmd = String::from_utf8_lossy(cmd);
        let mut words = cmd.split_whitespace();
        match words.next() {
            Some("help") => outputln!(out, "{}", HELP),
            // gdbserver says nothing; the stub exits once the reply is out (see event_loop).
            Some("exit") => EXIT_REQUESTED.store(true, Ordering::Relaxed),
            Some("set") => {
                let words: Vec<&str> = words.collect();
                match words.split_first() {
                    Some((&"libthread-db-search-path", path)) => {
                        outputln!(out, "{}", self.set_thread_db_path(&path.join(" ")))
                    }
                    _ => outputln!(out, "{}", set_command(words.into_iter())),
                }
            }
            Some("stats") => outputln!(out, "{}", self.stats_text()),
            Some("traceback") => match words.next() {
                None => outputln!(out, "traceback {}", self.go.policy),
                Some(level) => match level.parse() {
                    Ok(policy) => {
                        let stop = self.session.backend_ref().map(|b| b.stop_id());
                        outputln!(out, "traceback {}", policy);
                        if let Some(kept) = self.go.set_policy(policy, stop) {
                            outputln!(
                                out,
                                "goroutine threads keep traceback {kept} until the next stop"
                            );
                        }
                    }
                    Err(e) => outputln!(out, "{}", e),
                },
            },
            Some("threads") => {
                let view = match words.next() {
                    None => None,
                    Some("goroutines") => Some(ThreadsView::Goroutines),
                    Some("os") => Some(ThreadsView::Os),
                    Some(other) => {
                        outputln!(out, "unknown thread view '{}': goroutines or os", other);
                        return Ok(());
                    }
                };
                if let Some(view) = view {
                    self.set_view(view);
                }
                let now = match self.view() {
                    View::Goroutines => "goroutines",
                    View::Os => "os",
                };
                outputln!(out, "threads {}", now);
                let hidden = self.hidden_goroutines();
                if hidden > 0 {
                    outputln!(out, "{} goroutines hidden by --max-threads", hidden);
                }
            }
            Some("goroutines") => {
                let mut send = |piece: &str| {
                    out.write_raw(piece.as_bytes());
                    out.flush();
                };
                let listed = ListFilter::parse(words)
                    .map_err(GoViewError::from)
                    .and_then(|filter| {
                        self.with_go(|go, inf| go.list_text(inf, &filter, &mut send))
                    });
                match listed {
                    Ok(()) => send_text(&mut out, ""),
                    Err(e) => send_text(&mut out, &e.to_string()),
                }
            }
            Some("goroutine") => {
                let text = match (words.next().map(str::parse::<u64>), words.next()) {
                    (Some(Ok(goid)), None | Some("bt")) => {
                        self.with_go(|go, inf| go.traceback(inf, goid))
                    }
                    _ => Err(GoViewError::Usage),
                };
                send_text(&mut out, &text.unwrap_or_else(|e| e.to_string()))
            }
            None | Some(_) => {
                outputln!(out, "Unknown monitor command.\n\n{}", HELP);
                return Err(StubError::BadArgument(cmd.into_owned()));
            }
        }
        Ok(())
    }
}
