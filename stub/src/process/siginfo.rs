//! A stopped thread's `siginfo_t` as bytes, for the client's `$_siginfo` (`qXfer:siginfo`): read
//! with PTRACE_GETSIGINFO, written back with PTRACE_SETSIGINFO, as gdbserver does.
//!
//! Kernel quirks met here:
//! * The object is the kernel's 64-bit `siginfo_t`, [`SIGINFO_SIZE`] bytes, `si_signo` at 0 and
//!   `si_code` at 8; gdb's `$_siginfo` type has that layout for an x86_64 program.
//! * It is the siginfo of the thread's last ptrace stop: the signal's for a signal-delivery
//!   stop, a SIGTRAP's for a breakpoint or a step, the interrupt's for a thread the stub
//!   stopped. A signal the thread is resumed with carries the fields written here when its
//!   number is the one written (the kernel keeps the rest only then).

use nix::sys::ptrace;
use nix::unistd::Pid;

use super::error::ptrace_err;
use super::ProcessError;

/// `sizeof(siginfo_t)` on Linux x86_64.
pub const SIGINFO_SIZE: usize = 128;

const _: () = assert!(std::mem::size_of::<libc::siginfo_t>() == SIGINFO_SIZE);

/// The thread's last stop's `siginfo_t`.
pub(super) fn read(tid: Pid) -> Result<[u8; SIGINFO_SIZE], ProcessError> {
    let info = ptrace::getsiginfo(tid).map_err(ptrace_err(tid))?;
    // SAFETY: `siginfo_t` is plain data of exactly SIGINFO_SIZE bytes (checked above).
    Ok(unsafe { std::mem::transmute::<libc::siginfo_t, [u8; SIGINFO_SIZE]>(info) })
}

/// Replaces the thread's `siginfo_t` with `bytes`.
pub(super) fn write(tid: Pid, bytes: &[u8; SIGINFO_SIZE]) -> Result<(), ProcessError> {
    // SAFETY: every bit pattern is a valid `siginfo_t` (plain integers and unions of them).
    let info = unsafe { std::mem::transmute::<[u8; SIGINFO_SIZE], libc::siginfo_t>(*bytes) };
    ptrace::setsiginfo(tid, &info).map_err(ptrace_err(tid))
}
