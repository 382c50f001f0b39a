//! Breakpoint packets: `Z0`/`z0` software breakpoints, `Z1`/`z1` hardware breakpoints and
//! `Z2`–`Z4` watchpoints. They only edit the wanted sets; the process applies them at resume.
//! gdb's `Z3` (read watchpoint) is answered as unsupported in the event loop, as gdbserver does
//! on x86 (see [`is_read_watch`]).

use gdbstub::target::ext::breakpoints::{
    Breakpoints, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps, SwBreakpoint,
    SwBreakpointOps, WatchKind,
};
use gdbstub::target::TargetResult;

use super::error::target_error;
use super::GdbTarget;
use crate::process::HwKind;

impl Breakpoints for GdbTarget {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }
    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }
    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl SwBreakpoint for GdbTarget {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.session
            .selected()
            .map_err(target_error)?
            .add_sw_breakpoint(addr)
            .map_err(target_error)?;
        Ok(true)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self
            .session
            .selected()
            .map_err(target_error)?
            .remove_sw_breakpoint(addr))
    }
}

impl HwBreakpoint for GdbTarget {
    fn add_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        // A refused slot is "not supported here" (empty reply), so gdb says so to the user.
        Ok(self
            .session
            .selected()
            .map_err(target_error)?
            .add_hw(addr, 1, HwKind::Execute)
            .is_ok())
    }

    fn remove_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self
            .session
            .selected()
            .map_err(target_error)?
            .remove_hw(addr, 1, HwKind::Execute))
    }
}

fn hw_kind(kind: WatchKind) -> HwKind {
    match kind {
        WatchKind::Write => HwKind::Write,
        WatchKind::Read => HwKind::Read,
        WatchKind::ReadWrite => HwKind::ReadWrite,
    }
}

impl HwWatchpoint for GdbTarget {
    fn add_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        Ok(self
            .session
            .selected()
            .map_err(target_error)?
            .add_hw(addr, len, hw_kind(kind))
            .is_ok())
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        Ok(self
            .session
            .selected()
            .map_err(target_error)?
            .remove_hw(addr, len, hw_kind(kind)))
    }
}

/// Whether a framed packet is `Z3`/`z3` (a read watchpoint), which gdb is told x86 lacks.
pub fn is_read_watch(packet: &[u8]) -> bool {
    packet.starts_with(b"$Z3,") || packet.starts_with(b"$z3,")
}
