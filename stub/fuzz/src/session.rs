//! One `gostub - FIXTURE` process spoken to over its stdin/stdout, as gdb's `target remote |`
//! does, and the fixture it launched.
//!
//! Quirks: the launched fixture shares gostub's stdout, so its own prints ("pid=..", "ready")
//! arrive between replies; they hold no `$` and are skipped. Reads go through a thread and a
//! channel so that every wait has a timeout without non-blocking pipes.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
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
}

impl Session {
    /// Starts gostub on `fixture`, negotiates qSupported (multiprocess) and, with `no_ack`,
    /// QStartNoAckMode, and reads the first stop.
    pub fn start(gostub: &Path, fixture: &Path, no_ack: bool) -> Session {
        let mut child = Command::new(gostub)
            .arg("-")
            .arg(fixture)
            .env("RUST_LOG", "error")
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
        };
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
        s.pid = pid;
        s.tid = tid;
        s
    }

    pub fn send(&mut self, bytes: &[u8]) {
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

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // gostub kills a launched program when it dies; make sure.
        if self.pid > 0 && Path::new(&format!("/proc/{}", self.pid)).exists() {
            let _ = Command::new("kill")
                .arg("-9")
                .arg(self.pid.to_string())
                .status();
        }
    }
}
