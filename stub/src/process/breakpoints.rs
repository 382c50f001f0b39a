//! Software breakpoints: the int3 table, applied lazily at resume and hidden from every read.
//!
//! gdb removes every breakpoint at each stop and inserts them all again on resume (`z0`/`Z0`
//! churn). Those packets only edit the wanted set; `sync` at resume writes the difference, so an
//! unchanged set costs no memory syscall at all. Between stops, int3 bytes that are still in the
//! target are replaced by the original bytes in every read (`shadow`).

use std::collections::{BTreeMap, BTreeSet};

pub const INT3: u8 = 0xcc;

/// What `sync` must write: `(address, byte)` pairs.
pub type Patch = Vec<(u64, u8)>;

/// Cloned for a forked child, whose memory holds the same int3 bytes (`inferior/fork.rs`).
#[derive(Debug, Default, Clone)]
pub struct SwBreakpoints {
    /// The addresses the client last asked for.
    wanted: BTreeSet<u64>,
    /// The addresses holding an int3 in the target right now, with the byte it replaced.
    inserted: BTreeMap<u64, u8>,
    /// The addresses the last sync took an int3 out of, with their original bytes. A thread that
    /// executed one of them just before it was stopped still has the SIGTRAP queued and reports
    /// it after the resume. And gdb, stepping over a breakpoint, removes it for one step and
    /// inserts it again: the original byte is known then, with no read.
    just_removed: BTreeMap<u64, u8>,
    /// Every address an int3 of ours was taken out of, with the byte it replaced, bounded to
    /// [`RETIRED_MAX`] entries. A thread's SIGTRAP can stay queued across several resumes (behind
    /// a pending interrupt, or while the thread is held by scheduler locking); reported after the
    /// breakpoint is gone, it is still ours and its pc must be rewound, or the thread resumes in
    /// the middle of an instruction (issue 11: the packet fuzzer's SIGSEGV after detach).
    retired: BTreeMap<u64, u8>,
}

/// How many taken-out breakpoint addresses are remembered for late SIGTRAPs.
const RETIRED_MAX: usize = 256;

impl SwBreakpoints {
    pub fn add(&mut self, addr: u64) {
        self.wanted.insert(addr);
    }

    pub fn remove(&mut self, addr: u64) -> bool {
        self.wanted.remove(&addr)
    }

    /// Whether the byte under `addr` is known without a read (inserted, or just removed).
    pub fn knows_original(&self, addr: u64) -> bool {
        self.inserted.contains_key(&addr) || self.just_removed.contains_key(&addr)
    }

    /// Whether an int3 of ours was taken out of `addr` (at the last sync or earlier) over a byte
    /// that is not itself an int3: a SIGTRAP from `addr` is then a late hit of ours.
    pub fn was_removed(&self, addr: u64) -> bool {
        self.just_removed.contains_key(&addr)
            || self.retired.get(&addr).is_some_and(|&orig| orig != INT3)
    }

    fn retire(&mut self, addr: u64, orig: u8) {
        if self.retired.len() >= RETIRED_MAX && !self.retired.contains_key(&addr) {
            self.retired.pop_first();
        }
        self.retired.insert(addr, orig);
    }

    /// Whether an int3 of ours sits at `addr` in the target now.
    pub fn is_inserted(&self, addr: u64) -> bool {
        self.inserted.contains_key(&addr)
    }

    /// Plans the writes that make the target match the wanted set. `read_original` reads one byte
    /// of real memory for a breakpoint about to be inserted; an address it cannot read is skipped
    /// (the client gets its error from the next `Z0` instead of a corrupted target).
    pub fn plan_sync(&mut self, mut read_original: impl FnMut(u64) -> Option<u8>) -> Patch {
        let mut patch = Vec::new();
        let fresh: Vec<u64> = self
            .wanted
            .iter()
            .filter(|a| !self.inserted.contains_key(a))
            .copied()
            .collect();
        for addr in fresh {
            let known = self.just_removed.get(&addr).copied();
            if let Some(orig) = known.or_else(|| read_original(addr)) {
                self.retired.remove(&addr);
                self.inserted.insert(addr, orig);
                patch.push((addr, INT3));
            }
        }
        let stale: Vec<u64> = self
            .inserted
            .keys()
            .filter(|a| !self.wanted.contains(a))
            .copied()
            .collect();
        self.just_removed.clear();
        for addr in stale {
            if let Some(orig) = self.inserted.remove(&addr) {
                patch.push((addr, orig));
                self.just_removed.insert(addr, orig);
                self.retire(addr, orig);
            }
        }
        patch
    }

    /// The write of `byte` planned by `plan_sync` at `addr` failed: an int3 not put in is not
    /// inserted; an original not put back leaves the int3 inserted, to come out later.
    pub fn write_failed(&mut self, addr: u64, byte: u8) {
        if self.inserted.remove(&addr).is_none() {
            self.just_removed.remove(&addr);
            self.inserted.insert(addr, byte);
        }
    }

    /// Plans the writes that take every int3 out of the target (detach, kill, disconnect).
    pub fn plan_remove_all(&mut self) -> Patch {
        self.wanted.clear();
        let patch: Patch = std::mem::take(&mut self.inserted).into_iter().collect();
        for &(addr, orig) in &patch {
            self.retire(addr, orig);
        }
        patch
    }

    /// Every inserted breakpoint with the byte it replaced.
    pub fn inserted_originals(&self) -> Vec<(u64, u8)> {
        self.inserted.iter().map(|(&a, &b)| (a, b)).collect()
    }

    /// Replaces our int3 bytes inside `buf` (read from `addr`) with the original bytes.
    pub fn shadow(&self, addr: u64, buf: &mut [u8]) {
        let end = addr.saturating_add(buf.len() as u64);
        for (&bp, &orig) in self.inserted.range(addr..end) {
            buf[(bp - addr) as usize] = orig;
        }
    }

    /// What to write for the client's `data` at `addr`: the int3 bytes stay in place.
    pub fn keep_int3s(&self, addr: u64, data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        let end = addr.saturating_add(data.len() as u64);
        for &bp in self.inserted.range(addr..end).map(|(bp, _)| bp) {
            out[(bp - addr) as usize] = INT3;
        }
        out
    }

    /// The client's `written` bytes reached the target at `addr` (a failed write's prefix
    /// only): those under an inserted, just removed or retired breakpoint become its original byte.
    pub fn note_written(&mut self, addr: u64, written: &[u8]) {
        let end = addr.saturating_add(written.len() as u64);
        let originals = self.inserted.range_mut(addr..end);
        let removed = self.just_removed.range_mut(addr..end);
        for (&bp, orig) in originals
            .chain(removed)
            .chain(self.retired.range_mut(addr..end))
        {
            *orig = written[(bp - addr) as usize];
        }
    }

    /// Nothing of ours is in memory any more (the process is gone).
    pub fn forget_inserted(&mut self) {
        self.inserted.clear();
        self.just_removed.clear();
        self.retired.clear();
    }

    /// The program was replaced (exec): nothing of ours is in the new image, and the old
    /// addresses mean nothing there (the client plants its breakpoints again).
    pub fn forget_all(&mut self) {
        self.forget_inserted();
        self.wanted.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_set_plans_no_write() {
        let mut bps = SwBreakpoints::default();
        bps.add(0x1000);
        assert_eq!(bps.plan_sync(|_| Some(0x55)), vec![(0x1000, INT3)]);
        // gdb's churn: remove at the stop, insert again before resuming.
        assert!(bps.remove(0x1000));
        bps.add(0x1000);
        assert!(bps.plan_sync(|_| panic!("no read expected")).is_empty());
    }

    #[test]
    fn removed_breakpoint_restores_original() {
        let mut bps = SwBreakpoints::default();
        bps.add(0x1000);
        bps.plan_sync(|_| Some(0x55));
        bps.remove(0x1000);
        assert_eq!(bps.plan_sync(|_| None), vec![(0x1000, 0x55)]);
        assert!(!bps.is_inserted(0x1000));
        assert!(bps.was_removed(0x1000));
        assert!(bps.knows_original(0x1000));
        bps.plan_sync(|_| None);
        assert!(
            !bps.knows_original(0x1000),
            "only the last sync's originals are known"
        );
    }

    /// Issue 11 (packet fuzzer): a SIGTRAP queued behind an interrupt is reported resumes after
    /// its breakpoint was taken out; it is still ours (rewound), unless the byte under the
    /// breakpoint was the program's own int3, and a breakpoint inserted again is no longer retired.
    #[test]
    fn issue11_late_trap_of_a_long_removed_breakpoint_is_ours() {
        let mut bps = SwBreakpoints::default();
        bps.add(0x1000);
        bps.add(0x2000);
        bps.plan_sync(|a| Some(if a == 0x2000 { INT3 } else { 0x55 }));
        bps.remove(0x1000);
        bps.remove(0x2000);
        bps.plan_sync(|_| None);
        for _ in 0..3 {
            bps.plan_sync(|_| None);
        }
        assert!(bps.was_removed(0x1000), "a late hit three resumes on");
        assert!(!bps.was_removed(0x2000), "the program's own int3");
        assert!(!bps.was_removed(0x3000));
        for i in 0..RETIRED_MAX as u64 + 10 {
            bps.add(0x10_0000 + i);
        }
        bps.plan_sync(|_| Some(0x90));
        let patch = bps.plan_remove_all();
        assert_eq!(patch.len(), RETIRED_MAX + 10);
        assert!(bps.retired.len() <= RETIRED_MAX, "bounded");
        assert!(bps.was_removed(0x10_0000 + RETIRED_MAX as u64 + 9));
    }

    #[test]
    fn reads_never_show_int3_and_writes_keep_it() {
        let mut bps = SwBreakpoints::default();
        bps.add(0x1002);
        bps.plan_sync(|_| Some(0x90));
        let mut buf = [1, 2, INT3, 4];
        bps.shadow(0x1000, &mut buf);
        assert_eq!(buf, [1, 2, 0x90, 4]);
        let written = bps.keep_int3s(0x1001, &[7, 8, 9]);
        assert_eq!(written, vec![7, INT3, 9]);
        bps.note_written(0x1001, &[7, 8, 9]);
        assert_eq!(bps.plan_remove_all(), vec![(0x1002, 8)]);
    }

    #[test]
    fn failed_write_keeps_the_original() {
        let mut bps = SwBreakpoints::default();
        bps.add(0x1002);
        bps.plan_sync(|_| Some(0x90));
        // Only the first byte reached the target: the breakpoint's original is unchanged.
        bps.note_written(0x1001, &[7]);
        assert_eq!(bps.plan_remove_all(), vec![(0x1002, 0x90)]);
    }

    #[test]
    fn stepping_over_a_breakpoint_reinserts_it_without_a_read() {
        let mut bps = SwBreakpoints::default();
        bps.add(0x1000);
        bps.plan_sync(|_| Some(0x55));
        bps.remove(0x1000);
        assert_eq!(
            bps.plan_sync(|_| None),
            vec![(0x1000, 0x55)],
            "removed for the step"
        );
        bps.add(0x1000);
        assert_eq!(
            bps.plan_sync(|_| panic!("no read expected")),
            vec![(0x1000, INT3)]
        );
        bps.remove(0x1000);
        assert_eq!(
            bps.plan_sync(|_| None),
            vec![(0x1000, 0x55)],
            "the original is kept"
        );
    }

    #[test]
    fn failed_sync_writes_leave_the_table_as_the_target_is() {
        let mut bps = SwBreakpoints::default();
        bps.add(0x1000);
        bps.plan_sync(|_| Some(0x55));
        bps.remove(0x1000);
        bps.add(0x2000);
        let patch = bps.plan_sync(|_| Some(0x66));
        assert_eq!(patch, vec![(0x2000, INT3), (0x1000, 0x55)]);
        for (addr, byte) in patch {
            bps.write_failed(addr, byte);
        }
        assert!(!bps.is_inserted(0x2000), "the int3 never got in");
        assert!(bps.is_inserted(0x1000), "the int3 is still in");
        assert_eq!(bps.plan_remove_all(), vec![(0x1000, 0x55)]);
    }

    #[test]
    fn unreadable_address_is_not_inserted() {
        let mut bps = SwBreakpoints::default();
        bps.add(0xdead);
        assert!(bps.plan_sync(|_| None).is_empty());
        assert!(!bps.is_inserted(0xdead));
    }
}
