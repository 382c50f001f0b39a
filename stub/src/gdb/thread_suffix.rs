//! Register packets with lldb's thread suffix: once the stub answers `QThreadSuffixSupported`
//! with `OK`, lldb names the thread in every `g`, `G`, `p` and `P` (`p10;thread:4000001c;`)
//! instead of sending `Hg` before it. gdbstub knows only the `Hg` form, so the event loop
//! hands these packets here.
//!
//! Protocol quirks: the thread id may come in the multiprocess form (`p<pid>.<tid>`); a
//! register lldb asks for that the thread lacks (ymmNh without AVX) is an error reply, as
//! gdbstub answers it.

use gdbstub::arch::{RegId, Registers};
use gdbstub::common::Tid;

use super::arch::Amd64RegId;
use super::error::reply;
use super::lldb::hex_bytes;
use super::thread_id::single_tid;
use super::{GdbTarget, StubError};

/// A register packet with a thread suffix, parsed.
#[derive(Debug, PartialEq, Eq)]
pub struct Suffixed<'a> {
    /// `g`, `G`, `p` or `P`.
    kind: u8,
    /// What lies between the packet letter and `;thread:`.
    args: &'a str,
    tid: Tid,
}

/// The register packet `packet` (framed: `$...#cc`) names, if it carries a thread suffix.
pub fn parse(packet: &[u8]) -> Option<Suffixed<'_>> {
    let body = packet.strip_prefix(b"$")?;
    let body = std::str::from_utf8(&body[..body.iter().rposition(|&b| b == b'#')?]).ok()?;
    let kind = *body.as_bytes().first()?;
    if !matches!(kind, b'g' | b'G' | b'p' | b'P') {
        return None;
    }
    let (args, thread) = body[1..].split_once(";thread:")?;
    let id = thread.strip_suffix(';').unwrap_or(thread);
    let tid = single_tid(id)?;
    Some(Suffixed { kind, args, tid })
}

impl GdbTarget {
    /// The reply to a suffixed register packet.
    pub fn answer_suffixed(&mut self, packet: &Suffixed<'_>) -> String {
        let result = match packet.kind {
            b'g' => self.client_regs(packet.tid).map(|regs| {
                let mut bytes = Vec::new();
                regs.gdb_serialize(|b| bytes.push(b.unwrap_or(0)));
                hex_bytes(&bytes)
            }),
            b'G' => self.write_all_suffixed(packet),
            b'p' => self.read_one_suffixed(packet),
            _ => self.write_one_suffixed(packet),
        };
        result.unwrap_or_else(reply)
    }

    fn read_one_suffixed(&mut self, packet: &Suffixed<'_>) -> Result<String, StubError> {
        let id = register(packet.args)?;
        let regs = self.client_regs(packet.tid)?;
        let mut buf = [0u8; 16];
        match regs.read_one(id, &mut buf) {
            0 => Err(StubError::BadArgument(packet.args.to_string())),
            n => Ok(hex_bytes(&buf[..n])),
        }
    }

    fn write_one_suffixed(&mut self, packet: &Suffixed<'_>) -> Result<String, StubError> {
        let (reg, value) = packet
            .args
            .split_once('=')
            .ok_or_else(|| StubError::BadArgument(packet.args.to_string()))?;
        let id = register(reg)?;
        let value = unhex(value)?;
        let mut regs = self.client_regs(packet.tid)?;
        regs.write_one(id, &value)
            .map_err(|()| StubError::RegisterValue)?;
        self.store_regs(packet.tid, &regs)?;
        Ok("OK".to_string())
    }

    fn write_all_suffixed(&mut self, packet: &Suffixed<'_>) -> Result<String, StubError> {
        let bytes = unhex(packet.args)?;
        let mut regs = self.client_regs(packet.tid)?;
        regs.gdb_deserialize(&bytes)
            .map_err(|()| StubError::RegisterValue)?;
        self.store_regs(packet.tid, &regs)?;
        Ok("OK".to_string())
    }
}

fn register(hex: &str) -> Result<Amd64RegId, StubError> {
    usize::from_str_radix(hex, 16)
        .ok()
        .and_then(Amd64RegId::from_raw_id)
        .map(|(id, _)| id)
        .ok_or_else(|| StubError::BadArgument(hex.to_string()))
}

fn unhex(hex: &str) -> Result<Vec<u8>, StubError> {
    let bad = || StubError::BadArgument(hex.to_string());
    if hex.len() % 2 != 0 {
        return Err(bad());
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixed_register_packets_are_recognised() {
        let p = parse(b"$p10;thread:4000001c;#00").unwrap();
        assert_eq!((p.kind, p.args, p.tid.get()), (b'p', "10", 0x4000_001c));
        let p = parse(b"$P6=0100000000000000;thread:p1f.2a;#00").unwrap();
        assert_eq!(
            (p.kind, p.args, p.tid.get()),
            (b'P', "6=0100000000000000", 0x2a)
        );
        let p = parse(b"$g;thread:7;#00").unwrap();
        assert_eq!((p.kind, p.args), (b'g', ""));
        assert_eq!(parse(b"$p10#00"), None);
        assert_eq!(parse(b"$m10,4;thread:7;#00"), None);
        assert_eq!(parse(b"$p10;thread:zz;#00"), None);
    }

    #[test]
    fn hex_values_decode_or_fail() {
        assert_eq!(unhex("01ff").unwrap(), vec![1, 0xff]);
        assert!(unhex("0").is_err());
        assert!(unhex("zz").is_err());
        assert!(register("10").is_ok());
        assert!(register("999").is_err());
    }
}
