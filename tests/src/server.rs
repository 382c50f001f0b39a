//! The server under test (gostub, gdbserver or lldb-server), started in one
//! `Mode` on a free port and killed on drop with the program it launched.
//!
//! Quirks: gdbserver keeps a launched program when its client vanishes
//! unless `--once`; lldb-server wants `HOST:PORT` and has no `--multi`.

use crate::paths::{gostub_bin, TempDir};
use crate::process::{
    children_of, free_port, kill, port_listening, wait_until, Proc, SERVER_TIMEOUT,
};
use crate::skip::{server_kind, ServerKind};
use crate::transcript::tail;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How to start the server.
pub enum Mode<'a> {
    Launch(&'a Path, &'a [&'a str]),
    /// Like Launch, with `--` before the program.
    LaunchDashDash(&'a Path, &'a [&'a str]),
    Attach(i32),
    /// `--core CORE [PROGRAM]` (gostub only).
    Core(&'a Path, Option<&'a Path>),
    Multi,
}

/// The server under test, listening on 127.0.0.1:`port`. Killed on drop,
/// together with any inferior it launched.
pub struct Server {
    pub proc: Proc,
    pub port: u16,
    pub kind: ServerKind,
    /// Inferior launched by the server (found once it has started).
    launched: Option<i32>,
    pub dir: TempDir,
}

/// Program and arguments that start the server under test in `mode` on `comm`.
pub fn server_command(mode: &Mode, comm: &str) -> (PathBuf, Vec<String>) {
    server_command_with(&[], mode, comm)
}

/// Like [`server_command`], with the server's own `options` first (gdbserver's options, which
/// both gostub and gdbserver take).
fn server_command_with(options: &[&str], mode: &Mode, comm: &str) -> (PathBuf, Vec<String>) {
    let kind = server_kind();
    let prog = match kind {
        ServerKind::Gostub => gostub_bin(),
        ServerKind::Gdbserver => PathBuf::from("gdbserver"),
        ServerKind::LldbServer => PathBuf::from("lldb-server-19"),
    };
    let s = |x: &str| x.to_string();
    let mut args: Vec<String> = options.iter().map(|o| s(o)).collect();
    let prog_args = |p: &Path, a: &[&str]| {
        let mut v = vec![p.display().to_string()];
        v.extend(a.iter().map(|x| x.to_string()));
        v
    };
    match kind {
        ServerKind::Gostub | ServerKind::Gdbserver => {
            // Without --once both keep a launched program (and its ptrace
            // stop) when its client vanishes, and listen again. With it,
            // they exit and kill or detach, which the tests expect.
            if !matches!(mode, Mode::Multi) {
                args.push(s("--once"));
            }
            match mode {
                Mode::Launch(p, a) => {
                    args.push(s(comm));
                    args.extend(prog_args(p, a));
                }
                Mode::LaunchDashDash(p, a) => {
                    args.push(s(comm));
                    args.push(s("--"));
                    args.extend(prog_args(p, a));
                }
                Mode::Attach(pid) => {
                    args.extend([s("--attach"), s(comm), pid.to_string()]);
                }
                Mode::Core(core, program) => {
                    args.extend([s("--core"), s(comm), core.display().to_string()]);
                    args.extend(program.map(|p| p.display().to_string()));
                }
                Mode::Multi => {
                    args.extend([s("--multi"), s(comm)]);
                }
            }
        }
        ServerKind::LldbServer => {
            let comm = if comm.starts_with(':') {
                format!("127.0.0.1{comm}")
            } else {
                s(comm)
            };
            args.push(s("gdbserver"));
            match mode {
                Mode::Launch(p, a) | Mode::LaunchDashDash(p, a) => {
                    args.extend([comm, s("--")]);
                    args.extend(prog_args(p, a));
                }
                Mode::Attach(pid) => args.extend([s("--attach"), pid.to_string(), comm]),
                Mode::Multi => panic!("lldb-server has no --multi"),
                Mode::Core(..) => panic!("lldb-server serves no core files"),
            }
        }
    }
    (prog, args)
}

impl Server {
    pub fn start(mode: Mode) -> Server {
        Server::start_env(mode, &[])
    }

    /// Like `start`, with extra environment variables (inherited by a
    /// launched program).
    pub fn start_env(mode: Mode, env: &[(&str, &str)]) -> Server {
        Server::start_full(&[], mode, env)
    }

    /// Like `start`, with the server's own `options` before COMM (`--wrapper env X=1 --`).
    pub fn start_with(options: &[&str], mode: Mode) -> Server {
        Server::start_full(options, mode, &[])
    }

    /// Like `start`, with the server's own `options` and extra environment variables (a
    /// `RUST_LOG` among them sets gostub's log).
    pub fn start_full(options: &[&str], mode: Mode, env: &[(&str, &str)]) -> Server {
        let kind = server_kind();
        let dir = TempDir::new("server");
        for attempt in 0..3 {
            let port = free_port();
            let (prog, args) = server_command_with(options, &mode, &format!(":{port}"));
            let mut cmd = Command::new(&prog);
            cmd.args(&args).stdin(Stdio::null());
            cmd.envs(env.iter().copied());
            let log_set = env.iter().any(|(k, _)| *k == "RUST_LOG");
            if kind == ServerKind::Gostub && !log_set && std::env::var_os("RUST_LOG").is_none() {
                cmd.env("RUST_LOG", "gostub=debug");
            }
            let mut proc =
                Proc::spawn(cmd, dir.path(), &format!("server{attempt}"), SERVER_TIMEOUT);
            let up = wait_until(Duration::from_secs(20), || {
                port_listening(port) || !proc.running()
            });
            if up && proc.running() {
                let mut s = Server {
                    proc,
                    port,
                    kind,
                    launched: None,
                    dir,
                };
                if matches!(mode, Mode::Launch(..) | Mode::LaunchDashDash(..)) {
                    s.launched = s.find_inferior();
                }
                return s;
            }
            let err = proc.stderr_text();
            if attempt == 2 || !err.contains("in use") {
                panic!(
                    "server did not start listening on port {port}: {}\nstdout:\n{}\nstderr:\n{err}",
                    proc.what,
                    proc.stdout_text()
                );
            }
        }
        unreachable!()
    }

    /// `:PORT` for gdb's `target remote`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The pid of the launched inferior (a child of the server).
    pub fn inferior_pid(&self) -> i32 {
        self.launched.expect("server launched no inferior")
    }

    fn find_inferior(&self) -> Option<i32> {
        let mut found = None;
        wait_until(Duration::from_secs(10), || {
            found = children_of(self.proc.pid()).into_iter().next();
            found.is_some()
        });
        found
    }

    pub fn running(&mut self) -> bool {
        self.proc.running()
    }

    /// Server output (stdout + stderr), for failure messages.
    pub fn log(&self) -> String {
        format!(
            "--- server stdout ---\n{}\n--- server stderr ---\n{}",
            tail(&self.proc.stdout_text(), 4000),
            tail(&self.proc.stderr_text(), 8000)
        )
    }

    /// All the server's stderr (its log), where `log` keeps the tail.
    pub fn stderr(&self) -> String {
        self.proc.stderr_text()
    }

    /// Fails the test if the server panicked.
    pub fn assert_no_panic(&self) {
        let err = self.proc.stderr_text();
        assert!(
            !err.contains("panicked at"),
            "server panicked:\n{}",
            self.log()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.proc.kill_now();
        if let Some(pid) = self.launched {
            kill(pid, libc::SIGKILL);
        }
    }
}
