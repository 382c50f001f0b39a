//! One gostub session spoken to over its stdin/stdout, as gdb's `target remote |` does: either
//! `gostub - FIXTURE` (launch) or `gostub --attach - PID` on a fixture the harness started
//! itself (attach).
//!
//! Quirks: a launched fixture shares gostub's stdout, so its own prints ("pid=..", "ready")
//! arrive between replies; they hold no `$` and are skipped. Reads go through a thread and a
//! channel so that a wait can have a deadline without non-blocking pipes (deadlines are only
//! for the failure path: a reply is waited for, never slept for). The harness process is a child
//! subreaper, so once gostub has exited (after a detach, or killed) its launched fixture is the
//! harness's child and its exit status can be read.

use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `$payload#checksum`.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let sum = payload.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    let mut v = Vec::with_capacity(payload.len() + 4);
    v.push(b'$');
    v.extend_from_slice(payload);
    v.extend_from_slice(format!("#{sum:02x}").as_bytes());
    v
}

/// Expands run-length encoding (`x*N`).
fn decode_rle(data: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        match (data[i], data.get(i + 1), out.last()) {
            (b'*', Some(&n), Some(&last)) => {
                out.extend(std::iter::repeat_n(last, (n as usize).saturating_sub(29)));
                i += 2;
            }
            (b, ..) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

pub struct Session {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    stderr: Arc<Mutex<String>>,
    closed: bool,
    /// Ack mode: every reply is acknowledged with `+`, as gdb does.
    pub no_ack: bool,
    /// The fixture's pid and main thread (from the first stop reply).
    pub pid: i32,
    pub tid: i32,
    /// The last [`HISTORY`] writes to gostub, for failure messages (a session's state is made
    /// by all its inputs, not only the one that failed).
    sent: std::collections::VecDeque<Vec<u8>>,
    /// Attach mode: the fixture's stdout (kept open: a closed pipe would kill it at a print).
    fixture_out: Option<ChildStdout>,
    /// The fixture has been reaped (its exit status read).
    reaped: bool,
}

const HISTORY: usize = 64;

/// Makes this process the reaper of its orphaned descendants (a launched fixture whose gostub
/// exited), so that their exit status can be checked and their CPU time is counted.
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

/// Starts the fixture as the harness's own child and waits for its "ready" line (every worker
/// thread runs).
fn spawn_fixture(fixture: &Path) -> (Child, ChildStdout) {
    let mut cmd = Command::new(fixture);
    // SAFETY: only prctl between fork and exec. The fixture dies with the harness's thread,
    // as a launched one dies with gostub.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            Ok(())
        })
    };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", fixture.display()));
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while line.trim() != "ready" {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("{} exited before \"ready\"", fixture.display());
        }
    }
    (child, out.into_inner())
}

impl Session {
    /// Starts gostub on `fixture` (with `attach`, starts the fixture and attaches to it),
    /// negotiates qSupported (multiprocess) and, with `no_ack`, QStartNoAckMode, and reads the
    /// first stop.
    pub fn start(gostub: &Path, fixture: &Path, no_ack: bool, attach: bool) -> Session {
        let mut cmd = Command::new(gostub);
        let mut attached = None;
        if attach {
            let (child, out) = spawn_fixture(fixture);
            cmd.arg("--attach").arg("-").arg(child.id().to_string());
            attached = Some((child, out));
        } else {
            cmd.arg("-").arg(fixture);
        }
        let mut child = cmd
            .env(
                "RUST_LOG",
                std::env::var("GOSTUB_FUZZ_RUST_LOG").unwrap_or_else(|_| "error".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", gostub.display()));
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut b = vec![0u8; 1 << 16];
            while let Ok(n @ 1..) = stdout.read(&mut b) {
                if tx.send(b[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut b = vec![0u8; 1 << 14];
            while let Ok(n @ 1..) = err.read(&mut b) {
                let mut s = sink.lock().unwrap();
                s.push_str(&String::from_utf8_lossy(&b[..n]));
                if s.len() > 1 << 16 {
                    let cut = s.len() - (1 << 15);
                    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap();
                    s.drain(..cut);
                }
            }
        });
        let mut s = Session {
            child,
            stdin,
            rx,
            buf: Vec::new(),
            stderr,
            closed: false,
            no_ack: false,
            pid: 0,
            tid: 0,
            sent: Default::default(),
            fixture_out: None,
            reaped: false,
        };
        if let Some((fixture, out)) = attached {
            // From here on the fixture is reaped by pid, like a launched one.
            s.pid = fixture.id() as i32;
            s.fixture_out = Some(out);
            std::mem::forget(fixture);
        }
        let t = Duration::from_secs(20);
        s.request(
            b"qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+",
            t,
        )
        .expect("qSupported");
        if no_ack {
            let r = s.request(b"QStartNoAckMode", t).expect("QStartNoAckMode");
            assert_eq!(r, b"OK");
            s.no_ack = true;
        }
        let stop = s.request(b"?", t).expect("?");
        let stop = String::from_utf8_lossy(&stop).into_owned();
        let (pid, tid) = stop
            .split_once("thread:p")
            .and_then(|(_, rest)| rest.split_once(';').map(|(id, _)| id.to_string()))
            .and_then(|id| {
                let (p, t) = id.split_once('.')?;
                Some((
                    i32::from_str_radix(p, 16).ok()?,
                    i32::from_str_radix(t, 16).ok()?,
                ))
            })
            .unwrap_or_else(|| panic!("first stop reply {stop:?}"));
        assert!(
            s.pid == 0 || s.pid == pid,
            "attached {} but stopped {pid}",
            s.pid
        );
        s.pid = pid;
        s.tid = tid;
        s
    }

    /// Whether the fixture was started by the harness (attach mode).
    pub fn attached(&self) -> bool {
        self.fixture_out.is_some()
    }

    /// Sends `D` and waits for its `OK` and for gostub to exit; the fixture, now running on its
    /// own, is then the harness's child. `Err` with what went wrong.
    pub fn detach(&mut self, timeout: Duration) -> Result<(), String> {
        let reply = self.request(b"D", timeout);
        if reply.as_deref() != Some(b"OK") {
            return Err(format!(
                "D answered {:?}",
                reply.as_deref().map(String::from_utf8_lossy)
            ));
        }
        // After its OK, gostub exits (no --multi); a hang here is a finding (libFuzzer's
        // -timeout).
        let _ = self.child.wait();
        self.closed = true;
        Ok(())
    }

    /// The fixture's exit status if it has ended (a zombie child of the harness), reaping it.
    pub fn fixture_ended(&mut self) -> Option<i32> {
        if self.reaped {
            return Some(0);
        }
        let status = wait_pid(self.pid, libc::WNOHANG);
        self.reaped = status.is_some();
        status
    }

    /// Kills the fixture and returns its wait status (SIGKILL's if it was alive).
    pub fn kill_fixture(&mut self) -> i32 {
        let mut status = 0;
        if !self.reaped && self.pid > 0 {
            // SAFETY: a plain syscall on the fixture's pid, which only this process reaps.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            status = wait_pid(self.pid, 0).unwrap_or(0);
            self.reaped = true;
        }
        status
    }

    pub fn send(&mut self, bytes: &[u8]) {
        if self.sent.len() == HISTORY {
            self.sent.pop_front();
        }
        self.sent.push_back(bytes[..bytes.len().min(120)].to_vec());
        if self
            .stdin
            .write_all(bytes)
            .and_then(|_| self.stdin.flush())
            .is_err()
        {
            self.closed = true;
        }
    }

    pub fn request(&mut self, payload: &[u8], timeout: Duration) -> Option<Vec<u8>> {
        self.send(&frame(payload));
        self.reply(timeout)
    }

    /// The next reply packet (console `O` packets skipped), or `None` at timeout or EOF.
    pub fn reply(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(start) = self.buf.iter().position(|&b| b == b'$') {
                self.buf.drain(..start);
                if let Some(hash) = self.buf.iter().position(|&b| b == b'#') {
                    if self.buf.len() >= hash + 3 {
                        let payload = decode_rle(&self.buf[1..hash]);
                        self.buf.drain(..hash + 3);
                        if !self.no_ack {
                            self.send(b"+");
                        }
                        if payload.len() > 1 && payload[0] == b'O' && payload != b"OK" {
                            continue;
                        }
                        return Some(payload);
                    }
                }
            } else {
                self.buf.clear();
            }
            let now = Instant::now();
            if now >= end || self.closed {
                return None;
            }
            match self.rx.recv_timeout(end - now) {
                Ok(b) => self.buf.extend_from_slice(&b),
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => {
                    self.closed = true;
                    return None;
                }
            }
        }
    }

    pub fn server_alive(&mut self) -> bool {
        !self.closed && matches!(self.child.try_wait(), Ok(None))
    }

    /// The last writes to gostub, oldest first, one a line (acks left out).
    pub fn history(&self) -> String {
        self.sent
            .iter()
            .filter(|b| b.as_slice() != b"+")
            .map(|b| format!("{:?}\n", String::from_utf8_lossy(b)))
            .collect()
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// waitpid, retried on EINTR (libFuzzer's SIGALRM timer has no SA_RESTART): the wait status, or
/// `None` when nothing ended (WNOHANG) or `pid` is not a child.
fn wait_pid(pid: i32, flags: i32) -> Option<i32> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on a pid this process is (or will be) the parent of.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r == pid {
            return Some(status);
        }
        if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return None;
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // gostub has exited: a launched fixture is now this process's child (subreaper).
        self.kill_fixture();
    }
}
