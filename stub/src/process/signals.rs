//! Which signals pass straight back to the program inside the stub, without a round trip to the
//! client, and which a detach gives back to it.
//!
//! The rule: the command line's `--pass-signals` set (by default the signals gdb marks
//! `nostop noprint` on Linux) is in force until the client sends its own with `QPassSignals`, and
//! for clients that never do. For a Go program SIGURG (the runtime's goroutine preemption) stays
//! quiet whatever the client sends, as long as the command line's set has it: a Go session must
//! never stop on preemption. A quiet signal that arrives while a thread is being stepped is held
//! back and delivered at the thread's next continue, so `stepi` never lands in a handler; but
//! one the client itself passes, to a client that steps over handlers (gdb), is reported then,
//! as gdbserver does, and gdb delivers it and steps over the handler (not a Go program's
//! SIGURG: a goroutine thread cannot run alone through the handler).
//!
//! Protocol quirk: `QProgramSignals` (gdbserver's meaning) only says which signals the stub may
//! deliver on its own; without it gdbserver keeps SIGTRAP and SIGINT back, gdb's defaults.

/// A set of signal numbers (1..=64).
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

/// What the stub does with the program's signals, from the command line and the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalRules {
    command_line: SignalSet,
    /// `QPassSignals` from the current client, once it sent one.
    client_pass: Option<SignalSet>,
    /// `QProgramSignals` from the current client, once it sent one.
    client_program: Option<SignalSet>,
    /// The client steps over the handlers of the signals it passes (gdb does; lldb relies on
    /// the stub to).
    client_steps_over: bool,
    go_program: bool,
}

impl SignalRules {
    pub fn new(command_line: SignalSet) -> SignalRules {
        SignalRules {
            command_line,
            client_pass: None,
            client_program: None,
            client_steps_over: false,
            go_program: false,
        }
    }

    /// A new client: the command line's set again, until it sends its own.
    pub fn new_client(&mut self) {
        self.client_pass = None;
        self.client_program = None;
    }

    /// `QPassSignals`: the client's quiet set replaces the command line's. `steps_over`: the
    /// client steps over the handler of a passed signal that arrives during its step itself,
    /// so such a signal is reported to it then, as gdbserver does.
    pub fn set_client_pass(&mut self, set: SignalSet, steps_over: bool) {
        self.client_pass = Some(set);
        self.client_steps_over = steps_over;
    }

    /// `QProgramSignals`: the signals the stub may deliver to the program on its own.
    pub fn set_client_program(&mut self, set: SignalSet) {
        self.client_program = Some(set);
    }

    /// Whether the process runs a Go program (SIGURG is its preemption signal).
    pub fn set_go_program(&mut self, go: bool) {
        self.go_program = go;
    }

    /// Whether `sig` passes to the program without stopping it.
    pub fn is_quiet(&self, sig: i32) -> bool {
        match self.client_pass {
            None => self.command_line.contains(sig),
            Some(client) => {
                client.contains(sig)
                    || (sig == libc::SIGURG && self.go_program && self.command_line.contains(sig))
            }
        }
    }

    /// Whether `sig`, met during a step, is reported: the client passes it itself and steps over
    /// its handler. Any other quiet signal is held for the thread's next continue, and so is a
    /// Go program's preemption signal (a goroutine thread cannot step over the handler).
    pub fn client_steps_over(&self, sig: i32) -> bool {
        let preemption = sig == libc::SIGURG && self.go_program;
        self.client_steps_over
            && !preemption
            && self.client_pass.is_some_and(|set| set.contains(sig))
    }

    /// Whether a signal the client never saw goes back to the program at a detach.
    pub fn given_back_at_detach(&self, sig: i32) -> bool {
        match self.client_program {
            Some(set) => set.contains(sig),
            None => sig != libc::SIGTRAP && sig != libc::SIGINT,
        }
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

    #[test]
    fn the_client_set_replaces_the_command_line_until_a_new_client() {
        let mut rules = SignalRules::new(SignalSet::from_numbers(&[libc::SIGALRM]));
        assert!(rules.is_quiet(libc::SIGALRM));
        rules.set_client_pass(SignalSet::from_numbers(&[libc::SIGUSR1]), true);
        assert!(rules.client_steps_over(libc::SIGUSR1));
        assert!(!rules.client_steps_over(libc::SIGALRM));
        assert!(!rules.is_quiet(libc::SIGALRM));
        assert!(rules.is_quiet(libc::SIGUSR1));
        rules.new_client();
        assert!(rules.is_quiet(libc::SIGALRM));
        assert!(!rules.is_quiet(libc::SIGUSR1));
    }

    #[test]
    fn a_go_program_keeps_sigurg_quiet_unless_the_command_line_drops_it() {
        let mut rules = SignalRules::new(SignalSet::from_numbers(&[libc::SIGURG]));
        rules.set_client_pass(SignalSet::default(), true);
        assert!(!rules.client_steps_over(libc::SIGURG));
        assert!(!rules.is_quiet(libc::SIGURG));
        rules.set_go_program(true);
        assert!(rules.is_quiet(libc::SIGURG));
        rules.set_client_pass(SignalSet::from_numbers(&[libc::SIGURG]), true);
        assert!(!rules.client_steps_over(libc::SIGURG));
        let mut none = SignalRules::new(SignalSet::default());
        none.set_go_program(true);
        none.set_client_pass(SignalSet::default(), false);
        assert!(!none.is_quiet(libc::SIGURG));
    }

    #[test]
    fn detach_gives_back_what_the_client_allows() {
        let mut rules = SignalRules::new(SignalSet::default());
        assert!(rules.given_back_at_detach(libc::SIGUSR1));
        assert!(!rules.given_back_at_detach(libc::SIGINT));
        rules.set_client_program(SignalSet::from_numbers(&[libc::SIGINT]));
        assert!(rules.given_back_at_detach(libc::SIGINT));
        assert!(!rules.given_back_at_detach(libc::SIGUSR1));
    }
}
