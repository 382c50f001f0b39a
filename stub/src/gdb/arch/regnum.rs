//! Register numbering: [`Amd64RegId`], its gdb remote regnum, name and size
//! on the wire, and the order and length of a `g` packet.
//!
//! Numbering is the one gdbserver's `amd64_create_target_description`
//! produces (features in the order core, sse, linux, segments, avx):
//!
//! | regnum | registers |
//! |---|---|
//! | 0..=15 | rax rbx rcx rdx rsi rdi rbp rsp r8..r15 |
//! | 16, 17 | rip, eflags |
//! | 18..=23 | cs ss ds es fs gs |
//! | 24..=31 | st0..st7 |
//! | 32..=39 | fctrl fstat ftag fiseg fioff foseg fooff fop |
//! | 40..=55, 56 | xmm0..xmm15, mxcsr |
//! | 57 | orig_rax (`org.gnu.gdb.i386.linux`) |
//! | 58, 59 | fs_base, gs_base (`org.gnu.gdb.i386.segments`) |
//! | 60..=75 | ymm0h..ymm15h (`org.gnu.gdb.i386.avx`, only when AVX is enabled) |
//!
//! Protocol quirks met here:
//! - The remote numbers differ from gdb's internal ones (internally ymm0h is
//!   57 and orig_rax comes last); only the tdesc numbering travels on the wire.
//! - The `g` packet is every register in regnum order, each little-endian at
//!   its wire size: 560 bytes without AVX (regnums 0..60), 816 with it (0..76).
//! - eflags, segment selectors and the x87 control registers are 32 bits on
//!   the wire although the hardware/kernel fields are 16 or 64 bits.
//! - Stop replies expedite every register `PTRACE_GETREGS` gives (gdbserver: rbp, rsp, rip).

use std::num::NonZeroUsize;

use gdbstub::arch::RegId;

/// Number of registers without the AVX feature (regnums 0..60).
pub(super) const NUM_REGS_NO_AVX: usize = 60;
/// Number of registers with the AVX feature (regnums 0..76).
pub(super) const NUM_REGS_AVX: usize = 76;

const GPR_NAMES: [&str; 16] = [
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];
const SEGMENT_NAMES: [&str; 6] = ["cs", "ss", "ds", "es", "fs", "gs"];
const ST_NAMES: [&str; 8] = ["st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7"];
const FPU_CTRL_NAMES: [&str; 8] = [
    "fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop",
];
const XMM_NAMES: [&str; 16] = [
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
    "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
];
const YMMH_NAMES: [&str; 16] = [
    "ymm0h", "ymm1h", "ymm2h", "ymm3h", "ymm4h", "ymm5h", "ymm6h", "ymm7h", "ymm8h", "ymm9h",
    "ymm10h", "ymm11h", "ymm12h", "ymm13h", "ymm14h", "ymm15h",
];

/// One register, identified by its gdb remote regnum (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amd64RegId {
    /// rax rbx rcx rdx rsi rdi rbp rsp r8..r15 (0..16), gdb order.
    Gpr(u8),
    Rip,
    Eflags,
    /// cs ss ds es fs gs (0..6).
    Segment(u8),
    /// st0..st7 (0..8).
    St(u8),
    /// fctrl fstat ftag fiseg fioff foseg fooff fop (0..8).
    FpuCtrl(u8),
    /// xmm0..xmm15 (0..16).
    Xmm(u8),
    Mxcsr,
    OrigRax,
    FsBase,
    GsBase,
    /// ymm0h..ymm15h (0..16).
    Ymmh(u8),
}

impl Amd64RegId {
    /// The registers stop replies expedite: every one `PTRACE_GETREGS` gives (regnums 0..=23,
    /// 57..=59). gdbserver sends only rbp, rsp and rip, and gdb then fetches a `g` at every
    /// stop for the rest `bt` reads (Go's register arguments, the CFA rules' callee-saved
    /// registers); the x87/SSE state stays for a `g` when something reads it.
    pub(crate) fn expedited() -> impl Iterator<Item = Amd64RegId> {
        (0..=23).chain(57..=59).filter_map(Amd64RegId::from_regnum)
    }

    /// The id of gdb remote regnum `n`, if there is one.
    pub(super) fn from_regnum(n: usize) -> Option<Amd64RegId> {
        // Every arm's index is < 16, so the `as u8` casts are lossless.
        Some(match n {
            0..=15 => Amd64RegId::Gpr(n as u8),
            16 => Amd64RegId::Rip,
            17 => Amd64RegId::Eflags,
            18..=23 => Amd64RegId::Segment((n - 18) as u8),
            24..=31 => Amd64RegId::St((n - 24) as u8),
            32..=39 => Amd64RegId::FpuCtrl((n - 32) as u8),
            40..=55 => Amd64RegId::Xmm((n - 40) as u8),
            56 => Amd64RegId::Mxcsr,
            57 => Amd64RegId::OrigRax,
            58 => Amd64RegId::FsBase,
            59 => Amd64RegId::GsBase,
            60..=75 => Amd64RegId::Ymmh((n - 60) as u8),
            _ => return None,
        })
    }

    /// This register's gdb remote regnum.
    pub(super) fn regnum(self) -> usize {
        match self {
            Amd64RegId::Gpr(i) => usize::from(i),
            Amd64RegId::Rip => 16,
            Amd64RegId::Eflags => 17,
            Amd64RegId::Segment(i) => 18 + usize::from(i),
            Amd64RegId::St(i) => 24 + usize::from(i),
            Amd64RegId::FpuCtrl(i) => 32 + usize::from(i),
            Amd64RegId::Xmm(i) => 40 + usize::from(i),
            Amd64RegId::Mxcsr => 56,
            Amd64RegId::OrigRax => 57,
            Amd64RegId::FsBase => 58,
            Amd64RegId::GsBase => 59,
            Amd64RegId::Ymmh(i) => 60 + usize::from(i),
        }
    }

    /// Size in bytes on the wire.
    pub(super) fn size(self) -> usize {
        match self {
            Amd64RegId::Gpr(_)
            | Amd64RegId::Rip
            | Amd64RegId::OrigRax
            | Amd64RegId::FsBase
            | Amd64RegId::GsBase => 8,
            Amd64RegId::Eflags
            | Amd64RegId::Segment(_)
            | Amd64RegId::FpuCtrl(_)
            | Amd64RegId::Mxcsr => 4,
            Amd64RegId::St(_) => 10,
            Amd64RegId::Xmm(_) | Amd64RegId::Ymmh(_) => 16,
        }
    }

    /// gdb/lldb register name. Indices are taken modulo the family size, so
    /// a hand-built out-of-range id cannot panic.
    pub(super) fn name(self) -> &'static str {
        match self {
            Amd64RegId::Gpr(i) => GPR_NAMES[usize::from(i) % 16],
            Amd64RegId::Rip => "rip",
            Amd64RegId::Eflags => "eflags",
            Amd64RegId::Segment(i) => SEGMENT_NAMES[usize::from(i) % 6],
            Amd64RegId::St(i) => ST_NAMES[usize::from(i) % 8],
            Amd64RegId::FpuCtrl(i) => FPU_CTRL_NAMES[usize::from(i) % 8],
            Amd64RegId::Xmm(i) => XMM_NAMES[usize::from(i) % 16],
            Amd64RegId::Mxcsr => "mxcsr",
            Amd64RegId::OrigRax => "orig_rax",
            Amd64RegId::FsBase => "fs_base",
            Amd64RegId::GsBase => "gs_base",
            Amd64RegId::Ymmh(i) => YMMH_NAMES[usize::from(i) % 16],
        }
    }
}

impl RegId for Amd64RegId {
    fn from_raw_id(id: usize) -> Option<(Self, Option<NonZeroUsize>)> {
        let reg = Amd64RegId::from_regnum(id)?;
        Some((reg, NonZeroUsize::new(reg.size())))
    }

    fn to_raw_id(&self) -> Option<usize> {
        Some(self.regnum())
    }
}

/// Byte length of a `g` packet payload with or without the AVX feature.
pub(super) fn g_packet_len(with_avx: bool) -> usize {
    regs_in(with_avx).map(Amd64RegId::size).sum()
}

/// The registers of a `g` packet with or without the AVX feature, in order.
pub(super) fn regs_in(with_avx: bool) -> impl Iterator<Item = Amd64RegId> {
    let n = if with_avx {
        NUM_REGS_AVX
    } else {
        NUM_REGS_NO_AVX
    };
    (0..n).filter_map(Amd64RegId::from_regnum)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every id, listed by family rather than through `from_regnum`.
    fn every_id() -> Vec<Amd64RegId> {
        let mut ids: Vec<Amd64RegId> = (0..16).map(Amd64RegId::Gpr).collect();
        ids.extend([Amd64RegId::Rip, Amd64RegId::Eflags]);
        ids.extend((0..6).map(Amd64RegId::Segment));
        ids.extend((0..8).map(Amd64RegId::St));
        ids.extend((0..8).map(Amd64RegId::FpuCtrl));
        ids.extend((0..16).map(Amd64RegId::Xmm));
        ids.extend([
            Amd64RegId::Mxcsr,
            Amd64RegId::OrigRax,
            Amd64RegId::FsBase,
            Amd64RegId::GsBase,
        ]);
        ids.extend((0..16).map(Amd64RegId::Ymmh));
        ids
    }

    #[test]
    fn regnum_round_trip_for_every_register() {
        let ids = every_id();
        assert_eq!(ids.len(), NUM_REGS_AVX);
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(id.regnum(), n, "{id:?}");
            assert_eq!(Amd64RegId::from_regnum(n), Some(*id));
        }
        assert_eq!(Amd64RegId::from_regnum(NUM_REGS_AVX), None);
        assert_eq!(regs_in(true).collect::<Vec<_>>(), ids);
        assert_eq!(
            regs_in(false).collect::<Vec<_>>(),
            ids[..NUM_REGS_NO_AVX].to_vec()
        );
        // Only the AVX feature lies past NUM_REGS_NO_AVX.
        assert!(ids[NUM_REGS_NO_AVX..]
            .iter()
            .all(|id| matches!(id, Amd64RegId::Ymmh(_))));
    }

    #[test]
    fn names_are_distinct_and_as_gdb_spells_them() {
        let names: Vec<_> = every_id().into_iter().map(Amd64RegId::name).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        let at = |n| Amd64RegId::from_regnum(n).unwrap().name();
        let expected = [
            (0, "rax"),
            (6, "rbp"),
            (7, "rsp"),
            (15, "r15"),
            (16, "rip"),
            (17, "eflags"),
            (18, "cs"),
            (23, "gs"),
            (24, "st0"),
            (32, "fctrl"),
            (39, "fop"),
            (40, "xmm0"),
            (55, "xmm15"),
            (56, "mxcsr"),
            (57, "orig_rax"),
            (58, "fs_base"),
            (59, "gs_base"),
            (60, "ymm0h"),
            (75, "ymm15h"),
        ];
        for (n, name) in expected {
            assert_eq!(at(n), name, "regnum {n}");
        }
        // Out-of-range hand-built ids wrap instead of panicking.
        assert_eq!(Amd64RegId::Gpr(16).name(), "rax");
    }

    #[test]
    fn g_packet_len_is_the_sum_of_sizes() {
        let sizes: Vec<_> = every_id().into_iter().map(Amd64RegId::size).collect();
        assert_eq!(g_packet_len(true), sizes.iter().sum::<usize>());
        assert_eq!(
            g_packet_len(false),
            sizes[..NUM_REGS_NO_AVX].iter().sum::<usize>()
        );
        assert_eq!(g_packet_len(false), 560);
        assert_eq!(g_packet_len(true), 816);
        assert_eq!(g_packet_len(true) - g_packet_len(false), 16 * 16);
    }

    #[test]
    fn raw_id_round_trip() {
        for n in 0..NUM_REGS_AVX {
            let (id, size) = Amd64RegId::from_raw_id(n).unwrap();
            assert_eq!(id.to_raw_id(), Some(n));
            assert_eq!(size.map(NonZeroUsize::get), Some(id.size()));
        }
        assert!(Amd64RegId::from_raw_id(NUM_REGS_AVX).is_none());
        assert!(Amd64RegId::from_raw_id(usize::MAX).is_none());
        let raw: Vec<_> = Amd64RegId::expedited().map(|r| r.to_raw_id()).collect();
        let want: Vec<_> = (0..=23).chain(57..=59).map(Some).collect();
        assert_eq!(raw, want);
    }
}
