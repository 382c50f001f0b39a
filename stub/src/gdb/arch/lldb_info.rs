//! `qRegisterInfo<n>` answers, for lldb builds without libxml2 (lldb 19
//! reads target.xml instead when it can): each register's name, size, byte
//! offset in the `g` packet, encoding, register set, DWARF number and lldb
//! generic role.
//!
//! Protocol quirks met here:
//! - lldb finds pc/sp/fp/flags and the argument registers only through the
//!   `generic:` key; we assign them as lldb-server does (arg1..6 = rdi rsi
//!   rdx rcx r8 r9), with alternate names `pc`, `sp`, `fp`, `flags`, `argN`.
//! - lldb derives eax/ax/al and ymm0..15 from these registers itself
//!   (`ABIX86::AugmentRegisterInfo`), so they are not listed.
//! - `offset:` is the register's byte offset in the `g` packet; lldb slices
//!   `g` replies with it.
//! - st0..7 and xmm are described as byte vectors, like lldb-server does.
//! - Without a `qHostInfo` saying `endian:little`, lldb 19 decodes
//!   `qRegisterInfo`-described registers big-endian (seen in testing).

use gdbstub::arch::lldb::{Encoding, Format, Generic, Register, RegisterInfo};

use super::regnum::{regs_in, Amd64RegId, NUM_REGS_AVX, NUM_REGS_NO_AVX};

/// DWARF (= eh_frame) numbers of the GPRs in gdb order (System V psABI).
const GPR_DWARF: [usize; 16] = [0, 3, 2, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
/// DWARF numbers of cs ss ds es fs gs.
const SEGMENT_DWARF: [usize; 6] = [51, 52, 53, 50, 54, 55];

impl Amd64RegId {
    /// DWARF (= eh_frame) register number (System V amd64 psABI).
    fn dwarf(self) -> Option<usize> {
        match self {
            Amd64RegId::Gpr(i) => GPR_DWARF.get(usize::from(i)).copied(),
            Amd64RegId::Rip => Some(16),
            Amd64RegId::Xmm(i) => Some(17 + usize::from(i)),
            Amd64RegId::St(i) => Some(33 + usize::from(i)),
            Amd64RegId::Eflags => Some(49),
            Amd64RegId::Segment(i) => SEGMENT_DWARF.get(usize::from(i)).copied(),
            Amd64RegId::FsBase => Some(58),
            Amd64RegId::GsBase => Some(59),
            Amd64RegId::Mxcsr => Some(64),
            Amd64RegId::FpuCtrl(0) => Some(65),
            Amd64RegId::FpuCtrl(1) => Some(66),
            Amd64RegId::FpuCtrl(_) | Amd64RegId::OrigRax | Amd64RegId::Ymmh(_) => None,
        }
    }

    /// lldb generic role and alternate name (as lldb-server assigns them).
    fn lldb_generic(self) -> Option<(Generic, &'static str)> {
        match self {
            Amd64RegId::Gpr(5) => Some((Generic::Arg1, "arg1")),
            Amd64RegId::Gpr(4) => Some((Generic::Arg2, "arg2")),
            Amd64RegId::Gpr(3) => Some((Generic::Arg3, "arg3")),
            Amd64RegId::Gpr(2) => Some((Generic::Arg4, "arg4")),
            Amd64RegId::Gpr(8) => Some((Generic::Arg5, "arg5")),
            Amd64RegId::Gpr(9) => Some((Generic::Arg6, "arg6")),
            Amd64RegId::Gpr(6) => Some((Generic::Fp, "fp")),
            Amd64RegId::Gpr(7) => Some((Generic::Sp, "sp")),
            Amd64RegId::Rip => Some((Generic::Pc, "pc")),
            Amd64RegId::Eflags => Some((Generic::Flags, "flags")),
            _ => None,
        }
    }
}

/// `qRegisterInfo<reg_id>` answer for lldb (`Done` past the last register).
pub(crate) fn lldb_register_info(reg_id: usize, with_avx: bool) -> RegisterInfo<'static> {
    let count = if with_avx {
        NUM_REGS_AVX
    } else {
        NUM_REGS_NO_AVX
    };
    let Some(reg) = Amd64RegId::from_regnum(reg_id).filter(|_| reg_id < count) else {
        return RegisterInfo::Done;
    };
    let offset = regs_in(with_avx).take(reg_id).map(Amd64RegId::size).sum();
    let (encoding, format, set) = match reg {
        Amd64RegId::Gpr(_)
        | Amd64RegId::Rip
        | Amd64RegId::Eflags
        | Amd64RegId::Segment(_)
        | Amd64RegId::OrigRax
        | Amd64RegId::FsBase
        | Amd64RegId::GsBase => (Encoding::Uint, Format::Hex, "General Purpose Registers"),
        // lldb-server describes st0..7 and xmm as byte vectors too.
        Amd64RegId::St(_) | Amd64RegId::Xmm(_) => (
            Encoding::Vector,
            Format::VectorUInt8,
            "Floating Point Registers",
        ),
        Amd64RegId::FpuCtrl(_) | Amd64RegId::Mxcsr => {
            (Encoding::Uint, Format::Hex, "Floating Point Registers")
        }
        Amd64RegId::Ymmh(_) => (
            Encoding::Vector,
            Format::VectorUInt8,
            "Advanced Vector Extensions",
        ),
    };
    let (generic, alt_name) = match reg.lldb_generic() {
        Some((g, alt)) => (Some(g), Some(alt)),
        None => (None, None),
    };
    RegisterInfo::Register(Register {
        name: reg.name(),
        alt_name,
        bitsize: reg.size() * 8,
        offset,
        encoding,
        format,
        set,
        gcc: reg.dwarf(),
        dwarf: reg.dwarf(),
        generic,
        container_regs: None,
        invalidate_regs: None,
    })
}

#[cfg(test)]
mod tests {
    use gdbstub::arch::Registers;

    use super::super::regnum::g_packet_len;
    use super::super::values::tests::sample;
    use super::*;

    fn info(i: usize, avx: bool) -> Register<'static> {
        match lldb_register_info(i, avx) {
            RegisterInfo::Register(reg) => reg,
            RegisterInfo::Done => panic!("reg {i} missing"),
        }
    }

    #[test]
    fn lldb_info_is_consistent() {
        for avx in [false, true] {
            let mut offset = 0;
            let n = if avx { NUM_REGS_AVX } else { NUM_REGS_NO_AVX };
            for i in 0..n {
                let reg = info(i, avx);
                let id = Amd64RegId::from_regnum(i).unwrap();
                assert_eq!(reg.name, id.name());
                assert_eq!(reg.offset, offset);
                offset += reg.bitsize / 8;
            }
            assert_eq!(offset, g_packet_len(avx));
            assert!(matches!(lldb_register_info(n, avx), RegisterInfo::Done));
        }
        assert!(matches!(
            lldb_register_info(NUM_REGS_NO_AVX, false),
            RegisterInfo::Done
        ));
    }

    /// lldb slices a `g` reply at `offset`; the bytes there must be the ones
    /// `p` returns for that register.
    #[test]
    fn offsets_slice_the_g_packet() {
        for avx in [false, true] {
            let regs = sample(avx);
            let mut g = Vec::new();
            regs.gdb_serialize(|b| g.push(b.unwrap()));
            for id in regs_in(avx) {
                let reg = info(id.regnum(), avx);
                let mut p = [0u8; 16];
                let n = regs.read_one(id, &mut p);
                assert_eq!(&g[reg.offset..reg.offset + reg.bitsize / 8], &p[..n]);
            }
        }
    }

    #[test]
    fn generic_roles_are_lldb_servers() {
        let expected = [
            ("rip", Generic::Pc, "pc"),
            ("rsp", Generic::Sp, "sp"),
            ("rbp", Generic::Fp, "fp"),
            ("eflags", Generic::Flags, "flags"),
            ("rdi", Generic::Arg1, "arg1"),
            ("rsi", Generic::Arg2, "arg2"),
            ("rdx", Generic::Arg3, "arg3"),
            ("rcx", Generic::Arg4, "arg4"),
            ("r8", Generic::Arg5, "arg5"),
            ("r9", Generic::Arg6, "arg6"),
        ];
        let all: Vec<_> = (0..NUM_REGS_AVX).map(|i| info(i, true)).collect();
        let with_generic: Vec<_> = all.iter().filter(|r| r.generic.is_some()).collect();
        assert_eq!(with_generic.len(), expected.len());
        for (name, generic, alt) in expected {
            let reg = all.iter().find(|r| r.name == name).unwrap();
            assert!(
                matches!(&reg.generic, Some(g) if core::mem::discriminant(g) == core::mem::discriminant(&generic)),
                "{name}"
            );
            assert_eq!(reg.alt_name, Some(alt));
        }
    }

    #[test]
    fn dwarf_numbers_are_distinct_and_psabi() {
        let all: Vec<_> = (0..NUM_REGS_AVX).map(|i| info(i, true)).collect();
        let mut dwarf: Vec<_> = all.iter().filter_map(|r| r.dwarf).collect();
        for reg in &all {
            assert_eq!(reg.gcc, reg.dwarf, "{}", reg.name);
        }
        let by_name = |n: &str| all.iter().find(|r| r.name == n).unwrap().dwarf;
        assert_eq!(by_name("rax"), Some(0));
        assert_eq!(by_name("rdx"), Some(1));
        assert_eq!(by_name("rcx"), Some(2));
        assert_eq!(by_name("rbx"), Some(3));
        assert_eq!(by_name("rip"), Some(16));
        assert_eq!(by_name("xmm15"), Some(32));
        assert_eq!(by_name("st7"), Some(40));
        assert_eq!(by_name("es"), Some(50));
        assert_eq!(by_name("orig_rax"), None);
        let n = dwarf.len();
        dwarf.sort_unstable();
        dwarf.dedup();
        assert_eq!(dwarf.len(), n);
    }
}
