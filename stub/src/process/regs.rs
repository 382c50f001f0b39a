//! ptrace access to a stopped thread's registers on Linux x86_64.
//!
//! This module owns two things:
//! - the general-purpose registers (`PTRACE_GETREGS`/`PTRACE_SETREGS`, i.e.
//!   `user_regs_struct`, which also carries `orig_rax`, `fs_base` and `gs_base`);
//! - the FPU/SSE/AVX state as a raw XSAVE image ([`XState`]), read with
//!   `PTRACE_GETREGSET NT_X86_XSTATE` and falling back to the 512-byte FXSAVE
//!   image of `PTRACE_GETFPREGS` when the kernel refuses XSTATE.
//!
//! Kernel and hardware quirks handled here:
//! - The buffer the kernel fills is the *standard* (non-compacted) XSAVE
//!   layout even when the kernel itself uses XSAVES. Its size comes from
//!   CPUID leaf 0xD sub-leaf 0 (EBX = size for the enabled XCR0 features,
//!   ECX = size for all supported ones); the kernel shortens `iov_len` to
//!   what it wrote, and `iov_len` must be a multiple of 8.
//! - Bytes 464..472 of the legacy area (software-reserved in hardware) hold
//!   the kernel's XCR0 (`xstate_fx_sw_bytes[0]`); that, not CPUID, says
//!   whether the AVX component is present in the buffer.
//! - XSTATE_BV (offset 512) marks components in their init state. Current
//!   kernels copy init values into the buffer for such components, but we
//!   normalise them ourselves as gdb's `i387_supply_xsave` does, so
//!   older kernels behave the same. On write, the kernel ignores any
//!   component whose XSTATE_BV bit is clear, so setters set the bit when they
//!   change bytes.
//! - The kernel saves with FXSAVE64, so the 16-bit "FCS"/"FDS" selector slots
//!   at offsets 12 and 20 are really bits 32..63 of the 64-bit FIP/FDP. We
//!   expose FIP/FDP as `u64` (gdb's amd64 `fiseg`/`foseg` are exactly those
//!   upper halves; see `amd64_supply_fxsave`).
//! - FXSAVE stores only an abridged 8-bit tag (one "valid" bit per physical
//!   register). gdb wants the full 16-bit i387 tag word, which we rebuild
//!   from the register contents like gdbserver's `i387_fxsave_to_cache`.
//! - The kernel rejects (EINVAL) an MXCSR with reserved bits set on write.

use core::arch::x86_64::__cpuid_count;
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::sys::ptrace;
use nix::unistd::Pid;

/// `NT_X86_XSTATE`, the regset note type for the XSAVE area.
const NT_X86_XSTATE: libc::c_int = 0x202;
/// Size of the legacy FXSAVE region (and of the `PTRACE_GETFPREGS` image).
const FXSAVE_SIZE: usize = 512;
/// Offset of XSTATE_BV in the XSAVE header.
const XSTATE_BV_OFFSET: usize = 512;
/// Offset of the kernel-provided XCR0 in the software-reserved bytes.
const XCR0_OFFSET: usize = 464;
/// Offset of the AVX component (upper halves of ymm0..15), standard format.
const YMMH_OFFSET: usize = 576;
/// End of the AVX component.
const YMMH_END: usize = YMMH_OFFSET + 16 * 16;
/// Size gdbserver uses when CPUID cannot tell us (x87..PKRU).
const GDBSERVER_XSAVE_SIZE: usize = 2688;

const XFEATURE_X87: u64 = 1 << 0;
const XFEATURE_SSE: u64 = 1 << 1;
const XFEATURE_AVX: u64 = 1 << 2;

const FCW_OFFSET: usize = 0;
const FSW_OFFSET: usize = 2;
const FTW_OFFSET: usize = 4;
const FOP_OFFSET: usize = 6;
const FIP_OFFSET: usize = 8;
const FDP_OFFSET: usize = 16;
const MXCSR_OFFSET: usize = 24;
const ST_OFFSET: usize = 32;
const XMM_OFFSET: usize = 160;
/// x87 power-on control word, the value of an x87 component in init state.
const FCW_INIT: u16 = 0x037f;
/// MXCSR in init state.
const MXCSR_INIT: u32 = 0x1f80;

/// Reads the general-purpose registers (`PTRACE_GETREGS`).
pub fn get_gprs(tid: Pid) -> nix::Result<libc::user_regs_struct> {
    ptrace::getregs(tid)
}

/// Writes the general-purpose registers (`PTRACE_SETREGS`).
pub fn set_gprs(tid: Pid, regs: &libc::user_regs_struct) -> nix::Result<()> {
    ptrace::setregs(tid, *regs)
}

/// Which kernel interface produced an [`XState`] image (and must take it back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `PTRACE_GETREGSET NT_X86_XSTATE`: legacy area + XSAVE header + components.
    Xsave,
    /// `PTRACE_GETFPREGS`: 512-byte FXSAVE image, no AVX.
    Fxsave,
}

/// A thread's FPU/SSE/AVX state as the raw image the kernel hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XState {
    /// Image bytes; only `buf[..len]` was filled by the kernel.
    buf: Vec<u8>,
    /// Bytes the kernel reported (`iov_len` after `GETREGSET`).
    len: usize,
    layout: Layout,
}

/// Size of the XSAVE buffer to offer `PTRACE_GETREGSET`.
fn xsave_size() -> usize {
    static SIZE: OnceLock<usize> = OnceLock::new();
    *SIZE.get_or_init(|| {
        let max_leaf = __cpuid_count(0, 0).eax;
        let size = if max_leaf >= 0xd {
            let leaf = __cpuid_count(0xd, 0);
            (leaf.ebx.max(leaf.ecx)) as usize
        } else {
            0
        };
        // The kernel insists on a multiple of 8 (the regset's unit size).
        let size = if size < YMMH_OFFSET {
            GDBSERVER_XSAVE_SIZE
        } else {
            size
        };
        size.next_multiple_of(8)
    })
}

/// True when the CPU has AVX *and* the OS enabled the YMM state in XCR0.
pub fn cpu_has_avx() -> bool {
    static AVX: OnceLock<bool> = OnceLock::new();
    *AVX.get_or_init(|| {
        let ecx = __cpuid_count(1, 0).ecx;
        let osxsave = ecx & (1 << 27) != 0;
        let avx = ecx & (1 << 28) != 0;
        if !(osxsave && avx) {
            return false;
        }
        // SAFETY: CPUID.1:ECX.OSXSAVE is set, so XGETBV is enabled.
        let xcr0 = unsafe { core::arch::x86_64::_xgetbv(0) };
        xcr0 & (XFEATURE_SSE | XFEATURE_AVX) == (XFEATURE_SSE | XFEATURE_AVX)
    })
}

/// Reads the thread's FPU/SSE/AVX state: XSTATE regset, or FXSAVE when the
/// kernel refuses the regset (no XSAVE support).
pub fn get_xstate(tid: Pid) -> nix::Result<XState> {
    let mut buf = vec![0u8; xsave_size()];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: iov describes `buf`, which outlives the call; the kernel writes
    // at most iov_len bytes and updates iov_len.
    let res = unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGSET,
            tid.as_raw(),
            NT_X86_XSTATE as usize as *mut libc::c_void,
            &mut iov as *mut libc::iovec,
        )
    };
    match Errno::result(res) {
        Ok(_) if iov.iov_len >= YMMH_OFFSET => {
            let mut xs = XState {
                len: iov.iov_len,
                buf,
                layout: Layout::Xsave,
            };
            xs.normalise_init_components();
            Ok(xs)
        }
        // A regset without the XSAVE header is useless to us; treat it like
        // a refusal and take the FXSAVE path.
        Ok(_) | Err(Errno::EINVAL) | Err(Errno::EIO) | Err(Errno::ENODEV) => get_fxsave(tid),
        Err(e) => Err(e),
    }
}

fn get_fxsave(tid: Pid) -> nix::Result<XState> {
    let mut buf = vec![0u8; FXSAVE_SIZE];
    // SAFETY: PTRACE_GETFPREGS writes exactly sizeof(user_fpregs_struct) = 512
    // bytes to `data`, which is a 512-byte buffer.
    let res = unsafe {
        libc::ptrace(
            libc::PTRACE_GETFPREGS,
            tid.as_raw(),
            core::ptr::null_mut::<libc::c_void>(),
            buf.as_mut_ptr(),
        )
    };
    Errno::result(res)?;
    Ok(XState {
        buf,
        len: FXSAVE_SIZE,
        layout: Layout::Fxsave,
    })
}

/// Writes back an image obtained from [`get_xstate`] (through the same
/// interface it came from).
pub fn set_xstate(tid: Pid, xs: &XState) -> nix::Result<()> {
    let res = match xs.layout {
        Layout::Xsave => {
            let mut iov = libc::iovec {
                iov_base: xs.buf.as_ptr() as *mut libc::c_void,
                iov_len: xs.len,
            };
            // SAFETY: the kernel only reads `iov_len` bytes from `buf` for
            // SETREGSET; `len <= buf.len()`.
            unsafe {
                libc::ptrace(
                    libc::PTRACE_SETREGSET,
                    tid.as_raw(),
                    NT_X86_XSTATE as usize as *mut libc::c_void,
                    &mut iov as *mut libc::iovec,
                )
            }
        }
        // SAFETY: the kernel reads 512 bytes from a 512-byte buffer.
        Layout::Fxsave => unsafe {
            libc::ptrace(
                libc::PTRACE_SETFPREGS,
                tid.as_raw(),
                core::ptr::null_mut::<libc::c_void>(),
                xs.buf.as_ptr(),
            )
        },
    };
    Errno::result(res).map(drop)
}

/// Classifies one 80-bit register like gdb's `i387_tag`:
/// 0 = valid, 1 = zero, 2 = special (NaN, infinity, denormal, unnormal).
fn i387_tag(raw: &[u8; 10]) -> u16 {
    let integer = raw[7] & 0x80 != 0;
    let exponent = u16::from_le_bytes([raw[8], raw[9]]) & 0x7fff;
    let fraction_zero = raw[..7].iter().all(|&b| b == 0) && raw[7] & 0x7f == 0;
    match exponent {
        0x7fff => 2,
        0 if fraction_zero && !integer => 1,
        0 => 2,
        _ if integer => 0,
        _ => 2,
    }
}

impl XState {
    /// A zeroed image in a given layout (init x87/SSE values), for unit tests
    /// of code that converts to and from [`XState`].
    #[cfg(test)]
    pub(crate) fn synthetic(with_avx: bool) -> XState {
        let (len, layout) = if with_avx {
            (YMMH_END, Layout::Xsave)
        } else {
            (FXSAVE_SIZE, Layout::Fxsave)
        };
        let mut xs = XState {
            buf: vec![0; len],
            len,
            layout,
        };
        if with_avx {
            let xcr0 = XFEATURE_X87 | XFEATURE_SSE | XFEATURE_AVX;
            xs.put(XCR0_OFFSET, &xcr0.to_le_bytes());
        }
        xs.put(FCW_OFFSET, &FCW_INIT.to_le_bytes());
        xs.put(MXCSR_OFFSET, &MXCSR_INIT.to_le_bytes());
        xs
    }

    /// The image a core file holds for a thread: its `NT_X86_XSTATE` note (the XSAVE layout
    /// `PTRACE_GETREGSET` returns) when it is whole, else its `NT_PRFPREG` note (FXSAVE), else
    /// the init values (a core that kept no FPU state for the thread).
    pub(crate) fn from_core_notes(xsave: Option<&[u8]>, fxsave: Option<&[u8]>) -> XState {
        if let Some(x) = xsave.filter(|x| x.len() >= YMMH_OFFSET) {
            let mut xs = XState {
                buf: x.to_vec(),
                len: x.len(),
                layout: Layout::Xsave,
            };
            xs.normalise_init_components();
            return xs;
        }
        let mut buf = vec![0u8; FXSAVE_SIZE];
        match fxsave.filter(|f| f.len() >= FXSAVE_SIZE) {
            Some(f) => buf.copy_from_slice(&f[..FXSAVE_SIZE]),
            None => {
                buf[FCW_OFFSET..FCW_OFFSET + 2].copy_from_slice(&FCW_INIT.to_le_bytes());
                buf[MXCSR_OFFSET..MXCSR_OFFSET + 4].copy_from_slice(&MXCSR_INIT.to_le_bytes());
            }
        }
        XState {
            buf,
            len: FXSAVE_SIZE,
            layout: Layout::Fxsave,
        }
    }

    fn bytes<const N: usize>(&self, off: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.buf[..self.len].get(off..off + N) {
            out.copy_from_slice(src);
        }
        out
    }

    fn u16_at(&self, off: usize) -> u16 {
        u16::from_le_bytes(self.bytes(off))
    }

    fn u32_at(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.bytes(off))
    }

    fn u64_at(&self, off: usize) -> u64 {
        u64::from_le_bytes(self.bytes(off))
    }

    /// Stores `src` at `off`; returns whether any byte changed.
    fn put(&mut self, off: usize, src: &[u8]) -> bool {
        match self.buf[..self.len].get_mut(off..off + src.len()) {
            Some(dst) if dst != src => {
                dst.copy_from_slice(src);
                true
            }
            _ => false,
        }
    }

    /// Stores `src` at `off` and, if that changed anything, marks the XSAVE
    /// component(s) `features` as in use so the kernel applies the write.
    fn put_feature(&mut self, off: usize, src: &[u8], features: u64) {
        if self.put(off, src) && self.layout == Layout::Xsave {
            let bv = self.u64_at(XSTATE_BV_OFFSET) | features;
            self.put(XSTATE_BV_OFFSET, &bv.to_le_bytes());
        }
    }

    /// Rewrites components whose XSTATE_BV bit is clear with their init
    /// values, so readers never see stale bytes.
    fn normalise_init_components(&mut self) {
        let bv = self.u64_at(XSTATE_BV_OFFSET);
        if bv & XFEATURE_X87 == 0 {
            // Everything below XMM_OFFSET except MXCSR/MXCSR_MASK (24..32),
            // which are shared with SSE/AVX and handled below.
            self.buf[..MXCSR_OFFSET].fill(0);
            self.buf[ST_OFFSET..XMM_OFFSET].fill(0);
            self.buf[FCW_OFFSET..FCW_OFFSET + 2].copy_from_slice(&FCW_INIT.to_le_bytes());
        }
        if bv & XFEATURE_SSE == 0 {
            self.buf[XMM_OFFSET..XMM_OFFSET + 256].fill(0);
        }
        if bv & (XFEATURE_X87 | XFEATURE_SSE | XFEATURE_AVX) == 0 {
            self.buf[MXCSR_OFFSET..MXCSR_OFFSET + 4].copy_from_slice(&MXCSR_INIT.to_le_bytes());
        }
        if bv & XFEATURE_AVX == 0 && self.len >= YMMH_END {
            self.buf[YMMH_OFFSET..YMMH_END].fill(0);
        }
    }

    /// XCR0 as reported by the kernel (`None` for an FXSAVE-only image).
    pub fn xcr0(&self) -> Option<u64> {
        (self.layout == Layout::Xsave).then(|| self.u64_at(XCR0_OFFSET))
    }

    /// Whether the image carries the AVX (ymm upper halves) component.
    pub fn has_avx(&self) -> bool {
        self.len >= YMMH_END && self.xcr0().is_some_and(|x| x & XFEATURE_AVX != 0)
    }

    /// x87 control word (FCW).
    pub fn fcw(&self) -> u16 {
        self.u16_at(FCW_OFFSET)
    }

    pub fn set_fcw(&mut self, v: u16) {
        self.put_feature(FCW_OFFSET, &v.to_le_bytes(), XFEATURE_X87);
    }

    /// x87 status word (FSW).
    pub fn fsw(&self) -> u16 {
        self.u16_at(FSW_OFFSET)
    }

    pub fn set_fsw(&mut self, v: u16) {
        self.put_feature(FSW_OFFSET, &v.to_le_bytes(), XFEATURE_X87);
    }

    /// The abridged tag byte as stored by FXSAVE (bit i set = physical
    /// register i is not empty).
    pub fn ftw_abridged(&self) -> u8 {
        self.bytes::<1>(FTW_OFFSET)[0]
    }

    /// The full i387 tag word (2 bits per physical register: 0 valid,
    /// 1 zero, 2 special, 3 empty), rebuilt from the abridged tag and the
    /// register contents like gdbserver's `i387_fxsave_to_cache`.
    pub fn ftag(&self) -> u16 {
        let abridged = self.ftw_abridged();
        let top = usize::from((self.fsw() >> 11) & 7);
        (0..8).fold(0u16, |acc, phys| {
            let tag = if abridged & (1 << phys) != 0 {
                // FXSAVE stores registers in stack order: ST(j) is physical
                // register (top + j) mod 8.
                i387_tag(&self.st((phys + 8 - top) % 8))
            } else {
                3
            };
            acc | (tag << (2 * phys))
        })
    }

    /// Stores a full i387 tag word as FXSAVE's abridged form (any tag other
    /// than 3 = "empty" sets the register's bit), like `i387_cache_to_fxsave`.
    pub fn set_ftag(&mut self, full: u16) {
        let abridged = (0..8).fold(0u8, |acc, phys| {
            if (full >> (2 * phys)) & 3 != 3 {
                acc | (1 << phys)
            } else {
                acc
            }
        });
        self.put_feature(FTW_OFFSET, &[abridged], XFEATURE_X87);
    }

    /// Last x87 opcode (11 bits).
    pub fn fop(&self) -> u16 {
        self.u16_at(FOP_OFFSET) & 0x7ff
    }

    /// Sets the low 11 bits of FOP, keeping the reserved upper 5.
    pub fn set_fop(&mut self, v: u16) {
        let merged = (self.u16_at(FOP_OFFSET) & !0x7ff) | (v & 0x7ff);
        self.put_feature(FOP_OFFSET, &merged.to_le_bytes(), XFEATURE_X87);
    }

    /// 64-bit last x87 instruction pointer (FXSAVE64 FIP; the 32-bit
    /// layout's FCS slot is its upper half).
    pub fn fip(&self) -> u64 {
        self.u64_at(FIP_OFFSET)
    }

    pub fn set_fip(&mut self, v: u64) {
        self.put_feature(FIP_OFFSET, &v.to_le_bytes(), XFEATURE_X87);
    }

    /// 64-bit last x87 data pointer (FXSAVE64 FDP; the FDS slot is its upper half).
    pub fn fdp(&self) -> u64 {
        self.u64_at(FDP_OFFSET)
    }

    pub fn set_fdp(&mut self, v: u64) {
        self.put_feature(FDP_OFFSET, &v.to_le_bytes(), XFEATURE_X87);
    }

    pub fn mxcsr(&self) -> u32 {
        self.u32_at(MXCSR_OFFSET)
    }

    /// Sets MXCSR. The kernel fails the later `set_xstate` with EINVAL if
    /// reserved bits are set.
    pub fn set_mxcsr(&mut self, v: u32) {
        self.put_feature(MXCSR_OFFSET, &v.to_le_bytes(), XFEATURE_SSE);
    }

    /// ST(i) (stack order), 80-bit extended. `i` is taken modulo 8.
    pub fn st(&self, i: usize) -> [u8; 10] {
        self.bytes(ST_OFFSET + 16 * (i % 8))
    }

    pub fn set_st(&mut self, i: usize, v: &[u8; 10]) {
        self.put_feature(ST_OFFSET + 16 * (i % 8), v, XFEATURE_X87);
    }

    /// xmm`i` (`i` taken modulo 16).
    pub fn xmm(&self, i: usize) -> [u8; 16] {
        self.bytes(XMM_OFFSET + 16 * (i % 16))
    }

    pub fn set_xmm(&mut self, i: usize, v: &[u8; 16]) {
        self.put_feature(XMM_OFFSET + 16 * (i % 16), v, XFEATURE_SSE);
    }

    /// Upper 128 bits of ymm`i` (`i` taken modulo 16), or `None` without AVX.
    pub fn ymmh(&self, i: usize) -> Option<[u8; 16]> {
        self.has_avx()
            .then(|| self.bytes(YMMH_OFFSET + 16 * (i % 16)))
    }

    /// Sets the upper half of ymm`i`; returns `false` (and does nothing)
    /// without AVX.
    pub fn set_ymmh(&mut self, i: usize, v: &[u8; 16]) -> bool {
        if !self.has_avx() {
            return false;
        }
        self.put_feature(YMMH_OFFSET + 16 * (i % 16), v, XFEATURE_AVX);
        true
    }
}

#[cfg(test)]
pub(crate) mod tests;
