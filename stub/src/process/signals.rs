//! Which signals pass straight back to the program inside the stub, without a round trip to the
//! client.
//!
//! gdbstub has no `QPassSignals`, so gostub decides itself: the command line's `--pass-signals`,
//! which defaults to the signals gdb marks `nostop noprint` on Linux (Go's SIGURG preemption among
//! them). A quiet signal that arrives while a thread is being single-stepped is held
//! back and delivered at the thread's next continue, so `stepi` never lands in a handler.

/// A set of signal numbers (1..=64) that the stub passes to the program silently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignalSet(u64);

impl SignalSet {
    pub fn from_numbers(numbers: &[i32]) -> SignalSet {
        let mut set = SignalSet(0);
        for &n in numbers {
            if (1..=64).contains(&n) {
                set.0 |= 1u64 << (n - 1);
            }
        }
        set
    }

    pub fn contains(&self, sig: i32) -> bool {
        (1..=64).contains(&sig) && self.0 & (1u64 << (sig - 1)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_preemption_set_passes_sigurg_but_not_sigsegv() {
        let set = SignalSet::from_numbers(&[libc::SIGURG, libc::SIGCHLD]);
        assert!(set.contains(libc::SIGURG));
        assert!(set.contains(libc::SIGCHLD));
        assert!(!set.contains(libc::SIGSEGV));
        assert!(!set.contains(libc::SIGINT));
    }

    #[test]
    fn out_of_range_numbers_are_ignored() {
        let set = SignalSet::from_numbers(&[0, -3, 65, 10]);
        assert!(set.contains(10));
        assert!(!set.contains(0));
        assert!(!set.contains(65));
    }
}
