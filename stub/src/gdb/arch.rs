//! The amd64 GNU/Linux register architecture as gdb and lldb see it over the
//! remote protocol: register numbering, the target description XML, the
//! `g`/`G`/`p`/`P` byte layouts and `qRegisterInfo` answers.
//!
//! Why not `gdbstub_arch::x86::X86_64_SSE`: its XML has no `<reg>` elements
//! and no `org.gnu.gdb.i386.linux` feature, so gdb never sees `orig_rax`
//! (and then skips `amd64_linux_init_abi_common`: no SVR4 link-map offsets,
//! sigtramp unwinding, TLS or `catch syscall`), `fs_base`/`gs_base` read as
//! `<unavailable>`, AVX is missing, and its `RegId` has no `to_raw_id` (so
//! stop replies cannot expedite registers).
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
//! The remote numbers differ from gdb's internal ones (internally ymm0h is
//! 57 and orig_rax comes last); only the tdesc numbering travels on the wire.
//! Stop replies expedite rbp, rsp and rip (`06`, `07`, `10`) like gdbserver.
//!
//! Protocol quirks met here:
//! - eflags, segment selectors and the x87 control registers are 32 bits on
//!   the wire although the hardware/kernel fields are 16 or 64 bits.
//! - `ftag` is the full 16-bit i387 tag word, `fiseg`/`foseg` are the upper
//!   halves of the 64-bit FXSAVE64 FIP/FDP (gdb's `amd64_supply_fxsave`),
//!   `fop` is 11 bits.
//! - lldb 19 reads target.xml when offered; `qRegisterInfo` answers are for
//!   lldb builds without libxml2. lldb derives eax/ax/al and ymm0..15 from
//!   these registers itself (`ABIX86::AugmentRegisterInfo`).
//!   Without a `qHostInfo` saying `endian:little`, lldb 19 decodes
//!   `qRegisterInfo`-described registers big-endian (seen in testing).
//! - tdesc `group`s become lldb register sets; gdb 13's reggroups are
//!   unchanged by the extra groups we add (checked with
//!   `maint print register-groups`).

use std::num::NonZeroUsize;
use std::sync::OnceLock;

use gdbstub::arch::lldb::{Encoding, Format, Generic, Register, RegisterInfo};
use gdbstub::arch::{Arch, RegId, Registers};

use crate::process::regs::{cpu_has_avx, XState};

/// Number of registers without the AVX feature (regnums 0..60).
pub const NUM_REGS_NO_AVX: usize = 60;
/// Number of registers with the AVX feature (regnums 0..76).
pub const NUM_REGS_AVX: usize = 76;

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
/// DWARF (= eh_frame) numbers of the GPRs in gdb order (System V psABI).
const GPR_DWARF: [usize; 16] = [0, 3, 2, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
/// DWARF numbers of cs ss ds es fs gs.
const SEGMENT_DWARF: [usize; 6] = [51, 52, 53, 50, 54, 55];

/// The amd64 GNU/Linux architecture for gdbstub.
pub enum Amd64Linux {}

impl Arch for Amd64Linux {
    type Usize = u64;
    type Registers = Amd64Regs;
    type RegId = Amd64RegId;
    type BreakpointKind = usize;

    /// The description matching this CPU (with `org.gnu.gdb.i386.avx` iff
    /// the OS enabled AVX). Serve [`target_xml`] through
    /// `TargetDescriptionXmlOverride` to choose otherwise.
    fn target_description_xml() -> Option<&'static str> {
        Some(target_xml(cpu_has_avx()))
    }

    fn lldb_register_info(reg_id: usize) -> Option<RegisterInfo<'static>> {
        Some(lldb_register_info(reg_id, cpu_has_avx()))
    }
}

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
    /// The registers gdbserver expedites in stop replies: rbp, rsp, rip.
    pub const EXPEDITED: [Amd64RegId; 3] =
        [Amd64RegId::Gpr(6), Amd64RegId::Gpr(7), Amd64RegId::Rip];

    /// The id of gdb remote regnum `n`, if there is one.
    pub fn from_regnum(n: usize) -> Option<Amd64RegId> {
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
    pub fn regnum(self) -> usize {
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
    pub fn size(self) -> usize {
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
    pub fn name(self) -> &'static str {
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

    /// gdb tdesc type name.
    fn tdesc_type(self) -> &'static str {
        match self {
            Amd64RegId::Gpr(6) | Amd64RegId::Gpr(7) => "data_ptr",
            Amd64RegId::Gpr(_) => "int64",
            Amd64RegId::Rip => "code_ptr",
            Amd64RegId::Eflags => "i386_eflags",
            Amd64RegId::Segment(_) => "int32",
            Amd64RegId::St(_) => "i387_ext",
            Amd64RegId::FpuCtrl(_)
            | Amd64RegId::OrigRax
            | Amd64RegId::FsBase
            | Amd64RegId::GsBase => "int",
            Amd64RegId::Xmm(_) => "vec128",
            Amd64RegId::Mxcsr => "i386_mxcsr",
            Amd64RegId::Ymmh(_) => "uint128",
        }
    }

    /// tdesc register group. gdbserver names only fctrl..fop ("float") and
    /// mxcsr ("vector"); the others are explicit here because lldb turns
    /// groups into register sets (so `register read` shows just the GPRs).
    /// Verified not to change gdb 13's `maint print register-groups`.
    fn tdesc_group(self) -> &'static str {
        match self {
            Amd64RegId::St(_) | Amd64RegId::FpuCtrl(_) => "float",
            Amd64RegId::Xmm(_) | Amd64RegId::Mxcsr | Amd64RegId::Ymmh(_) => "vector",
            _ => "general",
        }
    }

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
pub fn g_packet_len(with_avx: bool) -> usize {
    regs_in(with_avx).map(Amd64RegId::size).sum()
}

fn regs_in(with_avx: bool) -> impl Iterator<Item = Amd64RegId> {
    let n = if with_avx {
        NUM_REGS_AVX
    } else {
        NUM_REGS_NO_AVX
    };
    (0..n).filter_map(Amd64RegId::from_regnum)
}

/// Target description XML (one self-contained document, no `xi:include`),
/// equivalent to gdbserver's amd64-linux / amd64-avx-linux descriptions.
pub fn target_xml(with_avx: bool) -> &'static str {
    static WITH_AVX: OnceLock<String> = OnceLock::new();
    static NO_AVX: OnceLock<String> = OnceLock::new();
    let cell = if with_avx { &WITH_AVX } else { &NO_AVX };
    cell.get_or_init(|| build_target_xml(with_avx))
}

const XML_HEAD: &str = r#"<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
  <architecture>i386:x86-64</architecture>
  <osabi>GNU/Linux</osabi>
"#;

const EFLAGS_TYPE: &str = r#"    <flags id="i386_eflags" size="4">
      <field name="CF" start="0" end="0"/>
      <field name="" start="1" end="1"/>
      <field name="PF" start="2" end="2"/>
      <field name="AF" start="4" end="4"/>
      <field name="ZF" start="6" end="6"/>
      <field name="SF" start="7" end="7"/>
      <field name="TF" start="8" end="8"/>
      <field name="IF" start="9" end="9"/>
      <field name="DF" start="10" end="10"/>
      <field name="OF" start="11" end="11"/>
      <field name="NT" start="14" end="14"/>
      <field name="RF" start="16" end="16"/>
      <field name="VM" start="17" end="17"/>
      <field name="AC" start="18" end="18"/>
      <field name="VIF" start="19" end="19"/>
      <field name="VIP" start="20" end="20"/>
      <field name="ID" start="21" end="21"/>
    </flags>
"#;

const SSE_TYPES: &str = r#"    <vector id="v4f" type="ieee_single" count="4"/>
    <vector id="v2d" type="ieee_double" count="2"/>
    <vector id="v16i8" type="int8" count="16"/>
    <vector id="v8i16" type="int16" count="8"/>
    <vector id="v4i32" type="int32" count="4"/>
    <vector id="v2i64" type="int64" count="2"/>
    <union id="vec128">
      <field name="v4_float" type="v4f"/>
      <field name="v2_double" type="v2d"/>
      <field name="v16_int8" type="v16i8"/>
      <field name="v8_int16" type="v8i16"/>
      <field name="v4_int32" type="v4i32"/>
      <field name="v2_int64" type="v2i64"/>
      <field name="uint128" type="uint128"/>
    </union>
    <flags id="i386_mxcsr" size="4">
      <field name="IE" start="0" end="0"/>
      <field name="DE" start="1" end="1"/>
      <field name="ZE" start="2" end="2"/>
      <field name="OE" start="3" end="3"/>
      <field name="UE" start="4" end="4"/>
      <field name="PE" start="5" end="5"/>
      <field name="DAZ" start="6" end="6"/>
      <field name="IM" start="7" end="7"/>
      <field name="DM" start="8" end="8"/>
      <field name="ZM" start="9" end="9"/>
      <field name="OM" start="10" end="10"/>
      <field name="UM" start="11" end="11"/>
      <field name="PM" start="12" end="12"/>
      <field name="FZ" start="15" end="15"/>
    </flags>
"#;

fn build_target_xml(with_avx: bool) -> String {
    use std::fmt::Write;
    let features: [(&str, &str, core::ops::Range<usize>); 5] = [
        ("org.gnu.gdb.i386.core", EFLAGS_TYPE, 0..40),
        ("org.gnu.gdb.i386.sse", SSE_TYPES, 40..57),
        ("org.gnu.gdb.i386.linux", "", 57..58),
        ("org.gnu.gdb.i386.segments", "", 58..60),
        ("org.gnu.gdb.i386.avx", "", 60..NUM_REGS_AVX),
    ];
    let mut xml = String::from(XML_HEAD);
    for (name, types, range) in features {
        if !with_avx && range.start >= NUM_REGS_NO_AVX {
            continue;
        }
        // Writing to a String cannot fail.
        let _ = writeln!(xml, "  <feature name=\"{name}\">");
        xml.push_str(types);
        for reg in range.filter_map(Amd64RegId::from_regnum) {
            let _ = writeln!(
                xml,
                "    <reg name=\"{}\" bitsize=\"{}\" type=\"{}\" regnum=\"{}\" group=\"{}\"/>",
                reg.name(),
                reg.size() * 8,
                reg.tdesc_type(),
                reg.regnum(),
                reg.tdesc_group(),
            );
        }
        xml.push_str("  </feature>\n");
    }
    xml.push_str("</target>\n");
    xml
}

/// `qRegisterInfo<reg_id>` answer for lldb (`Done` past the last register).
pub fn lldb_register_info(reg_id: usize, with_avx: bool) -> RegisterInfo<'static> {
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

/// General-purpose state in gdb's units.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Amd64Gprs {
    /// rax rbx rcx rdx rsi rdi rbp rsp r8..r15, in gdb order (regnums 0..16).
    pub regs: [u64; 16],
    pub rip: u64,
    pub eflags: u32,
    /// cs ss ds es fs gs selectors.
    pub segments: [u32; 6],
    pub orig_rax: u64,
    pub fs_base: u64,
    pub gs_base: u64,
}

/// x87/SSE state in gdb's units (derived from the FXSAVE region).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Amd64Fp {
    /// st0..st7, 80-bit extended, stack order.
    pub st: [[u8; 10]; 8],
    /// fctrl fstat ftag fiseg fioff foseg fooff fop (ftag is the full
    /// 16-bit tag word; fiseg/foseg are FIP/FDP bits 32..63).
    pub ctrl: [u32; 8],
    pub xmm: [[u8; 16]; 16],
    pub mxcsr: u32,
}

/// A thread's registers as gdb sees them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Amd64Regs {
    pub gprs: Amd64Gprs,
    pub fp: Amd64Fp,
    /// Upper 128 bits of ymm0..ymm15; meaningful only when `has_avx`.
    pub ymmh: [[u8; 16]; 16],
    /// Whether the AVX feature is part of this thread's register set
    /// (controls the `g` length and `p`/`P` on ymmNh).
    pub has_avx: bool,
}

fn user_gprs_gdb_order(r: &libc::user_regs_struct) -> [u64; 16] {
    [
        r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11, r.r12,
        r.r13, r.r14, r.r15,
    ]
}

fn user_gprs_gdb_order_mut(r: &mut libc::user_regs_struct) -> [&mut u64; 16] {
    [
        &mut r.rax, &mut r.rbx, &mut r.rcx, &mut r.rdx, &mut r.rsi, &mut r.rdi, &mut r.rbp,
        &mut r.rsp, &mut r.r8, &mut r.r9, &mut r.r10, &mut r.r11, &mut r.r12, &mut r.r13,
        &mut r.r14, &mut r.r15,
    ]
}

/// Replaces the low 32 bits of a kernel register with a 32-bit gdb value.
fn set_low32(dst: &mut u64, v: u32) {
    *dst = (*dst & !0xffff_ffff) | u64::from(v);
}

impl Amd64Regs {
    /// The registers of a parked goroutine: only rip, rsp and rbp are known (enough to unwind);
    /// everything else reads as zero.
    pub fn parked(rip: u64, rsp: u64, rbp: u64) -> Amd64Regs {
        let mut regs = Amd64Regs {
            has_avx: cpu_has_avx(),
            ..Amd64Regs::default()
        };
        regs.gprs.rip = rip;
        regs.gprs.regs[6] = rbp;
        regs.gprs.regs[7] = rsp;
        regs
    }

    /// Builds the gdb view from `PTRACE_GETREGS` and [`XState`] images.
    pub fn from_ptrace(gprs: &libc::user_regs_struct, xs: &XState) -> Amd64Regs {
        let fip = xs.fip();
        let fdp = xs.fdp();
        Amd64Regs {
            gprs: Amd64Gprs {
                regs: user_gprs_gdb_order(gprs),
                rip: gprs.rip,
                // gdb's eflags/selectors are 32-bit; the upper bits are zero.
                eflags: gprs.eflags as u32,
                segments: [gprs.cs, gprs.ss, gprs.ds, gprs.es, gprs.fs, gprs.gs].map(|s| s as u32),
                orig_rax: gprs.orig_rax,
                fs_base: gprs.fs_base,
                gs_base: gprs.gs_base,
            },
            fp: Amd64Fp {
                st: core::array::from_fn(|i| xs.st(i)),
                ctrl: [
                    u32::from(xs.fcw()),
                    u32::from(xs.fsw()),
                    u32::from(xs.ftag()),
                    (fip >> 32) as u32,
                    fip as u32,
                    (fdp >> 32) as u32,
                    fdp as u32,
                    u32::from(xs.fop()),
                ],
                xmm: core::array::from_fn(|i| xs.xmm(i)),
                mxcsr: xs.mxcsr(),
            },
            ymmh: core::array::from_fn(|i| xs.ymmh(i).unwrap_or_default()),
            has_avx: xs.has_avx(),
        }
    }

    /// Writes this view back into the ptrace images (then call `set_gprs` /
    /// `set_xstate`). Only changed XSAVE components are marked in use.
    pub fn apply_to(&self, gprs: &mut libc::user_regs_struct, xs: &mut XState) {
        for (dst, v) in user_gprs_gdb_order_mut(gprs)
            .into_iter()
            .zip(self.gprs.regs)
        {
            *dst = v;
        }
        gprs.rip = self.gprs.rip;
        set_low32(&mut gprs.eflags, self.gprs.eflags);
        let segs = [
            &mut gprs.cs,
            &mut gprs.ss,
            &mut gprs.ds,
            &mut gprs.es,
            &mut gprs.fs,
            &mut gprs.gs,
        ];
        for (dst, v) in segs.into_iter().zip(self.gprs.segments) {
            set_low32(dst, v);
        }
        gprs.orig_rax = self.gprs.orig_rax;
        gprs.fs_base = self.gprs.fs_base;
        gprs.gs_base = self.gprs.gs_base;

        let [fctrl, fstat, ftag, fiseg, fioff, foseg, fooff, fop] = self.fp.ctrl;
        // The x87 control registers are 16 bits wide in FXSAVE.
        xs.set_fcw(fctrl as u16);
        xs.set_fsw(fstat as u16);
        xs.set_ftag(ftag as u16);
        xs.set_fop(fop as u16);
        xs.set_fip(u64::from(fiseg) << 32 | u64::from(fioff));
        xs.set_fdp(u64::from(foseg) << 32 | u64::from(fooff));
        for (i, st) in self.fp.st.iter().enumerate() {
            xs.set_st(i, st);
        }
        for (i, xmm) in self.fp.xmm.iter().enumerate() {
            xs.set_xmm(i, xmm);
        }
        xs.set_mxcsr(self.fp.mxcsr);
        if self.has_avx {
            for (i, y) in self.ymmh.iter().enumerate() {
                // Without AVX in the image there is nowhere to put it; the
                // view then came from a different image and ymmh is dropped.
                let _ = xs.set_ymmh(i, y);
            }
        }
    }

    /// Writes register `id` little-endian into `buf` (as `p` replies it).
    /// Returns the byte count, or 0 when the register is unavailable
    /// (ymmNh without AVX) or `buf` is too small — gdbstub then answers `xx`.
    pub fn read_one(&self, id: Amd64RegId, buf: &mut [u8]) -> usize {
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
    pub fn write_one(&mut self, id: Amd64RegId, bytes: &[u8]) -> Result<(), ()> {
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
mod tests {
    use super::*;

    /// Registers with every byte distinct-ish, so misplaced fields show up.
    fn sample(has_avx: bool) -> Amd64Regs {
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

    /// (name, bitsize, regnum) of every `<reg>` in the XML, in document order.
    fn parse_xml_regs(xml: &str) -> Vec<(String, usize, usize)> {
        let attr = |tag: &str, key: &str| -> String {
            let pat = format!(" {key}=\"");
            let start = tag.find(&pat).map(|i| i + pat.len()).expect(key);
            tag[start..].split('"').next().unwrap().to_string()
        };
        xml.split("<reg ")
            .skip(1)
            .map(|t| {
                let tag = format!(" {}", &t[..t.find("/>").unwrap()]);
                (
                    attr(&tag, "name"),
                    attr(&tag, "bitsize").parse().unwrap(),
                    attr(&tag, "regnum").parse().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn serialize_round_trip() {
        for avx in [false, true] {
            let r = sample(avx);
            let mut g = Vec::new();
            r.gdb_serialize(|b| g.push(b.expect("no unavailable bytes")));
            assert_eq!(g.len(), g_packet_len(avx));
            let mut back = Amd64Regs {
                has_avx: avx,
                ..Default::default()
            };
            back.gdb_deserialize(&g).unwrap();
            assert_eq!(back, r);
        }
        assert_eq!(g_packet_len(false), 560);
        assert_eq!(g_packet_len(true), 816);
    }

    #[test]
    fn g_length_matches_xml_bitsizes() {
        for avx in [false, true] {
            let regs = parse_xml_regs(target_xml(avx));
            let bits: usize = regs.iter().map(|r| r.1).sum();
            let mut g = 0usize;
            sample(avx).gdb_serialize(|_| g += 1);
            assert_eq!(bits / 8, g);
            // Regnums are dense, in document order, and agree with RegId.
            for (i, (name, bitsize, regnum)) in regs.iter().enumerate() {
                assert_eq!(*regnum, i);
                let (id, size) = Amd64RegId::from_raw_id(i).unwrap();
                assert_eq!(id.name(), name);
                assert_eq!(size.unwrap().get() * 8, *bitsize);
            }
            let n = if avx { NUM_REGS_AVX } else { NUM_REGS_NO_AVX };
            assert_eq!(regs.len(), n);
        }
        let xml = target_xml(true);
        for needle in [
            "<osabi>GNU/Linux</osabi>",
            "org.gnu.gdb.i386.core",
            "org.gnu.gdb.i386.sse",
            "org.gnu.gdb.i386.linux",
            "org.gnu.gdb.i386.segments",
            "org.gnu.gdb.i386.avx",
        ] {
            assert!(xml.contains(needle), "{needle}");
        }
        assert!(!target_xml(false).contains("i386.avx"));
        assert!(!xml.contains("xi:include"));
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
        let raw: Vec<_> = Amd64RegId::EXPEDITED
            .iter()
            .map(|r| r.to_raw_id())
            .collect();
        assert_eq!(raw, [Some(6), Some(7), Some(16)]);
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

    #[test]
    fn ptrace_conversion_round_trip() {
        for avx in [false, true] {
            let r = {
                let mut r = sample(avx);
                // Fields the hardware formats narrow: 16-bit x87 control
                // registers, 11-bit fop, tags consistent with "all empty".
                r.fp.ctrl[0] &= 0xffff;
                r.fp.ctrl[1] &= 0xffff;
                r.fp.ctrl[2] = 0xffff;
                r.fp.ctrl[7] &= 0x7ff;
                r
            };
            let mut user: libc::user_regs_struct = unsafe { core::mem::zeroed() };
            let mut xs = XState::synthetic(avx);
            r.apply_to(&mut user, &mut xs);
            assert_eq!(user.rbx, r.gprs.regs[1]);
            assert_eq!(user.fs_base, r.gprs.fs_base);
            assert_eq!(Amd64Regs::from_ptrace(&user, &xs), r);
        }
    }

    #[test]
    fn lldb_info_is_consistent() {
        for avx in [false, true] {
            let mut offset = 0;
            let n = if avx { NUM_REGS_AVX } else { NUM_REGS_NO_AVX };
            for i in 0..n {
                let RegisterInfo::Register(reg) = lldb_register_info(i, avx) else {
                    panic!("reg {i} missing");
                };
                let id = Amd64RegId::from_regnum(i).unwrap();
                assert_eq!(reg.name, id.name());
                assert_eq!(reg.offset, offset);
                offset += reg.bitsize / 8;
            }
            assert_eq!(offset, g_packet_len(avx));
            assert!(matches!(lldb_register_info(n, avx), RegisterInfo::Done));
        }
    }

    #[test]
    fn live_round_trip_through_ptrace() {
        use crate::process::regs::{
            get_gprs, get_xstate, set_gprs, set_xstate, tests::with_stopped_child,
        };
        with_stopped_child(|pid| {
            let read =
                || Amd64Regs::from_ptrace(&get_gprs(pid).unwrap(), &get_xstate(pid).unwrap());
            let mut r = read();
            assert_eq!(r.has_avx, cpu_has_avx());
            assert_ne!(r.pc(), 0);
            let mut buf = [0u8; 16];
            assert_eq!(r.read_one(Amd64RegId::FsBase, &mut buf), 8);
            assert_ne!(u64::from_le_bytes(buf[..8].try_into().unwrap()), 0);
            // P-style writes of an xmm, a ymm upper half, r8 and ftag.
            r.write_one(Amd64RegId::Xmm(5), &[0x42; 16]).unwrap();
            if r.has_avx {
                r.write_one(Amd64RegId::Ymmh(5), &[0x24; 16]).unwrap();
            }
            r.write_one(Amd64RegId::Gpr(8), &0x1122_3344_5566_7788u64.to_le_bytes())
                .unwrap();
            let (mut g, mut xs) = (get_gprs(pid).unwrap(), get_xstate(pid).unwrap());
            r.apply_to(&mut g, &mut xs);
            set_gprs(pid, &g).unwrap();
            set_xstate(pid, &xs).unwrap();
            assert_eq!(read(), r);
        });
    }
}
