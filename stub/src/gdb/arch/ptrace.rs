//! Converting [`Amd64Regs`] from and to the kernel's images: the
//! `PTRACE_GETREGS` `user_regs_struct` and the XSAVE/FXSAVE area
//! ([`XState`]).
//!
//! Kernel/protocol quirks met here:
//! - `user_regs_struct` keeps the kernel's `pt_regs` order (r15 r14 r13 r12
//!   rbp rbx r11..); gdb's is rax rbx rcx rdx rsi rdi rbp rsp r8..r15.
//! - eflags and the selectors are 64-bit kernel fields but 32-bit gdb values:
//!   reads drop the upper half (zero anyway), writes keep it.
//! - `ftag` is the full 16-bit i387 tag word (not FXSAVE's abridged byte),
//!   `fiseg`/`foseg` are the upper halves of the 64-bit FXSAVE64 FIP/FDP
//!   (gdb's `amd64_supply_fxsave`), `fop` is 11 bits; the x87 control words
//!   are 16 bits in FXSAVE.
//! - Only changed XSAVE components are marked in use, and ymmNh is written
//!   back only when both the view and the image have AVX.

use super::regnum::Amd64RegId;
use super::values::{Amd64Fp, Amd64Gprs, Amd64Regs};
use crate::process::XState;

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

impl Amd64Gprs {
    fn from_ptrace(gprs: &libc::user_regs_struct) -> Amd64Gprs {
        Amd64Gprs {
            regs: user_gprs_gdb_order(gprs),
            rip: gprs.rip,
            // gdb's eflags/selectors are 32-bit; the upper bits are zero.
            eflags: gprs.eflags as u32,
            segments: [gprs.cs, gprs.ss, gprs.ds, gprs.es, gprs.fs, gprs.gs].map(|s| s as u32),
            orig_rax: gprs.orig_rax,
            fs_base: gprs.fs_base,
            gs_base: gprs.gs_base,
        }
    }
}

impl Amd64Regs {
    /// The registers a stop reply expedites ([`Amd64RegId::expedited`]), from the
    /// `PTRACE_GETREGS` image alone, as `(register, little-endian wire bytes)`.
    pub(crate) fn expedited(gprs: &libc::user_regs_struct) -> Vec<(Amd64RegId, Vec<u8>)> {
        let view = Amd64Regs {
            gprs: Amd64Gprs::from_ptrace(gprs),
            ..Amd64Regs::default()
        };
        let mut buf = [0u8; 8];
        Amd64RegId::expedited()
            .map(|id| {
                let n = view.read_one(id, &mut buf);
                (id, buf[..n].to_vec())
            })
            .collect()
    }

    /// Builds the gdb view from `PTRACE_GETREGS` and [`XState`] images.
    pub(crate) fn from_ptrace(gprs: &libc::user_regs_struct, xs: &XState) -> Amd64Regs {
        let fip = xs.fip();
        let fdp = xs.fdp();
        Amd64Regs {
            gprs: Amd64Gprs::from_ptrace(gprs),
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
    pub(crate) fn apply_to(&self, gprs: &mut libc::user_regs_struct, xs: &mut XState) {
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
}

#[cfg(test)]
mod tests {
    use gdbstub::arch::Registers;

    use super::super::regnum::Amd64RegId;
    use super::super::values::tests::sample;
    use super::*;
    use crate::process::cpu_has_avx;

    #[test]
    fn gprs_land_in_gdb_order() {
        let mut user: libc::user_regs_struct = unsafe { core::mem::zeroed() };
        for (i, dst) in user_gprs_gdb_order_mut(&mut user).into_iter().enumerate() {
            *dst = 0x100 + i as u64;
        }
        assert_eq!(
            (user.rax, user.rbx, user.rcx, user.rdx),
            (0x100, 0x101, 0x102, 0x103)
        );
        assert_eq!(
            (user.rbp, user.rsp, user.r8, user.r15),
            (0x106, 0x107, 0x108, 0x10f)
        );
        user.eflags = 0xdead_0000_0000_0246;
        user.fs = 0xbeef_0000_0000_0000;
        let r = Amd64Regs::from_ptrace(&user, &XState::synthetic(false));
        let mut buf = [0u8; 16];
        for i in 0..16u8 {
            assert_eq!(r.read_one(Amd64RegId::Gpr(i), &mut buf), 8);
            assert_eq!(buf[..8], (0x100 + u64::from(i)).to_le_bytes());
        }
        // 32-bit on the wire: the upper half is not shown...
        assert_eq!(r.read_one(Amd64RegId::Eflags, &mut buf), 4);
        assert_eq!(buf[..4], 0x246u32.to_le_bytes());
        // ...and survives a write of the low half.
        let mut back = user;
        let mut xs = XState::synthetic(false);
        let mut w = r.clone();
        w.write_one(Amd64RegId::Eflags, &0x202u32.to_le_bytes())
            .unwrap();
        w.apply_to(&mut back, &mut xs);
        assert_eq!(back.eflags, 0xdead_0000_0000_0202);
        assert_eq!(back.fs, 0xbeef_0000_0000_0000);
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
    fn live_round_trip_through_ptrace() {
        use crate::process::regs_for_tests::{
            get_gprs, get_xstate, set_gprs, set_xstate, with_stopped_child,
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
