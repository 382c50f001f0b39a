//! Register values: [`Amd64Regs`], a thread's registers in gdb's units, and
//! their wire forms: one register for `p`/`P` ([`Amd64Regs::read_one`],
//! [`Amd64Regs::write_one`]) and all of them for `g`/`G` (the gdbstub
//! [`Registers`] impl).
//!
//! Protocol quirks met here:
//! - Values are little-endian at each register's wire size (`regnum.rs`);
//!   eflags, selectors and the x87 control registers are 32-bit words.
//! - ymmNh is unavailable without AVX: `p` gets 0 bytes (gdbstub answers
//!   `xx`) and `P` an error.
//! - `G` is accepted with the payload of either `g` layout (560 bytes without
//!   AVX, leaving ymmNh unchanged, or 816 with it). gdbstub deserializes `G`
//!   into a default value, so whether 816 bytes fit is the CPU's call.

use gdbstub::arch::Registers;

use super::regnum::{g_packet_len, regs_in, Amd64RegId};
use crate::process::cpu_has_avx;

/// General-purpose state in gdb's units.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Amd64Gprs {
    /// rax rbx rcx rdx rsi rdi rbp rsp r8..r15, in gdb order (regnums 0..16).
    pub(super) regs: [u64; 16],
    pub(super) rip: u64,
    pub(super) eflags: u32,
    /// cs ss ds es fs gs selectors.
    pub(super) segments: [u32; 6],
    pub(super) orig_rax: u64,
    pub(super) fs_base: u64,
    pub(super) gs_base: u64,
}

/// x87/SSE state in gdb's units (derived from the FXSAVE region).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Amd64Fp {
    /// st0..st7, 80-bit extended, stack order.
    pub(super) st: [[u8; 10]; 8],
    /// fctrl fstat ftag fiseg fioff foseg fooff fop (ftag is the full
    /// 16-bit tag word; fiseg/foseg are FIP/FDP bits 32..63).
    pub(super) ctrl: [u32; 8],
    pub(super) xmm: [[u8; 16]; 16],
    pub(super) mxcsr: u32,
}

/// A thread's registers as gdb sees them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Amd64Regs {
    pub(super) gprs: Amd64Gprs,
    pub(super) fp: Amd64Fp,
    /// Upper 128 bits of ymm0..ymm15; meaningful only when `has_avx`.
    pub(super) ymmh: [[u8; 16]; 16],
    /// Whether the AVX feature is part of this thread's register set
    /// (controls the `g` length and `p`/`P` on ymmNh).
    pub(super) has_avx: bool,
}

impl Amd64Regs {
    /// The registers of a parked goroutine: only rip, rsp and rbp are known (enough to unwind);
    /// everything else reads as zero.
    pub(crate) fn parked(rip: u64, rsp: u64, rbp: u64) -> Amd64Regs {
        let mut regs = Amd64Regs {
            has_avx: cpu_has_avx(),
            ..Amd64Regs::default()
        };
        regs.gprs.rip = rip;
        regs.gprs.regs[6] = rbp;
        regs.gprs.regs[7] = rsp;
        regs
    }

    /// Writes register `id` little-endian into `buf` (as `p` replies it).
    /// Returns the byte count, or 0 when the register is unavailable
    /// (ymmNh without AVX) or `buf` is too small — gdbstub then answers `xx`.
    pub(crate) fn read_one(&self, id: Amd64RegId, buf: &mut [u8]) -> usize {
        let mut tmp = [0u8; 16];
        let bytes: &[u8] = match id {
            Amd64RegId::Gpr(i) => {
                tmp[..8].copy_from_slice(&self.gprs.regs[usize::from(i) % 16].to_le_bytes());
                &tmp[..8]
            }
            Amd64RegId::Rip => {
                tmp[..8].copy_from_slice(&self.gprs.rip.to_le_bytes());
                &tmp[..8]
            }
            Amd64RegId::Eflags => {
                tmp[..4].copy_from_slice(&self.gprs.eflags.to_le_bytes());
                &tmp[..4]
            }
            Amd64RegId::Segment(i) => {
                tmp[..4].copy_from_slice(&self.gprs.segments[usize::from(i) % 6].to_le_bytes());
                &tmp[..4]
            }
            Amd64RegId::St(i) => &self.fp.st[usize::from(i) % 8],
            Amd64RegId::FpuCtrl(i) => {
                tmp[..4].copy_from_slice(&self.fp.ctrl[usize::from(i) % 8].to_le_bytes());
                &tmp[..4]
            }
            Amd64RegId::Xmm(i) => &self.fp.xmm[usize::from(i) % 16],
            Amd64RegId::Mxcsr => {
                tmp[..4].copy_from_slice(&self.fp.mxcsr.to_le_bytes());
                &tmp[..4]
            }
            Amd64RegId::OrigRax => {
                tmp[..8].copy_from_slice(&self.gprs.orig_rax.to_le_bytes());
                &tmp[..8]
            }
            Amd64RegId::FsBase => {
                tmp[..8].copy_from_slice(&self.gprs.fs_base.to_le_bytes());
                &tmp[..8]
            }
            Amd64RegId::GsBase => {
                tmp[..8].copy_from_slice(&self.gprs.gs_base.to_le_bytes());
                &tmp[..8]
            }
            Amd64RegId::Ymmh(_) if !self.has_avx => return 0,
            Amd64RegId::Ymmh(i) => &self.ymmh[usize::from(i) % 16],
        };
        match buf.get_mut(..bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                bytes.len()
            }
            None => 0,
        }
    }

    /// Sets register `id` from its little-endian wire bytes (a `P` payload).
    /// Errors if the length is not the register's size or the register is
    /// unavailable (ymmNh without AVX).
    #[allow(clippy::result_unit_err)] // mirrors `Registers::gdb_deserialize`
    pub(crate) fn write_one(&mut self, id: Amd64RegId, bytes: &[u8]) -> Result<(), ()> {
        fn u64_of(b: &[u8]) -> Result<u64, ()> {
            Ok(u64::from_le_bytes(b.try_into().map_err(drop)?))
        }
        fn u32_of(b: &[u8]) -> Result<u32, ()> {
            Ok(u32::from_le_bytes(b.try_into().map_err(drop)?))
        }
        match id {
            Amd64RegId::Gpr(i) => self.gprs.regs[usize::from(i) % 16] = u64_of(bytes)?,
            Amd64RegId::Rip => self.gprs.rip = u64_of(bytes)?,
            Amd64RegId::Eflags => self.gprs.eflags = u32_of(bytes)?,
            Amd64RegId::Segment(i) => self.gprs.segments[usize::from(i) % 6] = u32_of(bytes)?,
            Amd64RegId::St(i) => self.fp.st[usize::from(i) % 8] = bytes.try_into().map_err(drop)?,
            Amd64RegId::FpuCtrl(i) => self.fp.ctrl[usize::from(i) % 8] = u32_of(bytes)?,
            Amd64RegId::Xmm(i) => {
                self.fp.xmm[usize::from(i) % 16] = bytes.try_into().map_err(drop)?
            }
            Amd64RegId::Mxcsr => self.fp.mxcsr = u32_of(bytes)?,
            Amd64RegId::OrigRax => self.gprs.orig_rax = u64_of(bytes)?,
            Amd64RegId::FsBase => self.gprs.fs_base = u64_of(bytes)?,
            Amd64RegId::GsBase => self.gprs.gs_base = u64_of(bytes)?,
            Amd64RegId::Ymmh(_) if !self.has_avx => return Err(()),
            Amd64RegId::Ymmh(i) => {
                self.ymmh[usize::from(i) % 16] = bytes.try_into().map_err(drop)?
            }
        }
        Ok(())
    }
}

impl Registers for Amd64Regs {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        self.gprs.rip
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        let mut buf = [0u8; 16];
        for id in regs_in(self.has_avx) {
            let n = self.read_one(id, &mut buf);
            buf[..n].iter().for_each(|&b| write_byte(Some(b)));
        }
    }

    /// Every register in `g` order straight into `out` (no register is ever missing here).
    fn gdb_serialize_into(&self, out: &mut [u8]) -> Option<usize> {
        let mut at = 0usize;
        for id in regs_in(self.has_avx) {
            let n = self.read_one(id, out.get_mut(at..)?);
            if n != id.size() {
                return None;
            }
            at = at.checked_add(n)?;
        }
        Some(at)
    }

    /// Accepts a payload covering either the registers without AVX (ymmNh
    /// left unchanged) or, when `has_avx`, all of them; any other length is
    /// an error. Nothing is modified on error.
    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        let with_avx = match bytes.len() {
            n if n == g_packet_len(false) => false,
            // gdbstub deserializes `G` into a default value, so the CPU decides, not `self`.
            n if (self.has_avx || cpu_has_avx()) && n == g_packet_len(true) => true,
            _ => return Err(()),
        };
        let mut new = self.clone();
        new.has_avx |= with_avx;
        let mut rest = bytes;
        for id in regs_in(with_avx) {
            let (val, tail) = rest.split_at_checked(id.size()).ok_or(())?;
            new.write_one(id, val)?;
            rest = tail;
        }
        *self = new;
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Registers with every byte distinct-ish, so misplaced fields show up.
    pub(in super::super) fn sample(has_avx: bool) -> Amd64Regs {
        let mut r = Amd64Regs {
            has_avx,
            ..Default::default()
        };
        let mut k = 1u8;
        let mut next = || {
            k = k.wrapping_add(37);
            k
        };
        for id in regs_in(has_avx) {
            let bytes: Vec<u8> = (0..id.size()).map(|_| next()).collect();
            r.write_one(id, &bytes).unwrap();
        }
        r
    }

    fn g_packet(r: &Amd64Regs) -> Vec<u8> {
        let mut g = Vec::new();
        r.gdb_serialize(|b| g.push(b.expect("no unavailable bytes")));
        g
    }

    #[test]
    fn serialize_into_writes_what_serialize_does() {
        for avx in [false, true] {
            let r = sample(avx);
            let mut out = [0u8; 1024];
            let n = r.gdb_serialize_into(&mut out).unwrap();
            assert_eq!(out[..n], g_packet(&r)[..]);
            // Too small a buffer: no answer, so gdbstub takes the byte-by-byte path.
            assert_eq!(r.gdb_serialize_into(&mut out[..n - 1]), None);
        }
    }

    #[test]
    fn serialize_round_trip() {
        for avx in [false, true] {
            let r = sample(avx);
            let g = g_packet(&r);
            assert_eq!(g.len(), g_packet_len(avx));
            let mut back = Amd64Regs {
                has_avx: avx,
                ..Default::default()
            };
            back.gdb_deserialize(&g).unwrap();
            assert_eq!(back, r);
        }
    }

    /// `P` then `p` gives back the bytes for every register (of every wire
    /// size: 4, 8, 10 and 16), and `P` touches only that register's slot of
    /// the `g` packet.
    #[test]
    fn read_one_write_one_round_trip_for_every_register() {
        let mut sizes_seen = Vec::new();
        let mut offset = 0;
        for id in regs_in(true) {
            let mut r = sample(true);
            let before = g_packet(&r);
            let value: Vec<u8> = (0..id.size()).map(|i| 0xc0 ^ i as u8).collect();
            r.write_one(id, &value).unwrap();
            let mut buf = [0u8; 16];
            assert_eq!(r.read_one(id, &mut buf), id.size(), "{id:?}");
            assert_eq!(&buf[..id.size()], value, "{id:?}");
            // An exactly sized buffer is enough.
            let mut exact = vec![0u8; id.size()];
            assert_eq!(r.read_one(id, &mut exact), id.size());
            assert_eq!(exact, value);
            let after = g_packet(&r);
            let slot = offset..offset + id.size();
            assert_eq!(&after[slot.clone()], value, "{id:?}");
            assert_eq!(after[..slot.start], before[..slot.start], "{id:?}");
            assert_eq!(after[slot.end..], before[slot.end..], "{id:?}");
            offset = slot.end;
            sizes_seen.push(id.size());
        }
        sizes_seen.sort_unstable();
        sizes_seen.dedup();
        assert_eq!(sizes_seen, [4, 8, 10, 16]);
    }

    #[test]
    fn short_g_leaves_ymmh_alone() {
        let mut r = sample(true);
        let ymmh = r.ymmh;
        let short = g_packet(&sample(false));
        r.gdb_deserialize(&short).unwrap();
        assert_eq!(r.ymmh, ymmh);
        assert!(r.has_avx);
        assert_eq!(g_packet(&r)[..short.len()], short[..]);
    }

    #[test]
    fn parked_knows_only_rip_rsp_rbp() {
        let r = Amd64Regs::parked(0x1000, 0x2000, 0x3000);
        assert_eq!(r.pc(), 0x1000);
        let read = |id| {
            let mut b = [0u8; 8];
            assert_eq!(r.read_one(id, &mut b), 8);
            u64::from_le_bytes(b)
        };
        assert_eq!(read(Amd64RegId::Gpr(7)), 0x2000);
        assert_eq!(read(Amd64RegId::Gpr(6)), 0x3000);
        assert_eq!(read(Amd64RegId::Gpr(0)), 0);
        assert_eq!(r.has_avx, cpu_has_avx());
    }

    #[test]
    fn malformed_payloads_are_errors() {
        let mut r = sample(false);
        let before = r.clone();
        for id in regs_in(true) {
            for len in [0, id.size() - 1, id.size() + 1, 100] {
                assert_eq!(r.write_one(id, &vec![0xff; len]), Err(()));
            }
        }
        // ymmNh is unavailable without AVX, even with the right length.
        assert_eq!(r.write_one(Amd64RegId::Ymmh(0), &[0; 16]), Err(()));
        let mut buf = [0u8; 16];
        assert_eq!(r.read_one(Amd64RegId::Ymmh(0), &mut buf), 0);
        assert_eq!(r.read_one(Amd64RegId::Xmm(0), &mut buf[..3]), 0);
        // Out-of-range indices in hand-built ids do not panic.
        assert_eq!(r.read_one(Amd64RegId::Gpr(200), &mut buf), 8);
        assert_eq!(r.clone().write_one(Amd64RegId::Xmm(99), &[0; 16]), Ok(()));
        for len in [0, 1, 559, 561, 815, 817, 10_000] {
            assert_eq!(r.gdb_deserialize(&vec![0xab; len]), Err(()));
        }
        assert_eq!(r, before);
    }
}
