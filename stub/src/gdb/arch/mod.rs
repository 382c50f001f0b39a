//! The amd64 GNU/Linux register architecture as gdb and lldb see it over the
//! remote protocol, and the gdbstub [`Arch`] impl that ties it together.
//!
//! | file | owns |
//! |---|---|
//! | `regnum.rs` | [`Amd64RegId`]: gdb remote regnums, names, wire sizes, the `g` packet order and length |
//! | `tdesc.rs` | the target description XML (`qXfer:features:read:target.xml`) |
//! | `lldb_info.rs` | `qRegisterInfo` answers (lldb without libxml2) |
//! | `values.rs` | [`Amd64Regs`]: register values in gdb's units, `p`/`P`, `g`/`G` |
//! | `ptrace.rs` | converting [`Amd64Regs`] from and to the `PTRACE_GETREGS`/XSAVE images |
//!
//! Why not `gdbstub_arch::x86::X86_64_SSE`: its XML has no `<reg>` elements
//! and no `org.gnu.gdb.i386.linux` feature, so gdb never sees `orig_rax`
//! (and then skips `amd64_linux_init_abi_common`: no SVR4 link-map offsets,
//! sigtramp unwinding, TLS or `catch syscall`), `fs_base`/`gs_base` read as
//! `<unavailable>`, AVX is missing, and its `RegId` has no `to_raw_id` (so
//! stop replies cannot expedite registers).
//!
//! Protocol quirk met here: the AVX feature is offered iff the OS enabled
//! AVX on this CPU ([`cpu_has_avx`]), which decides both the target XML and
//! how many registers `qRegisterInfo` lists.

mod lldb_info;
mod ptrace;
mod regnum;
mod tdesc;
mod values;

use gdbstub::arch::lldb::RegisterInfo;
use gdbstub::arch::Arch;

use crate::process::cpu_has_avx;

pub(crate) use lldb_info::lldb_register_info;
pub use regnum::Amd64RegId;
pub(crate) use tdesc::target_xml;
pub use values::Amd64Regs;

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
