//! Linux signal numbers <-> the protocol's (gdb's `enum gdb_signal`, `gdb/signals.def`).
//!
//! Protocol quirk: stop replies and `C`/`S` resume actions carry gdb's numbering, not the host's.
//! They agree below 7 and on a few others, but Linux SIGUSR1 (10) is gdb's SIGBUS, Linux SIGSTOP
//! (19) is gdb's SIGCONT, and so on. lldb uses the same numbering unless the stub offers
//! `native-signals+`, which gostub does not.

/// gdb's number for each Linux signal 1..=31; 0 where gdb has none (SIGSTKFLT).
const LINUX_TO_GDB: [u8; 32] = [
    0, // 0
    1, 2, 3, 4, 5, 6,  // HUP INT QUIT ILL TRAP ABRT
    10, // BUS
    8, 9,  // FPE KILL
    30, // USR1
    11, // SEGV
    31, // USR2
    13, 14, 15, // PIPE ALRM TERM
    0,  // STKFLT
    20, // CHLD
    19, // CONT
    17, // STOP
    18, // TSTP
    21, 22, // TTIN TTOU
    16, // URG
    24, 25, 26, 27, 28, // XCPU XFSZ VTALRM PROF WINCH
    23, // IO
    32, // PWR
    12, // SYS
];

/// gdb numbers Linux real-time signals 33..=63 from 45, SIGRTMIN-1 (32) as 77 and 64 as 78.
pub fn to_gdb(linux: i32) -> u8 {
    match linux {
        0..=31 => LINUX_TO_GDB[linux as usize],
        32 => 77,
        33..=63 => (linux - 33 + 45) as u8,
        64 => 78,
        _ => 0,
    }
}

/// The Linux signal for gdb's number; `None` when Linux has no such signal.
pub fn from_gdb(gdb: u8) -> Option<i32> {
    if gdb == 0 {
        return None;
    }
    (1..=64).find(|&linux| to_gdb(linux) == gdb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_numbers() {
        assert_eq!(to_gdb(libc::SIGTRAP), 5);
        assert_eq!(to_gdb(libc::SIGUSR1), 30);
        assert_eq!(to_gdb(libc::SIGBUS), 10);
        assert_eq!(to_gdb(libc::SIGSTOP), 17);
        assert_eq!(to_gdb(libc::SIGURG), 16);
        assert_eq!(to_gdb(libc::SIGCHLD), 20);
        assert_eq!(to_gdb(34), 46);
        assert_eq!(from_gdb(30), Some(libc::SIGUSR1));
        assert_eq!(from_gdb(11), Some(libc::SIGSEGV));
        assert_eq!(from_gdb(0), None);
        assert_eq!(from_gdb(200), None);
    }

    #[test]
    fn every_linux_signal_round_trips() {
        for linux in (1..=64).filter(|&s| s != 16) {
            assert_eq!(from_gdb(to_gdb(linux)), Some(linux), "signal {linux}");
        }
    }
}
