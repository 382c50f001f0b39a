//! Debugger clients: `Session` builds one batch run of gdb or lldb-19,
//! `Run` is its captured output with the assertions tests make on it, and
//! `Background` is a run still going (for Ctrl-C and kill tests).
//!
//! gdb prints errors on stderr: a run's stdout and stderr go to one file, in
//! order, so that tests see them in sequence.

use crate::paths::TempDir;
use crate::process::{kill, wait_until, Proc};
use crate::server::Server;
use crate::transcript::tail;
use regex::Regex;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Hard timeout of one debugger run.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    Gdb,
    Lldb,
}

/// The captured result of one debugger run.
pub struct Run {
    pub client: Client,
    pub stdout: String,
    pub stderr: String,
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub elapsed: Duration,
    pub cmdline: String,
}

impl Run {
    /// stdout and stderr together (gdb prints errors on stderr).
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    fn describe(&self) -> String {
        format!(
            "{:?} run ({:?}, timed out: {}, {:?}):\n{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.client,
            self.status,
            self.timed_out,
            self.elapsed,
            self.cmdline,
            tail(&self.stdout, 12000),
            tail(&self.stderr, 6000)
        )
    }

    /// Asserts that the output (stdout+stderr) matches every regex.
    pub fn expect(&self, regexes: &[&str]) -> &Self {
        let all = self.all();
        for re in regexes {
            let r = Regex::new(re).unwrap_or_else(|e| panic!("bad regex {re}: {e}"));
            assert!(
                r.is_match(&all),
                "expected /{re}/ in output of {}",
                self.describe()
            );
        }
        self
    }

    /// Asserts that the output matches none of the regexes.
    pub fn expect_not(&self, regexes: &[&str]) -> &Self {
        let all = self.all();
        for re in regexes {
            let r = Regex::new(re).unwrap();
            if let Some(m) = r.find(&all) {
                panic!(
                    "unexpected /{re}/ ({:?}) in output of {}",
                    m.as_str(),
                    self.describe()
                );
            }
        }
        self
    }

    /// Number of matches of `re` in the output.
    pub fn count(&self, re: &str) -> usize {
        Regex::new(re).unwrap().find_iter(&self.all()).count()
    }

    /// Asserts that `re` matches at least `min` times.
    pub fn expect_count_at_least(&self, re: &str, min: usize) -> &Self {
        let n = self.count(re);
        assert!(
            n >= min,
            "expected /{re}/ at least {min} times, got {n}: {}",
            self.describe()
        );
        self
    }

    /// The first capture group of `re`; panics when there is no match.
    pub fn capture(&self, re: &str) -> String {
        let r = Regex::new(re).unwrap();
        match r.captures(&self.all()) {
            Some(c) => c.get(1).map(|m| m.as_str().to_string()).unwrap_or_default(),
            None => panic!("no /{re}/ in output of {}", self.describe()),
        }
    }

    /// A hex number captured by `re` (with or without 0x).
    pub fn capture_hex(&self, re: &str) -> u64 {
        let s = self.capture(re);
        u64::from_str_radix(s.trim_start_matches("0x"), 16)
            .unwrap_or_else(|e| panic!("{s:?} is not hex: {e}"))
    }

    /// Asserts that the debugger finished by itself before its timeout.
    pub fn expect_finished(&self) -> &Self {
        assert!(!self.timed_out, "debugger timed out: {}", self.describe());
        self
    }
}

/// Builds the command line of a batch debugger run.
pub struct Session {
    pub client: Client,
    cmds: Vec<String>,
    pre: Vec<String>,
    file: Option<PathBuf>,
    timeout: Duration,
}

impl Session {
    pub fn gdb() -> Session {
        Session {
            client: Client::Gdb,
            cmds: vec![],
            pre: vec![],
            file: None,
            timeout: CLIENT_TIMEOUT,
        }
    }
    pub fn lldb() -> Session {
        Session {
            client: Client::Lldb,
            cmds: vec![],
            pre: vec![],
            file: None,
            timeout: CLIENT_TIMEOUT,
        }
    }
    pub fn new(client: Client) -> Session {
        match client {
            Client::Gdb => Session::gdb(),
            Client::Lldb => Session::lldb(),
        }
    }
    /// The local program file (gdb: `file`, lldb: `target create`).
    pub fn file(mut self, p: &Path) -> Self {
        self.file = Some(p.to_path_buf());
        self
    }
    /// A command run before the file is loaded (gdb -iex).
    pub fn pre(mut self, c: impl Into<String>) -> Self {
        self.pre.push(c.into());
        self
    }
    pub fn cmd(mut self, c: impl Into<String>) -> Self {
        self.cmds.push(c.into());
        self
    }
    pub fn cmds<S: Into<String>>(mut self, cs: impl IntoIterator<Item = S>) -> Self {
        for c in cs {
            self.cmds.push(c.into());
        }
        self
    }
    /// `n` times the given commands.
    pub fn repeat(mut self, n: usize, cs: &[&str]) -> Self {
        for _ in 0..n {
            for c in cs {
                self.cmds.push(c.to_string());
            }
        }
        self
    }
    /// Connects to `server` (gdb: `target remote`, lldb: `gdb-remote`).
    pub fn connect(self, server: &Server) -> Self {
        let c = match self.client {
            Client::Gdb => format!("target remote {}", server.addr()),
            Client::Lldb => format!("gdb-remote {}", server.addr()),
        };
        self.cmd(c)
    }
    /// Sets a breakpoint at `symbol` and continues to it (gdb: `break`,
    /// lldb: `breakpoint set -n`). gdb also takes `*ADDR`.
    pub fn continue_to(self, symbol: &str) -> Self {
        let b = match self.client {
            Client::Gdb => format!("break {symbol}"),
            Client::Lldb => format!("breakpoint set -n {symbol}"),
        };
        self.cmd(b).cmd("continue")
    }
    /// A marker line `@@S name` in the output, where `split_sections` cuts.
    pub fn section(self, name: &str) -> Self {
        let c = match self.client {
            Client::Gdb => format!("echo @@S {name}\\n"),
            Client::Lldb => format!("script print(\"@@S {name}\")"),
        };
        self.cmd(c)
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    pub fn command(&self) -> Command {
        match self.client {
            Client::Gdb => {
                let mut c = Command::new("gdb");
                c.args(["-nx", "-batch"]);
                for pre in [
                    "set pagination off",
                    "set confirm off",
                    "set width 0",
                    "set height 0",
                    "set debuginfod enabled off",
                    "set auto-load safe-path /",
                ] {
                    c.args(["-iex", pre]);
                }
                for p in &self.pre {
                    c.args(["-iex", p]);
                }
                if let Some(f) = &self.file {
                    c.args(["-ex", &format!("file {}", f.display())]);
                }
                for cmd in &self.cmds {
                    c.args(["-ex", cmd]);
                }
                c
            }
            Client::Lldb => {
                let mut c = Command::new("lldb-19");
                c.args(["--no-lldbinit", "-b"]);
                c.args(["-O", "settings set auto-confirm true"]);
                c.args(["-O", "settings set use-color false"]);
                for p in &self.pre {
                    c.args(["-O", p]);
                }
                if let Some(f) = &self.file {
                    c.args(["-o", &format!("target create {}", f.display())]);
                }
                for cmd in &self.cmds {
                    c.args(["-o", cmd]);
                }
                c
            }
        }
    }

    pub fn cmdline(&self) -> String {
        let c = self.command();
        let mut s = c.get_program().to_string_lossy().into_owned();
        for a in c.get_args() {
            let a = a.to_string_lossy();
            if a.contains(' ') || a.contains('\'') {
                let _ = write!(s, " '{}'", a.replace('\'', "'\\''"));
            } else {
                let _ = write!(s, " {a}");
            }
        }
        s
    }

    /// Runs the debugger to completion (or its timeout, then it is killed).
    pub fn run(&self) -> Run {
        let mut bg = self.spawn();
        bg.wait()
    }

    /// Starts the debugger and returns at once.
    pub fn spawn(&self) -> Background {
        let dir = TempDir::new("client");
        let mut cmd = self.command();
        cmd.stdin(Stdio::null());
        let start = Instant::now();
        // One ordered stream: gdb prints errors ("Cannot access memory") on
        // stderr, and tests look at them in sequence with the rest.
        let proc = Proc::spawn_with(
            cmd,
            dir.path(),
            "client",
            self.timeout + Duration::from_secs(5),
            true,
        );
        Background {
            proc,
            dir,
            start,
            timeout: self.timeout,
            client: self.client,
            cmdline: self.cmdline(),
        }
    }
}

/// A debugger running in the background (for Ctrl-C and kill tests).
pub struct Background {
    pub proc: Proc,
    dir: TempDir,
    start: Instant,
    timeout: Duration,
    client: Client,
    cmdline: String,
}

impl Background {
    /// Waits until its output matches `re` (panics with the output if not).
    pub fn wait_output(&mut self, re: &str, timeout: Duration) {
        let r = Regex::new(re).unwrap();
        let ok = wait_until(timeout, || {
            r.is_match(&self.proc.stdout_text()) || r.is_match(&self.proc.stderr_text())
        });
        assert!(
            ok,
            "no /{re}/ within {timeout:?} from {}\nstdout:\n{}\nstderr:\n{}",
            self.cmdline,
            self.proc.stdout_text(),
            self.proc.stderr_text()
        );
    }

    pub fn pid(&self) -> i32 {
        self.proc.pid()
    }

    /// Waits for the debugger to exit; kills it after the session timeout.
    pub fn wait(&mut self) -> Run {
        let left = self.timeout.saturating_sub(self.start.elapsed());
        let status = self.proc.wait_exit(left);
        let timed_out = status.is_none();
        if timed_out {
            self.proc.kill_now();
        }
        let _ = &self.dir;
        Run {
            client: self.client,
            stdout: self.proc.stdout_text(),
            stderr: self.proc.stderr_text(),
            status,
            timed_out,
            elapsed: self.start.elapsed(),
            cmdline: self.cmdline.clone(),
        }
    }

    /// SIGKILLs the debugger (only it, not its process group).
    pub fn sigkill(&mut self) {
        kill(self.proc.pid(), libc::SIGKILL);
        let _ = self.proc.wait_exit(Duration::from_secs(5));
    }
}
