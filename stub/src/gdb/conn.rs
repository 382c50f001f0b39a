//! The byte transport between gdb and the stub: a buffered [`Connection`] over a TCP socket or
//! stdin/stdout, and the [`Listener`] that produces it.
//!
//! Quirks it meets:
//!
//! * gdbstub 0.7.10's `ResponseWriter` calls [`Connection::write`] once per byte (hex digits, RLE,
//!   checksum), and its stock `TcpStream` impl turns each into a `write(2)` with `TCP_NODELAY`
//!   set, plus an ioctl and a 1-byte `read(2)` per received byte. Here writes go to a buffer that
//!   [`Connection::flush`] (called once per packet) sends with one `write(2)`, and reads are served
//!   from a buffer refilled by one large `read(2)`.
//! * gdbstub writes the `+` ack for a `k` packet but skips the flush when extended mode is off, so
//!   a drop flushes whatever is still buffered.
//! * Writing to a socket whose peer has gone raises SIGPIPE; TCP output uses
//!   `send(MSG_NOSIGNAL)` so a vanished gdb is an `EPIPE` error, not a dead stub.
//! * stdin/stdout may be a terminal or pipe shared with other processes, so the stub never sets
//!   `O_NONBLOCK` on them; non-blocking reads are `poll(0)` followed by `read(2)`. Both fds are
//!   duplicated close-on-exec, so a launched program does not inherit the protocol channel through
//!   them (its own fds 0/1 are the launcher's business).
//! * `EINTR` is retried everywhere: the stub takes SIGCHLD while tracing.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use gdbstub::conn::{Connection, ConnectionExt};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{send, setsockopt, sockopt, MsgFlags};

use crate::cli::Comm;
use crate::eintr::retry;

/// Size of one refill of the read buffer; larger than any packet gdb sends at our PacketSize.
const READ_CHUNK: usize = 64 * 1024;

/// What a non-blocking look at the input found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Incoming {
    /// The next input byte (still in the buffer).
    Byte(u8),
    /// Nothing to read right now.
    Empty,
    /// The peer closed the connection.
    Closed,
}

/// A gdb connection with a write buffer flushed once per packet and a read buffer filled by one
/// large read.
#[derive(Debug)]
pub struct BufferedConn {
    input: OwnedFd,
    output: OwnedFd,
    /// TCP: set `TCP_NODELAY` at session start and send with `MSG_NOSIGNAL`.
    tcp: bool,
    /// Read buffer, always `READ_CHUNK` long (zeroed once, not at every refill); bytes
    /// `rpos..rlen` are unread.
    rbuf: Vec<u8>,
    rpos: usize,
    rlen: usize,
    wbuf: Vec<u8>,
}

impl BufferedConn {
    fn new(input: OwnedFd, output: OwnedFd, tcp: bool) -> Self {
        BufferedConn {
            input,
            output,
            tcp,
            rbuf: vec![0; READ_CHUNK],
            rpos: 0,
            rlen: 0,
            wbuf: Vec::with_capacity(READ_CHUNK),
        }
    }

    fn from_tcp(stream: TcpStream) -> io::Result<Self> {
        let output = stream.try_clone()?;
        Ok(Self::new(stream.into(), output.into(), true))
    }

    fn from_stdio() -> io::Result<Self> {
        let input = io::stdin().as_fd().try_clone_to_owned()?;
        let output = io::stdout().as_fd().try_clone_to_owned()?;
        Ok(Self::new(input, output, false))
    }

    /// True when bytes are already buffered, so polling the fd would not report them.
    pub fn has_buffered_input(&self) -> bool {
        self.rpos < self.rlen
    }

    /// Ensures a byte is buffered if one can be had without blocking; does not consume it.
    /// Takes the next byte: from the buffer, or by one read, which blocks until the client sends
    /// something (call it after a poll to be sure it does not). `None` means the peer closed the
    /// connection.
    pub fn read_byte(&mut self) -> io::Result<Option<u8>> {
        if !self.has_buffered_input() && self.refill()? == 0 {
            return Ok(None);
        }
        self.rpos += 1;
        Ok(Some(self.rbuf[self.rpos - 1]))
    }

    fn fill_nonblocking(&mut self) -> io::Result<Incoming> {
        if !self.has_buffered_input() {
            let mut fds = [PollFd::new(self.input.as_fd(), PollFlags::POLLIN)];
            let ready = retry(|| poll(&mut fds, PollTimeout::ZERO))?;
            if ready == 0 {
                return Ok(Incoming::Empty);
            }
            if self.refill()? == 0 {
                return Ok(Incoming::Closed);
            }
        }
        Ok(Incoming::Byte(self.rbuf[self.rpos]))
    }

    /// One blocking `read(2)` into the (empty) read buffer; returns the count, 0 at EOF.
    fn refill(&mut self) -> io::Result<usize> {
        self.rpos = 0;
        let result = retry(|| nix::unistd::read(self.input.as_fd(), &mut self.rbuf))
            .map_err(io::Error::from);
        self.rlen = *result.as_ref().unwrap_or(&0);
        result
    }

    fn write_once(&self, buf: &[u8]) -> Result<usize, Errno> {
        if self.tcp {
            send(self.output.as_raw_fd(), buf, MsgFlags::MSG_NOSIGNAL)
        } else {
            nix::unistd::write(self.output.as_fd(), buf)
        }
    }

    /// Waits until the output fd accepts data (someone may have made it non-blocking).
    fn wait_writable(&self) -> io::Result<()> {
        let mut fds = [PollFd::new(self.output.as_fd(), PollFlags::POLLOUT)];
        retry(|| poll(&mut fds, PollTimeout::NONE))
            .map(drop)
            .map_err(io::Error::from)
    }
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "gdb closed the connection")
}

impl AsFd for BufferedConn {
    /// The read side, for the stub's own poll loop.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.input.as_fd()
    }
}

impl Connection for BufferedConn {
    type Error = io::Error;

    fn write(&mut self, byte: u8) -> io::Result<()> {
        self.wbuf.push(byte);
        Ok(())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.wbuf.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if log::log_enabled!(log::Level::Trace) && !self.wbuf.is_empty() {
            log::trace!("-> {}", String::from_utf8_lossy(&self.wbuf));
        }
        let mut done = 0;
        let result = loop {
            if done == self.wbuf.len() {
                break Ok(());
            }
            match retry(|| self.write_once(&self.wbuf[done..])) {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => done += n,
                Err(Errno::EAGAIN) => {
                    if let Err(e) = self.wait_writable() {
                        break Err(e);
                    }
                }
                Err(e) => break Err(e.into()),
            }
        };
        self.wbuf.drain(..done);
        result
    }

    fn on_session_start(&mut self) -> io::Result<()> {
        if self.tcp {
            setsockopt(&self.output, sockopt::TcpNoDelay, &true)?;
        }
        Ok(())
    }
}

impl ConnectionExt for BufferedConn {
    fn read(&mut self) -> io::Result<u8> {
        if !self.has_buffered_input() && self.refill()? == 0 {
            return Err(eof());
        }
        let byte = self.rbuf[self.rpos];
        self.rpos += 1;
        Ok(byte)
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        match self.fill_nonblocking()? {
            Incoming::Byte(b) => Ok(Some(b)),
            Incoming::Empty => Ok(None),
            Incoming::Closed => Err(eof()),
        }
    }
}

impl Drop for BufferedConn {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            log::debug!("dropping {} unsent bytes to gdb: {e}", self.wbuf.len());
        }
    }
}

/// A bound endpoint that yields one [`BufferedConn`] per gdb session. `--multi` calls
/// [`Listener::accept`] again after a disconnect; stdio carries a single session.
#[derive(Debug)]
pub struct Listener {
    kind: ListenerKind,
}

#[derive(Debug)]
enum ListenerKind {
    Tcp(TcpListener),
    /// `used` is set once the stdio session has been handed out.
    Stdio {
        used: bool,
    },
}

impl Listener {
    /// Binds `comm` (std's `TcpListener::bind` sets `SO_REUSEADDR` on Unix) and prints
    /// "Listening on port N" to stderr as gdbserver does.
    pub fn bind(comm: &Comm) -> io::Result<Listener> {
        let kind = match comm {
            Comm::Tcp(addr) => {
                let listener = TcpListener::bind(addr)?;
                eprintln!("Listening on port {}", listener.local_addr()?.port());
                ListenerKind::Tcp(listener)
            }
            Comm::Stdio => ListenerKind::Stdio { used: false },
        };
        Ok(Listener { kind })
    }

    /// The bound TCP address (`None` for stdio); useful with port 0.
    #[cfg(test)]
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match &self.kind {
            ListenerKind::Tcp(l) => l.local_addr().ok(),
            ListenerKind::Stdio { .. } => None,
        }
    }

    /// Waits for the next gdb and prints "Remote debugging from host H, port P" for TCP.
    pub fn accept(&mut self) -> io::Result<BufferedConn> {
        match &mut self.kind {
            ListenerKind::Tcp(listener) => {
                let (stream, peer) = listener.accept()?;
                eprintln!(
                    "Remote debugging from host {}, port {}",
                    peer.ip(),
                    peer.port()
                );
                BufferedConn::from_tcp(stream)
            }
            ListenerKind::Stdio { used: true } => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "stdin/stdout carried one gdb session and cannot accept another",
            )),
            ListenerKind::Stdio { used } => {
                *used = true;
                BufferedConn::from_stdio()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::thread;
    use std::time::Duration;

    /// A connected (stub side, gdb side) pair over loopback TCP, via the real Listener.
    fn pair() -> (BufferedConn, TcpStream) {
        let mut listener = Listener::bind(&Comm::Tcp("127.0.0.1:0".parse().unwrap())).unwrap();
        let addr = listener.local_addr().unwrap();
        let client = thread::spawn(move || TcpStream::connect(addr).unwrap());
        let mut conn = listener.accept().unwrap();
        conn.on_session_start().unwrap();
        (conn, client.join().unwrap())
    }

    fn readable(fd: &impl AsFd, timeout_ms: u16) -> bool {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(timeout_ms)).unwrap() > 0
    }

    #[test]
    fn byte_writes_leave_in_one_write_at_flush() {
        let (mut conn, mut gdb) = pair();
        let packet: Vec<u8> = (0..100u8).map(|i| b'a' + i % 26).collect();
        for b in &packet {
            conn.write(*b).unwrap();
        }
        assert!(!readable(&gdb, 50), "nothing may be sent before flush");
        conn.flush().unwrap();
        assert!(readable(&gdb, 1000));
        // One write(2) of 100 bytes arrives as one segment: a single read gets all of it.
        let mut buf = [0u8; 4096];
        let n = Read::read(&mut gdb, &mut buf).unwrap();
        assert_eq!(&buf[..n], &packet[..]);
        assert!(!readable(&gdb, 50));

        conn.write_all(b"$OK#9a").unwrap();
        conn.write(b'+').unwrap();
        conn.flush().unwrap();
        conn.flush().unwrap(); // empty flush is a no-op
        let n = Read::read(&mut gdb, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"$OK#9a+");
    }

    #[test]
    fn nodelay_is_set_at_session_start() {
        let (conn, _gdb) = pair();
        assert!(nix::sys::socket::getsockopt(&conn.output, sockopt::TcpNoDelay).unwrap());
    }

    #[test]
    fn read_and_peek() {
        let (mut conn, mut gdb) = pair();
        assert_eq!(conn.peek().unwrap(), None);
        assert!(!conn.has_buffered_input());

        Write::write_all(&mut gdb, b"$g#67").unwrap();
        assert!(readable(&conn.input, 1000));
        assert_eq!(conn.peek().unwrap(), Some(b'$'));
        assert_eq!(conn.peek().unwrap(), Some(b'$'), "peek must not consume");
        assert!(
            conn.has_buffered_input(),
            "one read(2) buffered the whole packet"
        );
        assert_eq!(conn.read().unwrap(), b'$');
        assert_eq!(conn.read_byte().unwrap(), Some(b'g'));
        assert_eq!(conn.read().unwrap(), b'#');
        assert_eq!(conn.read().unwrap(), b'6');
        assert_eq!(conn.read().unwrap(), b'7');
        assert!(!conn.has_buffered_input());

        // read() blocks until data arrives.
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            Write::write_all(&mut gdb, &[0x03]).unwrap();
            gdb
        });
        assert_eq!(conn.read().unwrap(), 0x03);
        drop(writer.join().unwrap());

        // EOF: distinguishable from "nothing yet" in every API.
        assert_eq!(conn.read_byte().unwrap(), None);
        assert_eq!(
            conn.peek().unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            conn.read().unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn writing_to_a_vanished_peer_is_an_error_not_sigpipe() {
        let (mut conn, gdb) = pair();
        drop(gdb);
        let big = vec![b'x'; 1 << 20];
        // The first send may be accepted before the RST arrives; a later one must fail.
        let failed = (0..50).any(|_| {
            conn.write_all(&big).unwrap();
            thread::sleep(Duration::from_millis(5));
            conn.flush().is_err()
        });
        assert!(failed);
    }

    #[test]
    fn drop_flushes_pending_output() {
        let (mut conn, mut gdb) = pair();
        conn.write(b'+').unwrap();
        drop(conn);
        let mut got = Vec::new();
        Read::read_to_end(&mut gdb, &mut got).unwrap();
        assert_eq!(got, b"+");
    }

    #[test]
    fn listener_accepts_again_and_stdio_only_once() {
        let mut listener = Listener::bind(&Comm::Tcp("127.0.0.1:0".parse().unwrap())).unwrap();
        let addr = listener.local_addr().unwrap();
        for _ in 0..2 {
            let client = thread::spawn(move || TcpStream::connect(addr).unwrap());
            let conn = listener.accept().unwrap();
            assert!(conn.as_fd().as_raw_fd() >= 0);
            drop(client.join().unwrap());
        }

        let mut stdio = Listener::bind(&Comm::Stdio).unwrap();
        assert_eq!(stdio.local_addr(), None);
        let conn = stdio.accept().unwrap();
        assert_ne!(
            conn.as_fd().as_raw_fd(),
            0,
            "stdin is duplicated, close-on-exec"
        );
        assert!(stdio.accept().is_err());
    }
}
