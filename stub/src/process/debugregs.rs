//! Hardware breakpoints and watchpoints through the x86 debug registers DR0–DR3, DR6 and DR7.
//!
//! Kernel quirks: debug registers are per thread and are NOT inherited by threads created with
//! clone, so the slots are written into every new thread at its first stop. They are reached with
//! PTRACE_POKEUSER at `offsetof(struct user, u_debugreg)`; the kernel rejects a DR7 that enables a
//! slot whose address is not yet valid, so addresses go first and DR7 last. It also rejects (EINVAL)
//! an address whose watched bytes reach past the user address space, so such a slot is refused
//! when asked for: found late, at a new thread's first stop, it cost the session the process.

use nix::unistd::Pid;

/// What a debug-register slot watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HwKind {
    Execute,
    Write,
    Read,
    ReadWrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    addr: u64,
    len: u64,
    kind: HwKind,
}

/// Why a hardware slot could not be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HwError {
    #[error("all four debug registers are in use")]
    NoFreeSlot,
    #[error("a hardware watchpoint covers 1, 2, 4 or 8 aligned bytes")]
    BadLength,
    #[error("a debug register can only watch user-space addresses")]
    KernelAddress,
}

/// The end of the x86-64 user address space with 4-level paging (the kernel's TASK_SIZE_MAX,
/// 2^47 minus a page), below which every watched byte must lie.
const USER_END: u64 = (1 << 47) - 0x1000;

/// The four slots, as the client asked for them. The same contents go into every thread.
#[derive(Debug, Default, Clone)]
pub struct DebugRegs {
    slots: [Option<Slot>; 4],
    /// Set when the slots changed since they were last written to the threads.
    dirty: bool,
}

const DR6_SLOT_BITS: u64 = 0xf;

impl DebugRegs {
    pub fn add(&mut self, addr: u64, len: u64, kind: HwKind) -> Result<(), HwError> {
        let len = if kind == HwKind::Execute { 1 } else { len };
        if !matches!(len, 1 | 2 | 4 | 8) || addr % len != 0 {
            return Err(HwError::BadLength);
        }
        if addr.checked_add(len).is_none_or(|end| end > USER_END) {
            return Err(HwError::KernelAddress);
        }
        let slot = Slot { addr, len, kind };
        if self.slots.contains(&Some(slot)) {
            return Ok(());
        }
        let free = self
            .slots
            .iter_mut()
            .find(|s| s.is_none())
            .ok_or(HwError::NoFreeSlot)?;
        *free = Some(slot);
        self.dirty = true;
        Ok(())
    }

    /// Removes the slot; returns false when no such slot was set.
    pub fn remove(&mut self, addr: u64, len: u64, kind: HwKind) -> bool {
        let len = if kind == HwKind::Execute { 1 } else { len };
        let wanted = Some(Slot { addr, len, kind });
        match self.slots.iter_mut().find(|s| **s == wanted) {
            Some(s) => {
                *s = None;
                self.dirty = true;
                true
            }
            None => false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    fn dr7(&self) -> u64 {
        let mut dr7 = 0u64;
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(slot) = slot else { continue };
            let rw = match slot.kind {
                HwKind::Execute => 0b00,
                HwKind::Write => 0b01,
                // x86 has no read-only watch: read watchpoints trap on writes too, as in gdbserver.
                HwKind::Read | HwKind::ReadWrite => 0b11,
            };
            let len = match slot.len {
                1 => 0b00,
                2 => 0b01,
                8 => 0b10,
                _ => 0b11,
            };
            dr7 |= 1 << (2 * i);
            dr7 |= (rw | (len << 2)) << (16 + 4 * i);
        }
        dr7
    }

    /// Writes the slots into one thread.
    pub fn write_to(&self, tid: Pid) -> nix::Result<()> {
        write_debugreg(tid, 7, 0)?;
        for (i, slot) in self.slots.iter().enumerate() {
            write_debugreg(tid, i, slot.map_or(0, |s| s.addr))?;
        }
        write_debugreg(tid, 7, self.dr7())
    }

    /// After a hardware trap: which slot fired, if any (DR6 is cleared for the next trap).
    /// Returns `Ok(None)` for a single-step trap.
    pub fn triggered(&self, tid: Pid) -> nix::Result<Option<(u64, HwKind)>> {
        let dr6 = read_debugreg(tid, 6)?;
        write_debugreg(tid, 6, 0)?;
        if dr6 & DR6_SLOT_BITS == 0 {
            return Ok(None);
        }
        let fired = (0..4).find(|i| dr6 & (1 << i) != 0);
        Ok(fired.and_then(|i| self.slots[i]).map(|s| (s.addr, s.kind)))
    }
}

/// Disarms one thread whatever the wanted set says (DR7 first, then DR0–DR3 and DR6): what a
/// detach leaves behind. A slot removed since the last resume is still armed in the threads.
pub fn clear_thread(tid: Pid) -> nix::Result<()> {
    for index in [7, 0, 1, 2, 3, 6] {
        write_debugreg(tid, index, 0)?;
    }
    Ok(())
}

fn debugreg_offset(index: usize) -> usize {
    std::mem::offset_of!(libc::user, u_debugreg) + index * 8
}

fn write_debugreg(tid: Pid, index: usize, value: u64) -> nix::Result<()> {
    nix::sys::ptrace::write_user(tid, debugreg_offset(index) as *mut _, value as i64)
}

fn read_debugreg(tid: Pid, index: usize) -> nix::Result<u64> {
    nix::sys::ptrace::read_user(tid, debugreg_offset(index) as *mut _).map(|v| v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dr7_encodes_kind_and_length() {
        let mut regs = DebugRegs::default();
        regs.add(0x1000, 1, HwKind::Execute).unwrap();
        regs.add(0x2000, 4, HwKind::Write).unwrap();
        regs.add(0x3000, 8, HwKind::ReadWrite).unwrap();
        let dr7 = regs.dr7();
        assert_eq!(dr7 & 0b010101, 0b010101);
        assert_eq!((dr7 >> 16) & 0xf, 0b0000);
        assert_eq!((dr7 >> 20) & 0xf, 0b1101);
        assert_eq!((dr7 >> 24) & 0xf, 0b1011);
    }

    #[test]
    fn fifth_slot_and_misaligned_watch_are_refused() {
        let mut regs = DebugRegs::default();
        assert_eq!(regs.add(0x1001, 4, HwKind::Write), Err(HwError::BadLength));
        assert_eq!(regs.add(0x1000, 3, HwKind::Write), Err(HwError::BadLength));
        for i in 0..4 {
            regs.add(0x1000 + 8 * i, 8, HwKind::Write).unwrap();
        }
        assert_eq!(regs.add(0x9000, 8, HwKind::Write), Err(HwError::NoFreeSlot));
        assert!(regs.remove(0x1000, 8, HwKind::Write));
        assert!(!regs.remove(0x1000, 8, HwKind::Write));
        assert!(regs.add(0x9000, 8, HwKind::Write).is_ok());
    }

    /// Issue 11 (the packet fuzzer): a slot the kernel would refuse at every thread is refused
    /// when asked for.
    #[test]
    fn issue11_kernel_addresses_are_refused() {
        let mut regs = DebugRegs::default();
        for (addr, len) in [(0xffff_ffff_ffff_ff00, 1), (!7, 8), (USER_END, 1)] {
            assert_eq!(
                regs.add(addr, len, HwKind::Execute),
                Err(HwError::KernelAddress)
            );
            assert_eq!(
                regs.add(addr, len, HwKind::Write),
                Err(HwError::KernelAddress)
            );
        }
        assert_eq!(
            regs.add(USER_END - 4, 8, HwKind::Write),
            Err(HwError::BadLength)
        );
        assert_eq!(
            regs.add(USER_END - 8, 8, HwKind::ReadWrite),
            Ok(()),
            "the last 8 bytes below the end"
        );
    }
}
