//! Bad input: hostile or broken target memory and binaries must give bounded time, error
//! entries or typed errors — never a panic. Uses a real Go binary (newest installed toolchain)
//! with synthetic memory (`SnapshotMemory`).
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

mod common;

use common::{fake_g, pc_with_frame};
use goruntime::{list_goroutines_with, GoBinary, GoError, GoroutineError, ListOptions};
use memcache::{MemError, SnapshotMemory};
use std::time::{Duration, Instant};

fn binary() -> (GoBinary, Vec<u8>) {
    let tcs = common::toolchains();
    let (ver, go) = tcs.last().expect("no Go toolchain installed");
    let exe = common::build(go, ver, common::Flavor::Default).expect("build");
    let bytes = std::fs::read(&exe).unwrap();
    (GoBinary::load(&exe).unwrap(), bytes)
}

fn opts() -> ListOptions {
    ListOptions {
        now_nanotime: None,
        unwind: true,
    }
}

/// Memory with allgs → `ptrs` (allglen = ptrs.len() unless overridden).
fn allgs_memory(bin: &GoBinary, ptrs: &[u64], allglen: Option<u64>) -> SnapshotMemory {
    let loc = bin.allgs_location().expect("allgs");
    let mut mem = SnapshotMemory::new();
    let arr = 0x7000_0000u64;
    let n = ptrs.len() as u64;
    let mut hdr = Vec::new();
    for w in [arr, n, n] {
        hdr.extend_from_slice(&w.to_le_bytes());
    }
    mem.add_region(loc.allgs, hdr);
    mem.add_region(loc.allglen, allglen.unwrap_or(n).to_le_bytes().to_vec());
    mem.add_region(arr, ptrs.iter().flat_map(|p| p.to_le_bytes()).collect());
    mem
}

#[test]
fn huge_allglen_is_an_error_quickly() {
    let (bin, _) = binary();
    let mut mem = allgs_memory(&bin, &[0x1000], Some(3_000_000_000));
    let t0 = Instant::now();
    let r = list_goroutines_with(&bin, &mut mem, &[], &opts());
    assert!(matches!(r, Err(GoError::Corrupt { .. })), "{r:?}");
    assert!(t0.elapsed() < Duration::from_secs(1));
}

#[test]
fn unmapped_and_short_g_become_error_entries() {
    let (bin, _) = binary();
    let good = 0x7100_0000u64;
    let short = 0x7200_0000u64;
    let pc = pc_with_frame(&bin);
    let mut mem = allgs_memory(&bin, &[0xdead_0000, short, good], None);
    mem.add_region(
        good,
        fake_g(&bin, 7, 0xdead_beef, 0x7300_0000, 0x7300_0000, 0x7300_1000),
    );
    mem.add_region(short, fake_g(&bin, 8, pc, 0, 0, 0)[..40].to_vec());
    let gs = list_goroutines_with(&bin, &mut mem, &[], &opts()).unwrap();
    assert_eq!(gs.len(), 3, "{gs:#?}");
    let bad: Vec<_> = gs.iter().filter(|g| g.goid == 0).collect();
    assert_eq!(bad.len(), 2);
    assert!(
        bad.iter().all(|g| matches!(
            g.error.as_deref(),
            Some(e @ GoroutineError::Mem(MemError::Unreadable { .. })) if e.to_string().contains("0x")
        )),
        "{bad:#?}"
    );
    let g7 = gs.iter().find(|g| g.goid == 7).unwrap();
    assert!(
        g7.error.as_deref() == Some(&GoroutineError::UnknownPc { pc: 0xdead_beef }),
        "{g7:?}"
    );
    assert!(g7.frames.is_empty());
    // Rendering an error entry does not panic either.
    for g in &gs {
        let _ = goruntime::render_traceback(&bin, g, goruntime::Policy::System);
        let _ = goruntime::header_line(g);
    }
}

#[test]
fn cyclic_and_endless_stacks_are_bounded() {
    let (bin, _) = binary();
    let pc = pc_with_frame(&bin);
    // Every return address points back into the same function: a "cycle" that only the stack
    // bound (first g) or the frame cap (second g, unbounded stack) ends.
    let stack = 0x7400_0000u64;
    let size = 4 << 20;
    let fill: Vec<u8> = (0..size / 8).flat_map(|_| pc.to_le_bytes()).collect();
    let g1 = 0x7100_0000u64;
    let g2 = 0x7100_1000u64;
    let mut mem = allgs_memory(&bin, &[g1, g2], None);
    mem.add_region(stack, fill);
    mem.add_region(g1, fake_g(&bin, 1, pc, stack, stack, stack + 0x10000));
    mem.add_region(g2, fake_g(&bin, 2, pc, stack, 0, u64::MAX));
    let t0 = Instant::now();
    let gs = list_goroutines_with(&bin, &mut mem, &[], &opts()).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    let a = &gs[0];
    assert!(
        matches!(a.error.as_deref(), Some(GoroutineError::LeavesStack { .. })),
        "{:?}",
        a.error
    );
    let b = &gs[1];
    assert!(b.error.is_some());
    assert!(
        b.frames.len() <= 2 * goruntime::unwind::MAX_PHYSICAL_FRAMES + 10,
        "{}",
        b.frames.len()
    );
    let _ = goruntime::render_traceback(&bin, b, goruntime::Policy::All);
}

#[test]
fn truncated_and_corrupted_binaries_never_panic() {
    let (bin, bytes) = binary();
    for i in 1..40 {
        let cut = bytes.len() * i / 40;
        let _ = GoBinary::parse(bytes[..cut].to_vec());
    }
    // Scribble over the pclntab (keep the header) and symbolize everywhere.
    let t = bin.pclntab();
    let (lo, hi) = t.pc_range();
    let sec_off = bin
        .image()
        .section(".gopclntab")
        .and_then(|s| s.file_off)
        .unwrap() as usize;
    let len = t.data().len();
    for (k, step) in [(1usize, 97usize), (2, 13)] {
        let mut b = bytes.clone();
        let mut x = 0x1234_5678u32.wrapping_mul(k as u32);
        for i in (sec_off + 0x48..sec_off + len).step_by(step) {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            b[i] = (x >> 16) as u8;
        }
        if let Ok(bad) = GoBinary::parse(b) {
            for pc in (lo..hi).step_by(((hi - lo) / 5000).max(1) as usize) {
                let _ = goruntime::symbolize(&bad, pc);
            }
        }
    }
}

#[test]
fn not_go_and_unsupported_version() {
    let me = std::env::current_exe().unwrap();
    let e = GoBinary::load(&me).unwrap_err();
    assert!(matches!(e, GoError::NotGo), "{e:?}");
    assert_eq!(e.to_string(), "not a Go program");
    let (bin, mut bytes) = binary();
    let v = bin.version().raw.clone();
    // "go1.27.3" -> "go1.18.3": same length, patched wherever the file spells the version.
    let minor = bin.version().minor.to_string();
    let patched = v.replacen(&format!("go1.{minor}"), "go1.18", 1);
    assert_eq!(patched.len(), v.len());
    let mut n = 0;
    let mut i = 0;
    while i + v.len() <= bytes.len() {
        if bytes[i..i + v.len()] == *v.as_bytes() {
            bytes[i..i + v.len()].copy_from_slice(patched.as_bytes());
            n += 1;
        }
        i += 1;
    }
    assert!(n > 0);
    let e = GoBinary::parse(bytes).unwrap_err();
    assert!(matches!(e, GoError::UnsupportedVersion { .. }), "{e:?}");
    assert!(e.to_string().contains("Go 1.19 to 1.27"), "{e}");
}

/// `unwind.rs:67` gave `runtime.mcall`'s frame the fp `sp + 8` unchecked: a thread on g0 whose
/// sp is at the top of the address space overflowed it.
#[test]
fn unwind_rs_67_mcall_at_the_top_of_memory_does_not_overflow() {
    let (bin, _) = binary();
    let l = bin.layout().clone();
    let (g, m, g0, tls) = (
        0x7100_0000u64,
        0x7500_0000u64,
        0x7600_0000u64,
        0x7700_0000u64,
    );
    let tid = 4242;
    let mut mem = allgs_memory(&bin, &[g], None);
    let mut gb = fake_g(&bin, 1, 0, 0, 0x7300_0000, 0x7300_1000);
    let put = |b: &mut Vec<u8>, off: u64, v: u64| {
        b[off as usize..off as usize + 8].copy_from_slice(&v.to_le_bytes())
    };
    gb[l.g_atomicstatus as usize..l.g_atomicstatus as usize + 4]
        .copy_from_slice(&2u32.to_le_bytes());
    put(&mut gb, l.g_m, m);
    mem.add_region(g, gb);
    let mut mb = vec![0u8; 4096];
    put(&mut mb, l.m_procid, tid as u64);
    put(&mut mb, l.m_curg, g);
    put(&mut mb, l.m_g0, g0);
    put(&mut mb, l.m_id, 1);
    mem.add_region(m, mb);
    mem.add_region(g0, fake_g(&bin, 0, 0, 0, u64::MAX - 0xffff, u64::MAX));
    mem.add_region(tls, g0.to_le_bytes().to_vec());
    let thread = goruntime::ThreadState {
        tid,
        rip: bin.func_entry("runtime.mcall").unwrap(),
        rsp: u64::MAX - 3,
        rbp: 0,
        fs_base: tls + 8,
    };
    let gs = list_goroutines_with(&bin, &mut mem, &[thread], &opts()).unwrap();
    assert_eq!(gs.len(), 1, "{gs:#?}");
    assert_eq!(gs[0].thread, Some(tid), "{gs:#?}");
    assert!(
        gs[0].frames.iter().any(|f| &*f.function == "runtime.mcall"),
        "{gs:#?}"
    );
}
