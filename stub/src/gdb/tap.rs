//! A tap on the incoming byte stream, in front of gdbstub.
//!
//! gdbstub answers most packets, but it cannot answer some that clients rely on (lldb's
//! `qHostInfo` with `ostype`, `qMemoryRegionInfo`), and it ends the session on a packet larger
//! than its buffer. The tap frames each packet; those it knows are answered here, an oversized one
//! or one with a damaged checksum gets gdbstub's reply (`E16`, or `-` in ack mode), and everything
//! else passes to gdbstub unchanged.
//!
//! Protocol quirks: until `QStartNoAckMode` is accepted, every packet the stub answers must be
//! acknowledged with `+` first. A `$` before a packet's end starts a new packet (gdb's own reader
//! resyncs the same way; clients escape `$` in binary data), so a truncated packet cannot
//! swallow the next one.

use super::error::reply;
use super::StubError;

/// What the event loop does with the bytes seen so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Tapped {
    /// In the middle of a packet.
    Pending,
    /// Pass these bytes to gdbstub.
    Forward(Vec<u8>),
    /// A whole packet whose payload the tap's owner answers.
    Intercept(String),
    /// Write these bytes back to the client (already framed).
    Reply(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Between,
    Body,
    Checksum(u8),
}

#[derive(Debug)]
pub struct PacketTap {
    state: State,
    packet: Vec<u8>,
    oversized: bool,
    max_packet: usize,
    no_ack: bool,
    /// The client sent `!` (extended mode).
    extended: bool,
    intercepts: &'static [&'static [&'static str]],
}

impl PacketTap {
    /// `max_packet` is gdbstub's packet buffer size; `intercepts` are lists of the payload
    /// prefixes the owner answers itself.
    pub fn new(max_packet: usize, intercepts: &'static [&'static [&'static str]]) -> PacketTap {
        PacketTap {
            state: State::Between,
            packet: Vec::new(),
            oversized: false,
            max_packet,
            no_ack: false,
            extended: false,
            intercepts,
        }
    }

    pub fn push(&mut self, byte: u8) -> Tapped {
        if byte == b'$' && self.state != State::Between {
            // Clients escape `$` in binary data: this is a new packet, the one before was cut.
            log::warn!("dropping a packet cut short by a new `$`");
            self.state = State::Between;
        }
        match self.state {
            State::Between => {
                if byte != b'$' {
                    return Tapped::Forward(vec![byte]);
                }
                self.packet.clear();
                self.packet.push(byte);
                self.oversized = false;
                self.state = State::Body;
                Tapped::Pending
            }
            State::Body => {
                if byte == b'#' {
                    self.state = State::Checksum(2);
                }
                if self.packet.len() < self.max_packet {
                    self.packet.push(byte);
                } else {
                    self.oversized = true;
                }
                Tapped::Pending
            }
            State::Checksum(left) => {
                if !self.oversized {
                    self.packet.push(byte);
                }
                if left > 1 {
                    self.state = State::Checksum(left - 1);
                    return Tapped::Pending;
                }
                self.state = State::Between;
                self.finish()
            }
        }
    }

    fn finish(&mut self) -> Tapped {
        let ack = self.ack();
        if self.oversized {
            log::warn!("rejecting a packet longer than {} bytes", self.max_packet);
            let error = reply(StubError::PacketTooLong(self.max_packet));
            return Tapped::Reply([ack, &frame(&error)].concat());
        }
        let packet = std::mem::take(&mut self.packet);
        let payload = &packet[1..packet.len().saturating_sub(3)];
        let sum = payload.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        let sent = std::str::from_utf8(&packet[packet.len().saturating_sub(2)..])
            .ok()
            .and_then(|s| u8::from_str_radix(s, 16).ok());
        // Nothing may act on a damaged packet (not the intercepts, `k` or `H` checks either);
        // the replies are gdbstub's: `-` (a retransmit request) for a wrong checksum, an error
        // for one that is not hex.
        match sent {
            Some(sent) if sent == sum => {}
            Some(_) => {
                log::warn!("packet with a bad checksum");
                let nack: &[u8] = if self.no_ack { b"" } else { b"-" };
                return Tapped::Reply(nack.to_vec());
            }
            None => return Tapped::Reply([ack, &frame("E16")].concat()),
        }
        if payload == b"QStartNoAckMode" {
            // gdbstub accepts it; from its reply on, nothing is acknowledged.
            self.no_ack = true;
        }
        if payload == b"!" {
            // gdbstub answers it; from then on the session is in extended mode.
            self.extended = true;
        }
        if self
            .intercepts
            .iter()
            .flat_map(|list| list.iter())
            .any(|p| payload.starts_with(p.as_bytes()))
        {
            return Tapped::Intercept(String::from_utf8_lossy(payload).into_owned());
        }
        Tapped::Forward(packet)
    }

    /// Whether the client asked for extended mode (`!`).
    pub fn extended(&self) -> bool {
        self.extended
    }

    /// The ack for a packet that has no reply (`+`, or nothing in no-ack mode).
    pub fn ack(&self) -> &'static [u8] {
        if self.no_ack {
            b""
        } else {
            b"+"
        }
    }

    /// Frames `reply` for the client, with the `+` ack when acks are still on.
    pub fn reply(&self, reply: &str) -> Vec<u8> {
        self.reply_bytes(reply.as_bytes())
    }

    /// [`Self::reply`] for a binary payload (escaped already).
    pub fn reply_bytes(&self, reply: &[u8]) -> Vec<u8> {
        [self.ack(), &frame_bytes(reply)].concat()
    }
}

/// `$payload#checksum`. The payload must not need escaping.
pub fn frame(payload: &str) -> Vec<u8> {
    frame_bytes(payload.as_bytes())
}

fn frame_bytes(payload: &[u8]) -> Vec<u8> {
    let sum = payload.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    [b"$", payload, format!("#{sum:02x}").as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(tap: &mut PacketTap, bytes: &[u8]) -> Vec<Tapped> {
        bytes
            .iter()
            .map(|b| tap.push(*b))
            .filter(|t| *t != Tapped::Pending)
            .collect()
    }

    #[test]
    fn plain_packets_and_bytes_pass_through() {
        let mut tap = PacketTap::new(64, &[&["qHostInfo"]]);
        let out = feed(&mut tap, b"+$m10,4#2e\x03");
        assert_eq!(
            out,
            vec![
                Tapped::Forward(b"+".to_vec()),
                Tapped::Forward(b"$m10,4#2e".to_vec()),
                Tapped::Forward(vec![3])
            ]
        );
    }

    #[test]
    fn intercepted_packet_is_answered_with_ack_until_no_ack_mode() {
        let mut tap = PacketTap::new(64, &[&["qHostInfo"]]);
        assert_eq!(
            feed(&mut tap, b"$qHostInfo#9b"),
            vec![Tapped::Intercept("qHostInfo".into())]
        );
        assert_eq!(tap.reply("OK"), b"+$OK#9a".to_vec());
        feed(&mut tap, b"$QStartNoAckMode#b0");
        assert_eq!(tap.reply("OK"), b"$OK#9a".to_vec());
    }

    #[test]
    fn damaged_packets_are_refused_before_anything_acts_on_them() {
        let mut tap = PacketTap::new(64, &[&["qHostInfo"]]);
        assert_eq!(
            feed(&mut tap, b"$qHostInfo#00$k#zz"),
            vec![
                Tapped::Reply(b"-".to_vec()),
                Tapped::Reply(b"+$E16#ac".to_vec())
            ]
        );
        feed(&mut tap, b"$QStartNoAckMode#b0");
        assert_eq!(feed(&mut tap, b"$k#00"), vec![Tapped::Reply(Vec::new())]);
    }

    #[test]
    fn a_dollar_inside_a_packet_starts_a_new_one() {
        let mut tap = PacketTap::new(64, &[]);
        assert_eq!(
            feed(&mut tap, b"$m4000$?#3f$m1,1#$g#67"),
            vec![
                Tapped::Forward(b"$?#3f".to_vec()),
                Tapped::Forward(b"$g#67".to_vec())
            ]
        );
    }

    #[test]
    fn oversized_packet_gets_an_error_and_the_stream_recovers() {
        let mut tap = PacketTap::new(8, &[]);
        let mut big = b"$M0,100:".to_vec();
        big.extend(std::iter::repeat_n(b'a', 500));
        big.extend(b"#00$?#3f");
        let out = feed(&mut tap, &big);
        assert_eq!(
            out,
            vec![
                Tapped::Reply(b"+$E16#ac".to_vec()),
                Tapped::Forward(b"$?#3f".to_vec())
            ]
        );
    }
}
