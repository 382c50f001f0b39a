//! The walk through a signal frame, on a synthetic snapshot: a thread stopped at the first
//! instruction of `runtime.sigtramp` (as the kernel enters it: SP at `rt_sigframe.pretcode`, the
//! ucontext after it) continues at the interrupted rip/rsp/rbp of the ucontext's mcontext —
//! here `main.busy` at its entry, called from `runtime.goexit`. Also through the restorer
//! (`sigreturn`, SP at the ucontext) and into a PIE moved by a load bias; `signal_crossing` and
//! `signal_registers` find the frame and the registers the thread view shows.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

mod common;
use common::{build, toolchains, Flavor};
use goruntime::unwind::{signal_crossing, signal_registers, unwind_thread};
use goruntime::{GoBinary, GoroutineError, ThreadState};
use memcache::SnapshotMemory;

const SIGNAL_STACK: u64 = 0x7000_0000;
const GOROUTINE_STACK: u64 = 0xc000_1000;

/// A signal stack holding an rt_sigframe at `frame` (pretcode, then the ucontext), and a
/// goroutine stack whose top word returns into goexit.
fn snapshot(bin: &GoBinary, frame: u64, interrupted_pc: u64) -> SnapshotMemory {
    let mut mem = SnapshotMemory::new();
    let mut sig = vec![0u8; 0x1000];
    let at = (frame - SIGNAL_STACK) as usize;
    let restorer = bin
        .func_entry("runtime.sigreturn__sigaction")
        .or(bin.func_entry("runtime.sigreturn"));
    sig[at..at + 8].copy_from_slice(&restorer.unwrap().to_le_bytes());
    let mc = at + 8 + 40;
    sig[mc + 80..mc + 88].copy_from_slice(&0x1234u64.to_le_bytes()); // rbp
    sig[mc + 120..mc + 128].copy_from_slice(&GOROUTINE_STACK.to_le_bytes()); // rsp
    sig[mc + 128..mc + 136].copy_from_slice(&interrupted_pc.to_le_bytes()); // rip
    mem.add_region(SIGNAL_STACK, sig);
    let goexit = bin.func_entry("runtime.goexit").unwrap() + 1;
    let mut gs = vec![0u8; 0x100];
    gs[..8].copy_from_slice(&goexit.to_le_bytes());
    mem.add_region(GOROUTINE_STACK, gs);
    mem
}

fn names(frames: &[goruntime::Frame]) -> Vec<&str> {
    frames.iter().map(|f| &*f.function).collect()
}

#[test]
fn walk_crosses_the_signal_frame() {
    let tcs = toolchains();
    assert!(!tcs.is_empty(), "no Go toolchain installed");
    for (ver, go) in [tcs.first().unwrap(), tcs.last().unwrap()] {
        for (flavor, bias) in [(Flavor::Default, 0u64), (Flavor::Pie, 0x5555_0000_0000)] {
            let bin = GoBinary::load(&build(go, ver, flavor).unwrap())
                .unwrap()
                .relocated(bias);
            let busy = bin.func_entry("main.busy").unwrap();
            let frame = SIGNAL_STACK + 0x800;
            let mut mem = snapshot(&bin, frame, busy);
            let sigtramp = ThreadState {
                tid: 1,
                rip: bin.func_entry("runtime.sigtramp").unwrap(),
                rsp: frame,
                rbp: 0,
                fs_base: 0,
            };
            let (frames, err) = unwind_thread(&bin, &mut mem, &sigtramp);
            assert_eq!(err, None, "{ver} {flavor:?}");
            assert_eq!(
                names(&frames),
                ["runtime.sigtramp", "main.busy", "runtime.goexit"]
            );
            assert_eq!(
                (frames[1].pc, frames[1].sp, frames[1].bp),
                (busy, GOROUTINE_STACK, 0x1234)
            );
            // The thread view's question: where the goroutine's own frames start, and the
            // registers the kernel saved for them.
            let (after, uc) = signal_crossing(&frames).unwrap();
            assert_eq!((after, uc), (1, frame + 8));
            let saved = signal_registers(&mut mem, uc).unwrap();
            assert_eq!(
                (saved.rip, saved.rsp, saved.rbp, saved.rax),
                (busy, GOROUTINE_STACK, 0x1234, 0)
            );
            assert_eq!(signal_crossing(&frames[1..]), None);

            let restorer = ThreadState {
                rip: bin
                    .func_entry("runtime.sigreturn__sigaction")
                    .or(bin.func_entry("runtime.sigreturn"))
                    .unwrap(),
                rsp: frame + 8,
                ..sigtramp
            };
            let (frames, err) = unwind_thread(&bin, &mut mem, &restorer);
            assert_eq!(err, None, "{ver} {flavor:?}");
            assert_eq!(&names(&frames)[1..], ["main.busy", "runtime.goexit"]);
            assert_eq!(signal_crossing(&frames), Some((1, frame + 8)));

            // A ucontext outside readable memory is an error, not garbage frames.
            let lost = ThreadState {
                rsp: SIGNAL_STACK + 0xff8,
                ..sigtramp
            };
            let (_, err) = unwind_thread(&bin, &mut mem, &lost);
            assert!(
                matches!(err, Some(GoroutineError::UnreadableSignalContext { .. })),
                "{err:?}"
            );
        }
    }
}
