//! Hardware breakpoints and watchpoints through the x86 debug registers DR0–DR3, DR6 and DR7.
//!
//! A watched range of any length is split into aligned pieces of 1, 2, 4 or 8 bytes, one debug
//! register each, as gdbserver does (a 16-byte `Z2` takes two registers, an unaligned 4-byte one
//! two or three). A piece two watchpoints share is one register with a reference count.
//!
//! Kernel quirks: debug registers are per thread and are NOT inherited by threads created with
//! clone, so the slots are written into every new thread at its first stop. They are reached with
//! PTRACE_POKEUSER at `offsetof(struct user, u_debugreg)`; the kernel rejects a DR7 that enables a
//! slot whose address is not yet valid, so addresses go first and DR7 last. DR6 is not cleared
//! by the kernel between traps, so it is cleared after each read; and when a watched access
//! happens during a single step, the one SIGTRAP carries TRAP_TRACE while DR6 has both the step
//! bit (BS) and the slot's bit set, so DR6 is read at every SIGTRAP while a slot is set.
//! The kernel also rejects (EINVAL) an address whose watched bytes reach past the user address
//! space, so such a slot is refused when asked for: found late, at a new thread's first stop, it
//! cost the session the process.

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
    /// How many watchpoints use this piece.
    users: u32,
}

/// Why a hardware slot could not be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HwError {
    #[error("all four debug registers are in use")]
    NoFreeSlot,
    #[error("a hardware watchpoint covers at least one byte, within the address space")]
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

/// The aligned pieces `(addr, len)` that cover `addr..addr+len`: each the largest of 8, 4, 2 and
/// 1 bytes that is aligned at its address and fits in what is left (gdb's and gdbserver's
/// `x86_handle_nonaligned_watchpoint`). At most five pieces are returned (more than the four
/// registers), so a huge length costs nothing.
fn pieces(addr: u64, len: u64) -> Result<Vec<(u64, u64)>, HwError> {
    if len == 0 || addr.checked_add(len - 1).is_none() {
        return Err(HwError::BadLength);
    }
    let mut out = Vec::new();
    let (mut at, mut left) = (addr, len);
    while left > 0 && out.len() <= 4 {
        let size = [8u64, 4, 2, 1]
            .into_iter()
            .find(|&s| at % s == 0 && s <= left)
            .unwrap_or(1);
        out.push((at, size));
        at = at.wrapping_add(size);
        left -= size;
    }
    Ok(out)
}

/// Whether `slot` watches exactly this piece.
fn holds(slot: &Option<Slot>, addr: u64, len: u64, kind: HwKind) -> bool {
    slot.is_some_and(|s| s.addr == addr && s.len == len && s.kind == kind)
}

impl DebugRegs {
    /// Sets a watchpoint (or, for `Execute`, a breakpoint) over `addr..addr+len`: all its pieces,
    /// or none of them when the registers run out.
    pub fn add(&mut self, addr: u64, len: u64, kind: HwKind) -> Result<(), HwError> {
        let len = if kind == HwKind::Execute { 1 } else { len };
        let wanted = pieces(addr, len)?;
        let mut next = self.slots;
        for (addr, len) in wanted {
            if addr.checked_add(len).is_none_or(|end| end > USER_END) {
                return Err(HwError::KernelAddress);
            }
            let slot = match next.iter().position(|s| holds(s, addr, len, kind)) {
                Some(i) => &mut next[i],
                None => next
                    .iter_mut()
                    .find(|s| s.is_none())
                    .ok_or(HwError::NoFreeSlot)?,
            };
            let users = slot.map_or(0, |s| s.users).saturating_add(1);
            *slot = Some(Slot {
                addr,
                len,
                kind,
                users,
            });
        }
        self.dirty |= next != self.slots;
        self.slots = next;
        Ok(())
    }

    /// Removes what `add` set for the same arguments; returns false when it was not set.
    pub fn remove(&mut self, addr: u64, len: u64, kind: HwKind) -> bool {
        let len = if kind == HwKind::Execute { 1 } else { len };
        let Ok(wanted) = pieces(addr, len) else {
            return false;
        };
        let mut next = self.slots;
        for (addr, len) in wanted {
            let Some(slot) = next.iter_mut().find(|s| holds(s, addr, len, kind)) else {
                return false;
            };
            *slot = slot.filter(|s| s.users > 1).map(|s| Slot {
                users: s.users - 1,
                ..s
            });
        }
        self.dirty |= next != self.slots;
        self.slots = next;
        true
    }

    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// Slots changed since the threads were last written.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// The same wanted slots for a new process (a fork child, whose registers start zeroed):
    /// written to it before it first runs.
    pub fn for_new_process(&self) -> DebugRegs {
        DebugRegs {
            slots: self.slots,
            dirty: !self.is_empty(),
        }
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

    /// After a SIGTRAP of any kind: which slot fired, if any, by its address and kind (DR6 is
    /// cleared for the next trap). No ptrace call while no slot is set.
    pub fn triggered(&self, tid: Pid) -> nix::Result<Option<(u64, HwKind)>> {
        if self.is_empty() {
            return Ok(None);
        }
        let dr6 = read_debugreg(tid, 6)?;
        if dr6 & DR6_SLOT_BITS == 0 {
            return Ok(None);
        }
        write_debugreg(tid, 6, 0)?;
        Ok(self.fired(dr6))
    }

    /// The slot DR6 names, a watchpoint before a breakpoint (gdbserver reports the data address
    /// when both fire at once).
    fn fired(&self, dr6: u64) -> Option<(u64, HwKind)> {
        let hit = |i: &usize| dr6 & (1 << i) != 0;
        let set = |i: usize| self.slots[i].map(|s| (s.addr, s.kind));
        let watch = (0..4)
            .filter(hit)
            .filter_map(set)
            .find(|(_, k)| *k != HwKind::Execute);
        watch.or_else(|| (0..4).filter(hit).find_map(set))
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
    fn fifth_slot_is_refused_and_nothing_half_set() {
        let mut regs = DebugRegs::default();
        assert_eq!(regs.add(0x1000, 0, HwKind::Write), Err(HwError::BadLength));
        assert_eq!(
            regs.add(u64::MAX, 2, HwKind::Write),
            Err(HwError::BadLength)
        );
        for i in 0..3 {
            regs.add(0x1000 + 8 * i, 8, HwKind::Write).unwrap();
        }
        let before = regs.slots;
        assert_eq!(
            regs.add(0x9000, 16, HwKind::Write),
            Err(HwError::NoFreeSlot)
        );
        assert_eq!(regs.slots, before, "no piece of a refused watchpoint stays");
        assert!(regs.remove(0x1000, 8, HwKind::Write));
        assert!(!regs.remove(0x1000, 8, HwKind::Write));
        assert!(regs.add(0x9000, 16, HwKind::Write).is_ok());
    }

    /// Issue 10 item 2: a 16-byte Z2 takes two registers (aligned 8 + 8), an unaligned range
    /// its aligned pieces, and a huge one is refused.
    #[test]
    fn item2_ranges_split_into_aligned_pieces() {
        assert_eq!(pieces(0x1000, 16), Ok(vec![(0x1000, 8), (0x1008, 8)]));
        assert_eq!(
            pieces(0x1003, 4),
            Ok(vec![(0x1003, 1), (0x1004, 2), (0x1006, 1)])
        );
        assert_eq!(
            pieces(0x1002, 8),
            Ok(vec![(0x1002, 2), (0x1004, 4), (0x1008, 2)])
        );
        let mut regs = DebugRegs::default();
        regs.add(0x1000, 16, HwKind::Write).unwrap();
        assert_eq!(regs.dr7() & 0xff, 0b0101);
        assert_eq!(
            regs.add(0x4000, u64::MAX / 2, HwKind::Write),
            Err(HwError::NoFreeSlot)
        );
        assert!(regs.remove(0x1000, 16, HwKind::Write));
        assert!(regs.is_empty());
    }

    #[test]
    fn shared_pieces_are_counted() {
        let mut regs = DebugRegs::default();
        regs.add(0x1000, 16, HwKind::Write).unwrap();
        regs.add(0x1000, 8, HwKind::Write).unwrap();
        assert_eq!(regs.slots.iter().flatten().count(), 2);
        assert!(regs.remove(0x1000, 16, HwKind::Write));
        assert_eq!(
            regs.fired(0b1),
            Some((0x1000, HwKind::Write)),
            "still set for the other"
        );
        assert!(regs.remove(0x1000, 8, HwKind::Write));
        assert!(regs.is_empty());
    }

    #[test]
    fn a_watch_hit_outranks_a_breakpoint_hit() {
        let mut regs = DebugRegs::default();
        regs.add(0x1000, 1, HwKind::Execute).unwrap();
        regs.add(0x2000, 4, HwKind::ReadWrite).unwrap();
        assert_eq!(regs.fired(0b11), Some((0x2000, HwKind::ReadWrite)));
        assert_eq!(regs.fired(0b01), Some((0x1000, HwKind::Execute)));
        assert_eq!(regs.fired(0x4000), None, "the step bit alone names no slot");
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
            Err(HwError::KernelAddress),
            "a range whose last bytes cross the end"
        );
        assert_eq!(
            regs.add(USER_END - 8, 8, HwKind::ReadWrite),
            Ok(()),
            "the last 8 bytes below the end"
        );
    }
}
