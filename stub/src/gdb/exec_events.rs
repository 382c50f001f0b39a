//! Exec events: when the program execs, the stop reply says so (`T05exec:HEX;…`, HEX the new
//! program's path), as gdbserver's does for a client that offered `exec-events+`, and to lldb
//! with `reason:exec;`, as lldb-server's does; and what the
//! stub knew about the old program (its Go binary and goroutines, the thread view, whether it is
//! Go) is dropped, so the next questions are answered from the new one. The process layer has
//! already re-read the exe and dropped its threads, memory cache and breakpoints.
//!
//! Protocol quirks met here:
//! - gdb offers `exec-events+` in its `qSupported`; the stub offers it back (through the
//!   vendored `extra_supported_features`) and sends `exec:` only to a client that offered it.
//!   Without it, gdb takes the stop for a plain SIGTRAP in the old program.
//! - gdb then drops the old program's breakpoints without `z` packets, loads the new program
//!   (by the path given, through `target:` files), reads the auxv and library list again and
//!   plants its breakpoints anew.
//! - lldb offers no `exec-events+`; it reads `reason:exec` (in the stop reply, `jstopinfo` and
//!   `qThreadStopInfo` alike), drops its threads and modules, reloads the program and the
//!   dynamic linker's list, resolves its breakpoints in the new image and stops (its
//!   `stop-on-exec`). Without the reason it takes the stop for a SIGTRAP at `_start`.
//! - The same `qSupported` says whether the client reads the `N` stop reply (`no-resumed+`,
//!   gdb 7.12 on); without it the no-resumed stop is gdbserver's error reply (the vendored
//!   `use_no_resumed_stop_reason`).

use super::lldb::hex;
use super::GdbTarget;
use crate::process::StopEvent;

impl GdbTarget {
    /// Notes what a client's `qSupported` offers (`packet` is the framed packet).
    pub fn note_client_features(&mut self, packet: &[u8]) {
        if let Some(offered) = client_offers(packet, b"exec-events+") {
            self.exec_events = offered;
            self.note_fork_offer(packet);
        }
        if let Some(offered) = client_offers(packet, b"no-resumed+") {
            self.no_resumed = offered;
        }
        if let Some(offered) = client_offers(packet, b"multiprocess+") {
            self.non_stop.set_multiprocess(offered);
        }
    }

    /// For a stop about to be reported: after an exec, forgets the old program and returns the
    /// `exec:` key for a client that asked for exec events, `reason:exec;` for lldb (else
    /// nothing).
    pub fn exec_stop_keys(&mut self, event: StopEvent) -> String {
        let StopEvent::Exec { .. } = event else {
            return String::new();
        };
        // The process that exec'd: the first, or a fork child (whose exec leaves the first
        // process's program and Go state alone).
        let pid = self.session.stopped_process().or(self.pid());
        if pid == self.pid() {
            self.go.forget_program();
            self.view = None;
            self.resumed_as.clear();
            self.note_program();
        }
        let exe = pid
            .and_then(|p| self.session.process_ref(p))
            .and_then(|b| b.exe().map(|p| p.to_string_lossy().into_owned()));
        match (self.exec_events, exe) {
            (true, Some(exe)) => format!("exec:{};", hex(&exe)),
            _ if self.client_is_lldb => "reason:exec;".to_string(),
            _ => String::new(),
        }
    }
}

/// Whether a `qSupported` packet offers `feature` (`None` for another packet).
pub(super) fn client_offers(packet: &[u8], feature: &[u8]) -> Option<bool> {
    let body = packet.strip_prefix(b"$qSupported")?;
    let body = &body[..body.iter().position(|&b| b == b'#').unwrap_or(body.len())];
    Some(
        body.split(|&b| b == b':' || b == b';')
            .any(|f| f == feature),
    )
}

#[cfg(test)]
mod tests {
    use super::client_offers;

    #[test]
    fn exec_events_follow_the_clients_offer() {
        let offer = |p: &[u8]| client_offers(p, b"exec-events+");
        assert_eq!(
            offer(b"$qSupported:multiprocess+;exec-events+;vContSupported+#00"),
            Some(true)
        );
        assert_eq!(offer(b"$qSupported:exec-events+#00"), Some(true));
        assert_eq!(
            offer(b"$qSupported:multiprocess+;exec-events-#00"),
            Some(false)
        );
        assert_eq!(offer(b"$qSupported#35"), Some(false));
        assert_eq!(offer(b"$m0,1#00"), None);
        let gdb13 = b"$qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;\
            vfork-events+;exec-events+;vContSupported+;QThreadEvents+;no-resumed+;\
            memory-tagging+#00";
        assert_eq!(client_offers(gdb13, b"no-resumed+"), Some(true));
        assert_eq!(
            client_offers(b"$qSupported:xmlRegisters=i386#00", b"no-resumed+"),
            Some(false)
        );
    }
}
