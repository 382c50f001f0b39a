//! The controlling terminal goes to the launched program, as gdbserver gives it: the program
//! runs in its own process group, and on the stub's terminal (stderr's) that group is made the
//! foreground one, so that the program can read the terminal (gdb.base/interrupt.exp) instead
//! of stopping with SIGTTIN. The group that had the terminal gets it back when the stub exits.
//!
//! Kernel quirks: `tcsetpgrp` from a process outside the foreground group raises SIGTTOU unless
//! the caller ignores it, so the stub ignores SIGTTOU and SIGTTIN from then on (the child puts
//! the defaults back before it execs: an ignored disposition survives exec). The group must
//! exist, so the handover happens once the child has execed (it called setpgid before that).

use std::sync::atomic::{AtomicI32, Ordering};

use nix::unistd::Pid;

/// The foreground group before the first handover (-1: none happened yet).
static FIRST_FOREGROUND: AtomicI32 = AtomicI32::new(-1);

/// Makes `child`'s process group the foreground group of the stub's terminal, if stderr is one.
pub(super) fn hand_to(child: Pid) {
    // SAFETY: plain libc calls on file descriptor 2 and signal dispositions; `restore` is an
    // `extern "C"` function with no arguments, as atexit requires.
    unsafe {
        if libc::isatty(2) == 0 {
            return;
        }
        libc::signal(libc::SIGTTOU, libc::SIG_IGN);
        libc::signal(libc::SIGTTIN, libc::SIG_IGN);
        let before = libc::tcgetpgrp(2);
        if before > 0
            && FIRST_FOREGROUND
                .compare_exchange(-1, before, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            libc::atexit(restore);
        }
        if libc::tcsetpgrp(2, child.as_raw()) != 0 {
            log::debug!(
                "cannot give the terminal to process {child}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

extern "C" fn restore() {
    let before = FIRST_FOREGROUND.load(Ordering::Relaxed);
    if before > 0 {
        // SAFETY: tcsetpgrp on file descriptor 2; SIGTTOU is ignored.
        unsafe { libc::tcsetpgrp(2, before) };
    }
}
