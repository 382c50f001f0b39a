//! Processes a test starts or looks at: free ports, /proc state of a pid
//! (a zombie counts as dead), polling, and `Proc`, a child killed with its
//! process group on drop and by a watchdog after its timeout, so that a
//! panicking or hanging test leaves nothing behind.

use crate::paths::TempDir;
use regex::Regex;
use std::fs::{self, File};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A server (or a directly started fixture) that outlives this is killed by
/// its watchdog.
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(180);

/// A free TCP port on 127.0.0.1. Ports are handed out increasing from a
/// per-process start so that two tests of one binary never race for one.
pub fn free_port() -> u16 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        // 20000..60000, spread by pid so that test binaries running at once differ.
        let port = 20000 + ((std::process::id() as u64 * 97 + n * 7) % 40000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && !port_listening(port) {
            return port;
        }
    }
}

/// Whether some socket listens on TCP `port` (from /proc/net/tcp{,6}); this
/// does not connect, so it does not use up a server's single connection.
pub fn port_listening(port: u16) -> bool {
    let want = format!(":{port:04X}");
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(f) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() > 3 && cols[1].ends_with(&want) && cols[3] == "0A" {
                return true;
            }
        }
    }
    false
}

pub fn pid_alive(pid: i32) -> bool {
    // A zombie is dead for our purposes.
    match proc_state(pid) {
        None => false,
        Some(s) => s != 'Z' && s != 'X',
    }
}

/// The state letter of /proc/PID/stat (R, S, t, T, Z, ...).
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.chars().next()
}

/// The tracer of PID (TracerPid in /proc/PID/status), 0 when not traced.
pub fn tracer_pid(pid: i32) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Direct children of PID.
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(stat) = fs::read_to_string(format!("/proc/{p}/stat")) {
            if let Some(r) = stat.rfind(')') {
                let fields: Vec<&str> = stat[r + 2..].split_whitespace().collect();
                if fields.get(1).and_then(|s| s.parse::<i32>().ok()) == Some(pid) {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// Number of threads of PID.
/// Each thread of `pid` and its state letter from /proc (`t`: in a ptrace stop).
pub fn task_states(pid: i32) -> Vec<(i32, char)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let tid: i32 = e.file_name().to_string_lossy().parse().ok()?;
                    let stat =
                        std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
                    Some((tid, stat[stat.rfind(')')? + 2..].chars().next()?))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn thread_count(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

pub fn kill(pid: i32, sig: i32) {
    if pid > 0 {
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process that is SIGKILLed (with its process group) on drop, with
/// stdout and stderr in files.
pub struct Proc {
    pub child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub what: String,
    watchdog: Arc<AtomicBool>,
}

impl Proc {
    /// Spawns `cmd` in its own process group, output to files in `dir`,
    /// stdin from /dev/null unless `stdin` is given. A watchdog kills it
    /// after `timeout`.
    pub fn spawn(cmd: Command, dir: &Path, tag: &str, timeout: Duration) -> Proc {
        Proc::spawn_with(cmd, dir, tag, timeout, false)
    }

    /// Like `spawn`; with `merge`, stderr goes to the stdout file, so that
    /// the two streams stay in order (the stderr file stays empty).
    pub fn spawn_with(
        mut cmd: Command,
        dir: &Path,
        tag: &str,
        timeout: Duration,
        merge: bool,
    ) -> Proc {
        let stdout = dir.join(format!("{tag}.stdout"));
        let stderr = dir.join(format!("{tag}.stderr"));
        let out = File::create(&stdout).unwrap();
        let err = if merge {
            out.try_clone().unwrap()
        } else {
            File::create(&stderr).unwrap()
        };
        cmd.stdout(out).stderr(err).process_group(0);
        let what = format!("{cmd:?}");
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let watchdog = Arc::new(AtomicBool::new(false));
        let done = watchdog.clone();
        let pid = child.id() as i32;
        std::thread::spawn(move || {
            let end = Instant::now() + timeout;
            while Instant::now() < end {
                if done.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if !done.load(Ordering::SeqCst) {
                eprintln!("watchdog: killing pid {pid} after {timeout:?}");
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        });
        Proc {
            child,
            stdout,
            stderr,
            what,
            watchdog,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stdout_text(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr_text(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Whether it is still running (reaps it if it exited).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for it to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until stdout matches `re`; panics with the output on timeout.
    pub fn wait_stdout(&mut self, re: &str, timeout: Duration) -> String {
        let re = Regex::new(re).unwrap();
        let ok = wait_until(timeout, || re.is_match(&self.stdout_text()));
        let out = self.stdout_text();
        assert!(
            ok,
            "{} did not print /{re}/ within {timeout:?}\nstdout:\n{out}\nstderr:\n{}",
            self.what,
            self.stderr_text()
        );
        out
    }

    pub fn signal(&self, sig: i32) {
        kill(self.pid(), sig);
    }

    pub fn kill_now(&mut self) {
        self.watchdog.store(true, Ordering::SeqCst);
        let pid = self.pid();
        if matches!(self.child.try_wait(), Ok(None)) {
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
        } else {
            // The group may still have members (e.g. a launched inferior).
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// A fixture program started directly (for `--attach` tests). It prints
/// `pid=N`; `start` waits for the line `ready` when `wait_ready`.
pub struct Fixture {
    pub proc: Proc,
    pub path: PathBuf,
    _dir: TempDir,
}

impl Fixture {
    pub fn start(path: &Path, args: &[&str], wait_ready: bool) -> Fixture {
        let dir = TempDir::new("fixture");
        let mut cmd = Command::new(path);
        cmd.args(args).stdin(Stdio::null());
        let mut proc = Proc::spawn(cmd, dir.path(), "fixture", SERVER_TIMEOUT);
        if wait_ready {
            proc.wait_stdout(r"(?m)^ready", Duration::from_secs(20));
        } else {
            proc.wait_stdout(r"pid=\d+", Duration::from_secs(20));
        }
        Fixture {
            proc,
            path: path.to_path_buf(),
            _dir: dir,
        }
    }
    pub fn pid(&self) -> i32 {
        self.proc.pid()
    }
}
