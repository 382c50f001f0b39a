//! Unit tests of [`super`] (regs.rs) on a real traced child, kept apart to hold the module under the size guide.

use super::*;
use nix::sys::signal::{raise, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

#[test]
fn tag_word_conversion() {
    let mut xs = XState::synthetic(false);
    assert_eq!(xs.ftag(), 0xffff, "all empty");
    // ST0 = 1.0 (valid), ST1 = +0 (zero), ST2 = +inf (special), with TOP = 5.
    let one = [0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f];
    let inf = [0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x7f];
    xs.set_st(0, &one);
    xs.set_st(1, &[0; 10]);
    xs.set_st(2, &inf);
    xs.set_fsw(5 << 11);
    // Physical registers 5, 6, 7 hold ST0, ST1, ST2.
    // Tags: phys 0..4 empty (3), phys 5 valid (0), 6 zero (1), 7 special (2).
    let full: u16 = 0x3ff | (1 << 12) | (2 << 14);
    xs.set_ftag(full);
    assert_eq!(xs.ftw_abridged(), 0b1110_0000);
    assert_eq!(xs.ftag(), full);
}

#[test]
fn setters_mark_components_in_use() {
    let mut xs = XState::synthetic(true);
    assert!(xs.has_avx());
    xs.set_xmm(3, &[7; 16]);
    assert_eq!(xs.u64_at(XSTATE_BV_OFFSET), XFEATURE_SSE);
    assert!(xs.set_ymmh(3, &[9; 16]));
    assert_eq!(xs.u64_at(XSTATE_BV_OFFSET), XFEATURE_SSE | XFEATURE_AVX);
    assert_eq!(xs.ymmh(3), Some([9; 16]));
    // Writing an unchanged value leaves XSTATE_BV alone.
    xs.set_fcw(FCW_INIT);
    assert_eq!(xs.u64_at(XSTATE_BV_OFFSET) & XFEATURE_X87, 0);
    let mut fx = XState::synthetic(false);
    assert!(!fx.set_ymmh(0, &[1; 16]));
    assert_eq!(fx.ymmh(0), None);
}

/// Runs `f` against a forked child stopped (SIGSTOP) under ptrace, then
/// kills the child — also when `f` panics.
pub(crate) fn with_stopped_child(f: impl FnOnce(Pid) + std::panic::UnwindSafe) {
    // SAFETY: the child only calls async-signal-safe functions
    // (ptrace, raise, _exit).
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            if ptrace::traceme().is_err() {
                unsafe { libc::_exit(1) };
            }
            let _ = raise(Signal::SIGSTOP);
            unsafe { libc::_exit(0) };
        }
        ForkResult::Parent { child } => {
            let st = waitpid(child, None).expect("waitpid");
            assert_eq!(st, WaitStatus::Stopped(child, Signal::SIGSTOP));
            let result = std::panic::catch_unwind(|| f(child));
            let _ = ptrace::kill(child);
            let _ = waitpid(child, None);
            if let Err(e) = result {
                std::panic::resume_unwind(e);
            }
        }
    }
}

#[test]
fn live_child_registers() {
    with_stopped_child(|child| {
        let gprs = get_gprs(child).expect("getregs");
        assert_ne!(gprs.rip, 0);
        assert_ne!(gprs.fs_base, 0, "glibc sets up TLS");
        set_gprs(child, &gprs).expect("setregs");

        let mut xs = get_xstate(child).expect("xstate");
        assert_eq!(xs.layout, Layout::Xsave);
        assert_eq!(xs.has_avx(), cpu_has_avx());
        assert_eq!(xs.mxcsr() & 0xffff_0000, 0);
        let val: [u8; 16] = core::array::from_fn(|i| 0xa0 + i as u8);
        xs.set_xmm(0, &val);
        let yval = [0x5a; 16];
        let wrote_ymm = xs.set_ymmh(0, &yval);
        set_xstate(child, &xs).expect("set xstate");
        let back = get_xstate(child).expect("xstate again");
        assert_eq!(back.xmm(0), val);
        if wrote_ymm {
            assert_eq!(back.ymmh(0), Some(yval));
        }
        // The FXSAVE fallback path works too, and agrees.
        let fx = get_fxsave(child).expect("getfpregs");
        assert_eq!(fx.xmm(0), val);
        assert_eq!(fx.fcw(), back.fcw());
        assert_eq!(fx.ftag(), back.ftag());
    });
}

#[test]
fn init_components_are_normalised() {
    let mut xs = XState::synthetic(true);
    xs.buf[XMM_OFFSET..YMMH_END].fill(0xee);
    xs.buf[ST_OFFSET] = 0xee;
    xs.buf[FCW_OFFSET] = 0;
    xs.put(XSTATE_BV_OFFSET, &XFEATURE_SSE.to_le_bytes());
    xs.normalise_init_components();
    assert_eq!(xs.xmm(0), [0xee; 16], "SSE in use: kept");
    assert_eq!(xs.ymmh(15), Some([0; 16]), "AVX init: zeroed");
    assert_eq!(xs.st(0), [0; 10]);
    assert_eq!(xs.fcw(), FCW_INIT);
}
