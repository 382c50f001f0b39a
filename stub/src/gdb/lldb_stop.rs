//! lldb's picture of a stop, in as few packets as lldb-server gives it: once lldb has sent
//! `QListThreadsInStopReply`, every stop reply carries `threads:` (every client thread id),
//! `thread-pcs:` (their pcs, same order), `jstopinfo:` (hex-encoded JSON: tid, name, reason and
//! signal of the threads that stopped, as debugserver sends it) and debugserver's
//! `memory:ADDR=BYTES` for the stopping thread's stack; `jThreadsInfo` gives every thread its
//! tid and name, and the threads that stopped also their stop reason, rip/rsp/rbp and the stack
//! memory lldb's unwinder reads first. lldb puts that memory in its L1 cache, so its first
//! unwind of a stopped thread costs no memory packet.
//!
//! Protocol quirks met here:
//! - Without `thread-pcs:` lldb reads every thread's pc (`Hg` + `p10` per thread); without
//!   `jstopinfo:` it asks `qThreadStopInfo` per thread. A thread missing from `jstopinfo` has
//!   no stop reason, so only stopped threads go in: lldb parses it at every stop (the step
//!   off a breakpoint too), and the names of the others come with `jThreadsInfo`, which lldb
//!   fetches at each stop it shows.
//! - lldb parses all of `jThreadsInfo` at each such stop and sets up what it gives for each
//!   thread: with 131 threads, registers and two frame-pointer pairs for every thread cost lldb
//!   2.5-3 ms of CPU a stop, half of its stop (issue 9; perf puts `llvm::json::parse` and
//!   `json::Value::copyFrom` at half of lldb's CPU), the registers alone 0.8-1 ms. So a thread
//!   that did not stop gets only its tid and name; `thread list` and `bt all` read its
//!   registers (suffixed `p`) and first frames (one `x`) when they show it.
//! - Register keys in `jThreadsInfo` are lldb's register numbers, which are the target
//!   description's (rip is 16, rbp 6, rsp 7); values are target-order hex.
//! - `memory:` addresses need the `0x` prefix (lldb parses them with base auto-detection); an
//!   L1 cache entry serves a read only if it holds the whole read, so the frame-pointer chain
//!   goes as one `[fp, fp+16)` pair per frame.
//! - `jThreadsInfo` is JSON sent as binary data: `#`, `$`, `}` and `*` are escaped.

use gdbstub::common::Tid;
use serde_json::{json, Value};

use super::lldb::{hex, hex_bytes};
use super::GdbTarget;

/// Words from rsp that go with a stopped thread: what lldb's first unwind reads (lldb-server's
/// reverted D74398 sent 12 words from rsp).
const TOP_WORDS: usize = 12;
/// Frames of the frame-pointer chain that go with a stopped thread.
const CHAIN_FRAMES: usize = 32;
/// A frame pointer further than this above the last one ends the chain (not a stack).
const CHAIN_MAX_STEP: u64 = 1 << 20;

impl GdbTarget {
    /// The keys lldb-server adds to a stop reply when lldb asked for `QListThreadsInStopReply`;
    /// empty otherwise (gdb never asks).
    pub fn lldb_stop_keys(&mut self, stopped: Tid) -> String {
        if !self.lldb_thread_lists {
            return String::new();
        }
        let threads = self.client_threads();
        let mut ids = Vec::with_capacity(threads.len());
        let mut pcs = Vec::with_capacity(threads.len());
        let mut infos = Vec::new();
        for &tid in &threads {
            ids.push(format!("{:x}", tid.get()));
            pcs.push(
                self.frame_regs(tid)
                    .map_or(String::new(), |(pc, _, _)| format!("{pc:x}")),
            );
            if self.stop_of(tid).is_some() {
                infos.push(self.thread_json(tid));
            }
        }
        let mut keys = format!(
            "threads:{};thread-pcs:{};jstopinfo:{};",
            ids.join(","),
            pcs.join(","),
            hex(&Value::Array(infos).to_string())
        );
        if let Some((_, rsp, rbp)) = self.frame_regs(stopped) {
            for (addr, bytes) in self.stack_memory(rsp, rbp) {
                keys.push_str(&format!("memory:0x{addr:x}={};", hex_bytes(&bytes)));
            }
        }
        keys
    }

    /// A thread as `jstopinfo` gives it: tid, name and, if it stopped, reason and signal.
    fn thread_json(&mut self, tid: Tid) -> Value {
        let mut entry = json!({ "tid": tid.get(), "name": self.thread_label(tid) });
        if let Some((sig, kind)) = self.stop_of(tid) {
            entry["reason"] = kind.lldb_reason().into();
            entry["signal"] = sig.into();
        }
        entry
    }

    /// `jThreadsInfo`: every thread with its tid and name; the threads that stopped with their
    /// stop reason, rip/rsp/rbp and stack memory too. lldb takes the stop reasons from here;
    /// without them it may resume on its own. lldb fetches this at every public stop and
    /// unwinds only the selected thread; another thread's registers and stack are read when
    /// lldb asks for them.
    pub(super) fn threads_info(&mut self) -> String {
        let threads = self.client_threads();
        let mut out = Vec::with_capacity(threads.len());
        for tid in threads {
            let mut entry = self.thread_json(tid);
            if entry.get("reason").is_some() {
                if let Some((rip, rsp, rbp)) = self.frame_regs(tid) {
                    let reg = |v: u64| hex_bytes(&v.to_le_bytes());
                    entry["registers"] = json!({ "16": reg(rip), "6": reg(rbp), "7": reg(rsp) });
                    let memory: Vec<Value> = self
                        .stack_memory(rsp, rbp)
                        .into_iter()
                        .map(|(address, bytes)| json!({ "address": address, "bytes": hex_bytes(&bytes) }))
                        .collect();
                    entry["memory"] = memory.into();
                }
            }
            out.push(entry);
        }
        escape_binary(&Value::Array(out).to_string())
    }

    /// The stack a client unwinds through first: `TOP_WORDS` words from rsp, then each
    /// frame's saved rbp and return address along the frame-pointer chain from rbp, and the
    /// two words above the last pair (pairs inside the top block are not repeated).
    /// Unreadable memory ends it.
    fn stack_memory(&mut self, rsp: u64, rbp: u64) -> Vec<(u64, Vec<u8>)> {
        let Ok(backend) = self.session.backend() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut top = vec![0u8; TOP_WORDS * 8];
        let n = backend.read(rsp, &mut top).unwrap_or(0);
        let top_end = rsp + n as u64;
        if n > 0 {
            top.truncate(n);
            out.push((rsp, top));
        }
        let mut fp = rbp;
        for _ in 0..CHAIN_FRAMES {
            if fp < rsp || fp % 8 != 0 {
                break;
            }
            let mut pair = [0u8; 16];
            if !matches!(backend.read(fp, &mut pair), Ok(16)) {
                break;
            }
            if fp + 16 > top_end {
                out.push((fp, pair.to_vec()));
            }
            let next = u64::from_le_bytes(pair[..8].try_into().expect("8 bytes"));
            if next <= fp || next - fp > CHAIN_MAX_STEP {
                // The outermost frame (Go's goexit has none of its own) keeps its return slot
                // right above the last pair.
                let mut slot = [0u8; 16];
                if fp + 32 > top_end && matches!(backend.read(fp + 16, &mut slot), Ok(16)) {
                    out.push((fp + 16, slot.to_vec()));
                }
                break;
            }
            fp = next;
        }
        out
    }
}

/// Escapes `#`, `$`, `}` and `*` as the protocol's binary data requires (`}` then byte ^ 0x20).
pub(super) fn escape_binary_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if matches!(b, b'#' | b'$' | b'}' | b'*') {
            out.extend([b'}', b ^ 0x20]);
        } else {
            out.push(b);
        }
    }
    out
}

/// [`escape_binary_bytes`] for text (the escapes are ASCII, so the result stays UTF-8).
fn escape_binary(s: &str) -> String {
    String::from_utf8(escape_binary_bytes(s.as_bytes())).expect("ASCII escapes keep UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_escapes_are_the_protocol_ones() {
        assert_eq!(
            escape_binary_bytes(b"a#$}*b"),
            b"a}\x03}\x04}]}\nb".to_vec()
        );
        assert_eq!(escape_binary("{\"x\":1}"), "{\"x\":1}]");
    }
}
