//! A raw remote-protocol client, for malformed input and exact packets:
//! framing with checksums, acks, run-length decoding, `O` console packets
//! skipped.

use crate::server::Server;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

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
            self.fill(end)?;
        }
    }

    /// Reads the next asynchronous notification (`%Name:payload#cs`, not acknowledged), as its
    /// text after `%`. Bytes before it (acks) are dropped.
    pub fn notification(&mut self, timeout: Duration) -> Result<String, String> {
        let end = Instant::now() + timeout;
        loop {
            while let Some(&b) = self.buf.first() {
                if b == b'%' {
                    break;
                }
                self.buf.remove(0);
            }
            if let Some(hash) = self.buf.iter().position(|&b| b == b'#') {
                if self.buf.len() >= hash + 3 {
                    let text = String::from_utf8_lossy(&self.buf[1..hash]).into_owned();
                    self.buf.drain(..hash + 3);
                    return Ok(text);
                }
            }
            self.fill(end)?;
        }
    }

    /// Reads what the server sent next into the buffer, until `end`.
    fn fill(&mut self, end: Instant) -> Result<(), String> {
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
            Ok(0) => Err("connection closed by server".into()),
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                Ok(())
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                Ok(())
            }
            Err(e) => Err(format!("read: {e}")),
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
