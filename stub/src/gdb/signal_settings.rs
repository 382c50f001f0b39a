//! The client's signal settings: `QPassSignals` (the signals gdb marks `nostop noprint pass`) and
//! `QProgramSignals`, answered through the packet tap (gdbstub has neither). This file parses
//! them; the rule they feed is the process layer's (`process::SignalRules`), which also hears at
//! each new client and each new program whether the program is Go.
//!
//! Protocol quirks: the numbers are gdb's own (`signal_numbers`), hex and `;`-separated, and an
//! empty list clears the set. gdb sends a list only when `qSupported` offered the packet, and
//! only when it differs from the last one it sent on this connection.

use super::error::reply;
use super::signal_numbers::from_gdb;
use super::{GdbTarget, StubError};
use crate::process::SignalSet;

/// Payload prefixes the tap hands to [`GdbTarget::answer_signal_settings`].
pub const INTERCEPTS: &[&str] = &["QPassSignals:", "QProgramSignals:"];

impl GdbTarget {
    /// A new client: the command line's quiet set again, until it sends its own.
    pub fn start_client(&mut self) {
        self.session.update_signals(|rules| rules.new_client());
        self.note_program();
    }

    /// Tells the session whether the process now held runs a Go program.
    pub fn note_program(&mut self) {
        let go = match self.session.backend_ref() {
            Some(backend) => self.go.is_go(backend),
            None => false,
        };
        self.session
            .update_signals(|rules| rules.set_go_program(go));
    }

    /// The reply to an intercepted `QPassSignals:` or `QProgramSignals:`, or `None` for any
    /// other packet.
    pub fn answer_signal_settings(&mut self, payload: &str) -> Option<String> {
        let (list, pass) = match payload.split_once(':') {
            Some(("QPassSignals", list)) => (list, true),
            Some(("QProgramSignals", list)) => (list, false),
            _ => return None,
        };
        Some(match parse_list(list) {
            Ok(set) => {
                // gdb steps over the handler of a passed signal that interrupts its step; lldb
                // leaves that to the stub.
                let steps_over = !self.client_is_lldb;
                self.session.update_signals(|rules| match pass {
                    true => rules.set_client_pass(set, steps_over),
                    false => rules.set_client_program(set),
                });
                "OK".to_string()
            }
            Err(e) => reply(e),
        })
    }
}

/// `e;1e;…` in gdb's numbering; signals Linux does not have are left out.
fn parse_list(list: &str) -> Result<SignalSet, StubError> {
    let mut numbers = Vec::new();
    for item in list.split(';').filter(|s| !s.is_empty()) {
        let gdb =
            u8::from_str_radix(item, 16).map_err(|_| StubError::BadArgument(item.to_string()))?;
        numbers.extend(from_gdb(gdb));
    }
    Ok(SignalSet::from_numbers(&numbers))
}

#[cfg(test)]
mod tests {
    use super::parse_list;

    #[test]
    fn lists_are_in_gdb_numbering() {
        // gdb's 0x1e is SIGUSR1, 0x10 SIGURG, 0x14 SIGCHLD; 0x2d is Linux's signal 33.
        let set = parse_list("e;10;14;1e;2d").unwrap();
        for sig in [
            libc::SIGALRM,
            libc::SIGURG,
            libc::SIGCHLD,
            libc::SIGUSR1,
            33,
        ] {
            assert!(set.contains(sig), "signal {sig}");
        }
        assert!(!set.contains(libc::SIGBUS));
        assert_eq!(parse_list("").unwrap(), Default::default());
        assert!(parse_list("e;zz").is_err());
    }
}
