//! Issue 13: the listing at a next stop, in place, on synthetic memory (a real Go binary, g
//! structs and stacks made up in `SnapshotMemory`): goroutines whose g struct did not change
//! keep their decoded fields and frames without their stacks being read again, a changed one is
//! decoded and walked again, an exited one leaves the list and a new one joins it; and walks
//! cut at the first shown frame (`Depth::FirstShown`) are redone in full when asked for.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

mod common;

use common::{fake_g, pc_with_frame};
use goruntime::{
    list_goroutines_since, unwind_goroutines, Depth, GoBinary, Goroutine, ListOptions, ProcessMemo,
};
use memcache::{MemError, MemorySource, SnapshotMemory};

fn binary() -> GoBinary {
    let tcs = common::toolchains();
    let (ver, go) = tcs.last().expect("no Go toolchain installed");
    let exe = common::build(go, ver, common::Flavor::Default).expect("build");
    GoBinary::load(&exe).unwrap()
}

/// Stacks live at `STACKS + i * STACK`; g structs at `GS + i * 0x1000`.
const STACKS: u64 = 0x7300_0000;
const STACK: u64 = 0x2000;
const GS: u64 = 0x7100_0000;
const ALLGS: u64 = 0x7000_0000;

/// A memory source that counts the bytes read inside the stacks.
struct Counting {
    mem: SnapshotMemory,
    stack_bytes: usize,
}

impl MemorySource for Counting {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        let n = self.mem.read(addr, buf)?;
        if (STACKS..STACKS + 16 * STACK).contains(&addr) {
            self.stack_bytes += n;
        }
        Ok(n)
    }
}

/// A waiting g parked at `pc` on stack `i` (its return address 0 ends the walk), waiting for
/// reason `reason`.
fn parked_g(bin: &GoBinary, goid: u64, pc: u64, i: u64, reason: u8) -> Vec<u8> {
    let (lo, hi) = (STACKS + i * STACK, STACKS + (i + 1) * STACK);
    let mut g = fake_g(bin, goid, pc, lo + 0x1000, lo, hi);
    g[bin.layout().g_waitreason as usize] = reason;
    g
}

/// allgs → the g structs `gs` (goid, stack index), each at its own slot.
fn memory(bin: &GoBinary, gs: &[(u64, u64)], pc: u64) -> Counting {
    let loc = bin.allgs_location().expect("allgs");
    let mut mem = SnapshotMemory::new();
    let n = gs.len() as u64;
    let hdr: Vec<u8> = [ALLGS, n, n].iter().flat_map(|w| w.to_le_bytes()).collect();
    mem.add_region(loc.allgs, hdr);
    mem.add_region(loc.allglen, n.to_le_bytes().to_vec());
    let ptrs: Vec<u8> = gs
        .iter()
        .flat_map(|&(_, i)| (GS + i * 0x1000).to_le_bytes())
        .collect();
    mem.add_region(ALLGS, ptrs);
    for &(goid, i) in gs {
        mem.add_region(GS + i * 0x1000, parked_g(bin, goid, pc, i, 2));
        mem.add_region(STACKS + i * STACK, vec![0u8; STACK as usize]);
    }
    Counting {
        mem,
        stack_bytes: 0,
    }
}

fn opts() -> ListOptions {
    ListOptions {
        now_nanotime: None,
        unwind: false,
    }
}

fn unwind(
    bin: &GoBinary,
    memo: &ProcessMemo,
    mem: &mut Counting,
    list: &mut [Goroutine],
    d: Depth,
) {
    let mut all: Vec<&mut Goroutine> = list.iter_mut().collect();
    unwind_goroutines(bin, memo, mem, &mut all, &[], d);
}

#[test]
fn issue13_next_stop_reuses_unchanged_goroutines_in_place() {
    let bin = binary();
    let pc = pc_with_frame(&bin);
    let memo = ProcessMemo::default();
    // First stop: goroutines 1, 2, 3 on stacks 0, 1, 2.
    let mut mem = memory(&bin, &[(1, 0), (2, 1), (3, 2)], pc);
    let mut list = list_goroutines_since(&bin, &memo, &mut mem, &[], &opts(), Vec::new()).unwrap();
    assert_eq!(list.iter().map(|g| g.goid).collect::<Vec<_>>(), [1, 2, 3]);
    unwind(&bin, &memo, &mut mem, &mut list, Depth::FirstShown(1));
    assert!(mem.stack_bytes > 0);
    for g in &list {
        assert_eq!(g.top_only, Some(1), "{g:?}");
        assert_eq!(g.frames.len(), 1);
        assert_eq!(&*g.frames[0].function, "main.recurse");
        assert_eq!(g.innermost(), Some((g.pc, g.sp)));
    }
    let wait = list[0].wait_reason.clone().expect("a wait reason");

    // Next stop: 1 unchanged, 2 exited (its slot now holds goroutine 5 on the same stack), 3
    // unchanged, 4 new on stack 3.
    let mut mem = memory(&bin, &[(1, 0), (5, 1), (3, 2), (4, 3)], pc);
    let mut list = list_goroutines_since(&bin, &memo, &mut mem, &[], &opts(), list).unwrap();
    assert_eq!(
        list.iter().map(|g| g.goid).collect::<Vec<_>>(),
        [1, 3, 4, 5]
    );
    // Unchanged goroutines keep their walk; the interned wait reason is shared.
    for g in list.iter().filter(|g| g.goid == 1 || g.goid == 3) {
        assert_eq!(g.top_only, Some(1));
        assert_eq!(g.frames.len(), 1);
        assert!(std::sync::Arc::ptr_eq(
            g.wait_reason.as_ref().unwrap(),
            &wait
        ));
    }
    // The changed and the new ones are decoded but not yet walked.
    for g in list.iter().filter(|g| g.goid == 4 || g.goid == 5) {
        assert!(g.frames.is_empty() && g.error.is_none(), "{g:?}");
    }
    unwind(&bin, &memo, &mut mem, &mut list, Depth::FirstShown(1));
    let per_walk = mem.stack_bytes / 2;
    assert!(per_walk > 0, "goroutines 4 and 5 read their stacks");
    assert!(list.iter().all(|g| g.top_only == Some(1)));

    // Asking again for the same depth walks nothing; a full walk redoes every cut walk.
    mem.stack_bytes = 0;
    unwind(&bin, &memo, &mut mem, &mut list, Depth::FirstShown(1));
    assert_eq!(mem.stack_bytes, 0);
    unwind(&bin, &memo, &mut mem, &mut list, Depth::Full);
    assert!(mem.stack_bytes > 0);
    for g in &list {
        assert_eq!(g.top_only, None, "{g:?}");
        assert_eq!(&*g.frames[0].function, "main.recurse");
        assert!(g.error.is_none(), "{g:?}");
    }
    // A full walk stands for any depth.
    mem.stack_bytes = 0;
    unwind(&bin, &memo, &mut mem, &mut list, Depth::FirstShown(2));
    assert_eq!(mem.stack_bytes, 0);
}
