//! Harness for gostub's end-to-end tests.
//!
//! The tests run real `gdb` and `lldb-19` in batch mode against the server
//! under test, over the programs that `fixtures/build.sh` builds.
//!
//! The server under test is chosen by `GOSTUB_SERVER`:
//! - `gostub` (default): `target/debug/gostub`, or the binary named by `GOSTUB_BIN`;
//! - `gdbserver`: Debian's gdbserver, to check the gdb tests' assertions
//!   against a reference implementation;
//! - `lldb-server`: `lldb-server-19 gdbserver`, to check the lldb tests' assertions.
//!
//! Every process a test starts (server, debugger, fixture) is killed when its
//! guard is dropped, also when the test panics, and every debugger run has a
//! hard timeout.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use regex::Regex;

/// Hard timeout of one debugger run.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// A server that outlives this is killed by its watchdog.
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------------------
// Which server, where things are
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    Gostub,
    Gdbserver,
    LldbServer,
}

pub fn server_kind() -> ServerKind {
    match std::env::var("GOSTUB_SERVER").as_deref() {
        Err(_) | Ok("") | Ok("gostub") => ServerKind::Gostub,
        Ok("gdbserver") => ServerKind::Gdbserver,
        Ok("lldb-server") => ServerKind::LldbServer,
        Ok(other) => panic!("GOSTUB_SERVER={other:?}: expected gostub, gdbserver or lldb-server"),
    }
}

pub fn is_gostub() -> bool {
    server_kind() == ServerKind::Gostub
}

/// Skips the rest of the test (returning early) unless the server under
/// test is gostub: for features gdbserver does not have (monitor commands,
/// lldb support, ...). A skip is printed, so that it is visible with
/// `--nocapture`.
#[macro_export]
macro_rules! gostub_only {
    () => {
        if !$crate::is_gostub() {
            eprintln!(
                "SKIPPED: gostub-only test, server under test is {:?}",
                $crate::server_kind()
            );
            return;
        }
    };
}

/// Skips the rest of the test when the server under test is gdbserver:
/// lldb 19 cannot use gdbserver 13 (no `swbreak+`, the pc is reported one
/// byte past a breakpoint). Runs against gostub, and against lldb-server to
/// check the assertions.
#[macro_export]
macro_rules! lldb_server_only {
    () => {
        if $crate::server_kind() == $crate::ServerKind::Gdbserver {
            eprintln!("SKIPPED: lldb test, server under test is gdbserver");
            return;
        }
    };
}

/// Marks a test that gdbserver 13 is known to fail (a gap gostub closes):
/// with `GOSTUB_SERVER=gdbserver` it is skipped, with the reason printed,
/// unless `GOSTUB_STRICT=1`.
#[macro_export]
macro_rules! known_gdbserver_gap {
    ($why:expr) => {
        if $crate::server_kind() == $crate::ServerKind::Gdbserver
            && std::env::var_os("GOSTUB_STRICT").is_none()
        {
            eprintln!("SKIPPED: known gdbserver gap: {}", $why);
            return;
        }
    };
}

/// Skips the rest of the test unless the server speaks to gdb well enough:
/// lldb-server does not (gdb 13 fails against it).
#[macro_export]
macro_rules! gdb_server_only {
    () => {
        if $crate::server_kind() == $crate::ServerKind::LldbServer {
            eprintln!("SKIPPED: gdb test, server under test is lldb-server");
            return;
        }
    };
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The gostub binary: `$GOSTUB_BIN`, or `target/debug/gostub`.
pub fn gostub_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("GOSTUB_BIN") {
        let p = PathBuf::from(p);
        assert!(p.exists(), "GOSTUB_BIN={} does not exist", p.display());
        return p;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let p = target.join("debug").join("gostub");
    assert!(
        p.exists(),
        "gostub binary not found at {}: run `cargo build -p gostub` (or set GOSTUB_BIN)",
        p.display()
    );
    p
}

/// A fixture built by `fixtures/build.sh`, e.g. `fixture("threads_lib")`.
/// Panics (the test FAILS, it is not skipped) when it is missing.
pub fn fixture(name: &str) -> PathBuf {
    let p = workspace_root().join("fixtures/build").join(name);
    assert!(
        p.exists(),
        "fixture {} is missing: run fixtures/build.sh (scripts/test does)",
        p.display()
    );
    p
}

/// The oldest and the newest Go versions the fixtures are always built with.
pub const GO_OLDEST: &str = "1.19";
pub const GO_NEWEST: &str = "1.27.3";

/// A Go fixture: `go_fixture("hot", "1.27.3", "default")`.
/// Variants: `default`, `noopt` (-N -l), `stripped` (-s -w).
pub fn go_fixture(prog: &str, version: &str, variant: &str) -> PathBuf {
    fixture(&format!("go/{prog}-go{version}-{variant}"))
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "gostub-test-{}-{}-{}",
            tag,
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("GOSTUB_TEST_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------

/// How to start the server.
pub enum Mode<'a> {
    Launch(&'a Path, &'a [&'a str]),
    /// Like Launch, with `--` before the program.
    LaunchDashDash(&'a Path, &'a [&'a str]),
    Attach(i32),
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
    let kind = server_kind();
    let prog = match kind {
        ServerKind::Gostub => gostub_bin(),
        ServerKind::Gdbserver => PathBuf::from("gdbserver"),
        ServerKind::LldbServer => PathBuf::from("lldb-server-19"),
    };
    let mut args: Vec<String> = Vec::new();
    let s = |x: &str| x.to_string();
    let prog_args = |p: &Path, a: &[&str]| {
        let mut v = vec![p.display().to_string()];
        v.extend(a.iter().map(|x| x.to_string()));
        v
    };
    match kind {
        ServerKind::Gostub | ServerKind::Gdbserver => {
            // Without --once gdbserver keeps a launched program (and its
            // ptrace stop) when its client vanishes, and listens again. With
            // it, gdbserver exits and kills or detaches, which is what gostub
            // does by default.
            if kind == ServerKind::Gdbserver && !matches!(mode, Mode::Multi) {
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
        let kind = server_kind();
        let dir = TempDir::new("server");
        for attempt in 0..3 {
            let port = free_port();
            let (prog, args) = server_command(&mode, &format!(":{port}"));
            let mut cmd = Command::new(&prog);
            cmd.args(&args).stdin(Stdio::null());
            cmd.envs(env.iter().copied());
            if kind == ServerKind::Gostub && std::env::var_os("RUST_LOG").is_none() {
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

fn tail(s: &str, n: usize) -> &str {
    if s.len() <= n {
        s
    } else {
        let mut i = s.len() - n;
        while !s.is_char_boundary(i) {
            i += 1;
        }
        &s[i..]
    }
}

// ---------------------------------------------------------------------------
// Debugger clients
// ---------------------------------------------------------------------------

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

/// The exit code, or the terminating signal as 128+N.
pub fn status_code(st: &ExitStatus) -> i32 {
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

// ---------------------------------------------------------------------------
// Target memory, symbols
// ---------------------------------------------------------------------------

/// Reads `len` bytes at `addr` of process `pid` through /proc/PID/mem.
pub fn read_proc_mem(pid: i32, addr: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let f = File::open(format!("/proc/{pid}/mem"))?;
    let mut buf = vec![0u8; len];
    let n = f.read_at(&mut buf, addr)?;
    buf.truncate(n);
    Ok(buf)
}

/// One line of /proc/PID/maps.
#[derive(Clone, Debug)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub perms: String,
    pub offset: u64,
    pub path: String,
}

pub fn proc_maps(pid: i32) -> Vec<Mapping> {
    let text = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let range = it.next()?;
            let perms = it.next()?.to_string();
            let offset = u64::from_str_radix(it.next()?, 16).ok()?;
            it.next();
            it.next();
            let path = it.collect::<Vec<_>>().join(" ");
            let (a, b) = range.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(a, 16).ok()?,
                end: u64::from_str_radix(b, 16).ok()?,
                perms,
                offset,
                path,
            })
        })
        .collect()
}

/// The bytes a file-backed address must hold, read from the file itself.
pub fn file_bytes_at(pid: i32, addr: u64, len: usize) -> Vec<u8> {
    let maps = proc_maps(pid);
    let m = maps
        .iter()
        .find(|m| m.start <= addr && addr < m.end)
        .unwrap_or_else(|| panic!("{addr:#x} is not mapped in {pid}: {maps:#?}"));
    assert!(
        m.path.starts_with('/'),
        "{addr:#x} is not file-backed: {m:?}"
    );
    let f = File::open(&m.path).unwrap();
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, addr - m.start + m.offset)
        .unwrap();
    buf
}

/// Asserts that the live text at `addr` equals the bytes of the file it is
/// mapped from: no int3 (0xCC) or other patch left by a debugger.
pub fn assert_text_clean(pid: i32, addr: u64, len: usize) {
    let live = read_proc_mem(pid, addr, len)
        .unwrap_or_else(|e| panic!("read {pid} mem at {addr:#x}: {e}"));
    let file = file_bytes_at(pid, addr, len);
    assert_eq!(
        live, file,
        "text of pid {pid} at {addr:#x} differs from its file (a breakpoint left behind?): live {live:02x?} file {file:02x?}"
    );
    assert_ne!(live[0], 0xCC, "int3 left at {addr:#x}");
}

/// The load bias of the main executable of `pid` (0 for non-PIE).
pub fn load_base(pid: i32, exe: &Path) -> u64 {
    let exe = fs::canonicalize(exe).unwrap();
    let exe = exe.to_string_lossy();
    let m = proc_maps(pid)
        .into_iter()
        .find(|m| m.path == exe && m.offset == 0)
        .unwrap_or_else(|| panic!("{exe} not mapped in {pid}"));
    let is_pie = {
        let mut hdr = [0u8; 18];
        File::open(exe.as_ref())
            .unwrap()
            .read_exact(&mut hdr)
            .unwrap();
        u16::from_le_bytes([hdr[16], hdr[17]]) == 3 // ET_DYN
    };
    if is_pie {
        m.start
    } else {
        0
    }
}

/// The address of symbol `name` in the (unrelocated) ELF file, from `nm`.
pub fn symbol_value(exe: &Path, name: &str) -> u64 {
    let out = Command::new("nm").arg(exe).output().expect("run nm");
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 3 && f[2] == name {
            return u64::from_str_radix(f[0], 16).unwrap();
        }
    }
    panic!("symbol {name} not found in {}", exe.display())
}

/// The runtime address of `name` in the main executable of `pid`.
pub fn symbol_addr(pid: i32, exe: &Path, name: &str) -> u64 {
    load_base(pid, exe) + symbol_value(exe, name)
}

// ---------------------------------------------------------------------------
// A raw remote-protocol client, for malformed input
// ---------------------------------------------------------------------------

pub struct Rsp {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

pub fn checksum(payload: &[u8]) -> u8 {
    payload.iter().fold(0u8, |a, b| a.wrapping_add(*b))
}

/// `$payload#cs` with a correct checksum.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(payload.len() + 4);
    v.push(b'$');
    v.extend_from_slice(payload);
    v.extend_from_slice(format!("#{:02x}", checksum(payload)).as_bytes());
    v
}

impl Rsp {
    pub fn connect(server: &Server) -> Rsp {
        let stream = TcpStream::connect(("127.0.0.1", server.port))
            .unwrap_or_else(|e| panic!("connect to {}: {e}\n{}", server.addr(), server.log()));
        stream.set_nodelay(true).unwrap();
        Rsp {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends a packet and returns its reply payload (acks are consumed and
    /// given; `O` console packets are skipped). Err on timeout or EOF.
    pub fn request(&mut self, payload: &str, timeout: Duration) -> Result<String, String> {
        self.send_raw(&frame(payload.as_bytes()))
            .map_err(|e| format!("send: {e}"))?;
        self.reply(timeout)
    }

    /// Reads the next reply packet payload.
    pub fn reply(&mut self, timeout: Duration) -> Result<String, String> {
        let end = Instant::now() + timeout;
        loop {
            // Drop acks and stray bytes before '$'.
            while let Some(&b) = self.buf.first() {
                if b == b'$' {
                    break;
                }
                self.buf.remove(0);
            }
            if let Some(hash) = self.buf.iter().position(|&b| b == b'#') {
                if self.buf.len() >= hash + 3 {
                    let payload = decode_rle(&self.buf[1..hash]);
                    self.buf.drain(..hash + 3);
                    let _ = self.stream.write_all(b"+");
                    let text = String::from_utf8_lossy(&payload).into_owned();
                    if text.starts_with('O') && text.len() > 1 && text != "OK" {
                        continue; // console output
                    }
                    return Ok(text);
                }
            }
            let now = Instant::now();
            if now >= end {
                return Err(format!(
                    "timeout; partial input {:?}",
                    String::from_utf8_lossy(&self.buf)
                ));
            }
            self.stream.set_read_timeout(Some(end - now)).unwrap();
            let mut tmp = [0u8; 65536];
            match self.stream.read(&mut tmp) {
                Ok(0) => return Err("connection closed by server".into()),
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// The usual opening: qSupported, then `?`.
    pub fn handshake(&mut self) -> String {
        let t = Duration::from_secs(10);
        self.request(
            "qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+",
            t,
        )
        .expect("qSupported");
        self.request("?", t).expect("? after handshake")
    }
}

/// Expands run-length encoding (`x*N`).
pub fn decode_rle(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'*' && i + 1 < data.len() && !out.is_empty() {
            let n = data[i + 1] as usize - 29;
            let last = *out.last().unwrap();
            out.extend(std::iter::repeat_n(last, n));
            i += 2;
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

pub fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect()
}

/// Reads lines of a reader until one matches (for programs' stdout pipes).
pub fn read_until(r: impl Read, re: &Regex) -> Option<String> {
    BufReader::new(r)
        .lines()
        .map_while(Result::ok)
        .find(|l| re.is_match(l))
}

// ---------------------------------------------------------------------------
// Go: the runtime's traceback text, function addresses of stripped binaries
// ---------------------------------------------------------------------------

/// The thread id a goroutine gets in gostub's goroutines view.
pub const GOROUTINE_TID_BASE: u64 = 1 << 30;

/// One frame of a Go traceback: function (arguments dropped) and file:line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoFrame {
    pub func: String,
    pub file: String,
    pub line: u32,
    /// false when the frame line has no `+0x..` (an inlined frame).
    pub has_offset: bool,
}

/// One goroutine block of a Go traceback (`runtime.Stack(buf, true)` text,
/// or gostub's `monitor goroutine ID bt`).
#[derive(Clone, Debug)]
pub struct GoBlock {
    pub goid: u64,
    /// The bracketed state text, e.g. `chan receive, locked to thread`,
    /// without the `, N minutes` part.
    pub state: String,
    /// Frames, top first. An elision line becomes a frame whose function is
    /// the elision text (`...N frames elided...`), file empty.
    pub frames: Vec<GoFrame>,
    /// `created by F in goroutine N` and its file:line, offsets dropped.
    pub created_by: Option<String>,
}

/// Drops `, N minutes` from a goroutine state text.
pub fn go_state_without_minutes(state: &str) -> String {
    let re = Regex::new(r", \d+ minutes").unwrap();
    re.replace_all(state, "").into_owned()
}

/// Normalises generic instantiation brackets (`[go.shape.string]`, `[...]`)
/// to `[...]`, as the runtime prints them.
pub fn go_func_normalise(f: &str) -> String {
    let re = Regex::new(r"\[[^\]]*\]").unwrap();
    re.replace_all(f, "[...]").into_owned()
}

/// Parses every goroutine block in `text`; lines that are not part of a
/// block are skipped, so a whole debugger transcript can be given.
pub fn parse_go_traceback(text: &str) -> Vec<GoBlock> {
    let header = Regex::new(r"^goroutine (\d+) (?:gp=\S+ m=\S+ (?:mp=\S+ )?)?\[(.*)\]:$").unwrap();
    let func = Regex::new(r"^(\S.*)\((.*)\)$").unwrap();
    let fileline = Regex::new(r"^\t(.+):(\d+)(?: (\+0x[0-9a-f]+))?$").unwrap();
    let created = Regex::new(r"^created by (.+)$").unwrap();
    let elided = Regex::new(r"^\.\.\.(.*)elided\.\.\.$").unwrap();
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut out: Vec<GoBlock> = Vec::new();
    let mut cur: Option<GoBlock> = None;
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if let Some(c) = header.captures(l) {
            if let Some(b) = cur.take() {
                out.push(b);
            }
            cur = Some(GoBlock {
                goid: c[1].parse().unwrap(),
                state: go_state_without_minutes(&c[2]),
                frames: Vec::new(),
                created_by: None,
            });
            i += 1;
            continue;
        }
        let Some(b) = cur.as_mut() else {
            i += 1;
            continue;
        };
        let next = lines.get(i + 1).copied().unwrap_or("");
        if let Some(c) = created.captures(l) {
            let fl = fileline
                .captures(next)
                .map(|f| format!(" {}:{}", &f[1], &f[2]))
                .unwrap_or_default();
            b.created_by = Some(format!("{}{}", &c[1], fl));
            i += 2;
            continue;
        }
        if elided.is_match(l) {
            b.frames.push(GoFrame {
                func: l.to_string(),
                file: String::new(),
                line: 0,
                has_offset: false,
            });
            i += 1;
            continue;
        }
        if let (Some(fc), Some(flc)) = (func.captures(l), fileline.captures(next)) {
            b.frames.push(GoFrame {
                func: go_func_normalise(&fc[1]),
                file: flc[1].to_string(),
                line: flc[2].parse().unwrap(),
                has_offset: flc.get(3).is_some(),
            });
            i += 2;
            continue;
        }
        // Anything else ends the block.
        out.push(cur.take().unwrap());
        i += 1;
    }
    if let Some(b) = cur.take() {
        out.push(b);
    }
    out
}

/// The section `name` of ELF `exe`: (file offset, address, size), from
/// `readelf -SW`.
pub fn elf_section(exe: &Path, name: &str) -> Option<(u64, u64, u64)> {
    let out = Command::new("readelf")
        .args(["-SW"])
        .arg(exe)
        .output()
        .expect("run readelf");
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        // "  [ 5] .gopclntab  PROGBITS  00000000004fc248 0fc248 0dc88a 00 A 0 0 8"
        let l = match line.find(']') {
            Some(p) => &line[p + 1..],
            None => continue,
        };
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 5 && f[0] == name {
            let h = |s: &str| u64::from_str_radix(s, 16).ok();
            return Some((h(f[3])?, h(f[2])?, h(f[4])?));
        }
    }
    None
}

/// The entry address of Go function `name`, from the binary's pclntab: works
/// on binaries built with `-ldflags=-s -w` (no symbol table, no DWARF).
/// Go 1.18+ pclntab layout (magic 0xfffffff0 or 0xfffffff1).
pub fn go_func_addr(exe: &Path, name: &str) -> u64 {
    let (off, _addr, size) = elf_section(exe, ".gopclntab")
        .unwrap_or_else(|| panic!("{} has no .gopclntab", exe.display()));
    let f = File::open(exe).unwrap();
    let mut t = vec![0u8; size as usize];
    f.read_exact_at(&mut t, off).unwrap();
    let u32_at = |o: usize| u32::from_le_bytes(t[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(t[o..o + 8].try_into().unwrap());
    let magic = u32_at(0);
    assert!(
        magic == 0xfffffff0 || magic == 0xfffffff1,
        "{}: unsupported pclntab magic {magic:#x}",
        exe.display()
    );
    let nfunc = u64_at(8) as usize;
    let mut text_start = u64_at(24);
    if text_start == 0 {
        // Newer linkers leave it to be relocated: runtime.text is .text's start.
        text_start = elf_section(exe, ".text").expect("no .text").1;
    }
    let funcname_off = u64_at(32) as usize;
    let pcln_off = u64_at(64) as usize;
    for i in 0..nfunc {
        let ent = pcln_off + i * 8;
        let entry_off = u32_at(ent) as u64;
        let func_off = u32_at(ent + 4) as usize;
        let fd = pcln_off + func_off;
        let name_off = u32_at(fd + 4) as usize;
        let s = funcname_off + name_off;
        let end = t[s..]
            .iter()
            .position(|&b| b == 0)
            .map(|e| s + e)
            .unwrap_or(s);
        if &t[s..end] == name.as_bytes() {
            return text_start + entry_off;
        }
    }
    panic!("function {name} not in the pclntab of {}", exe.display())
}
