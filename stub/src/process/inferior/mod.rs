//! The traced process (the live backend): its types and state, how it starts, and its memory and
//! breakpoint front. Resume, wait-status handling, teardown and the `Backend` impl live in the
//! submodules.
//!
//! All-stop: when one thread stops for a reason the client must see, every other thread is
//! stopped with PTRACE_INTERRUPT before the stop is reported. Events that other threads hit
//! while being stopped are kept: a breakpoint hit is rewound and dropped (the thread hits it again
//! when resumed, if the breakpoint is still wanted), a step completion is dropped, a quiet signal
//! is held for the next continue, and any other event is reported at the next resume that runs
//! its thread (under scheduler locking, a held thread's event waits).
//!
//! Kernel quirks met here: a new thread's first stop (PTRACE_EVENT_STOP) may arrive before its
//! parent's PTRACE_EVENT_CLONE; a PTRACE_INTERRUPT sent to a thread that stops for another reason
//! first stays pending and shows up as a spurious PTRACE_EVENT_STOP after the next resume; and the
//! thread-group leader's exit is reported only after every other thread has been reaped.

mod fork;
mod live;
pub mod non_stop;
mod resume;
mod stops;
mod teardown;

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use memcache::MemError;
use nix::unistd::Pid;

use super::breakpoints::SwBreakpoints;
use super::debugregs::DebugRegs;
use super::error::ptrace_err;
use super::launch::{self, Stdio};
use super::memory::TargetMemory;
use super::signals::SignalRules;
use super::threads::Thread;
use super::{Origin, ProcessError, StopEvent};
pub use fork::ForkEvents;

pub(super) fn next_stop_id() -> u64 {
    static STOP_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    STOP_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
}

pub struct Inferior {
    pid: Pid,
    origin: Origin,
    threads: BTreeMap<Pid, Thread>,
    memory: TargetMemory,
    /// The program file, as /proc/PID/exe names it (read at start and after each exec).
    exe: Option<PathBuf>,
    breakpoints: SwBreakpoints,
    debug_regs: DebugRegs,
    signals: SignalRules,
    running: bool,
    scheduler_locked: bool,
    interrupt_requested: bool,
    stop_id: u64,
    /// The page cache size, for the processes it forks.
    cache_pages: usize,
    /// Which forks are stops, with their children held (`fork.rs`).
    fork_events: ForkEvents,
    /// Children held since the session last took them.
    forked: Vec<Inferior>,
    /// A vfork child: the parent whose memory it shares (until it execs or exits).
    vfork_parent: Option<Pid>,
    /// Threads other than the reported one that hit a software breakpoint at this stop (each
    /// rewound to it). lldb is told, so that it does not step them over a hit it never saw.
    other_breakpoint_hits: Vec<Pid>,
    /// Events met while stopping every thread, reported at later resumes.
    pending: VecDeque<StopEvent>,
    exited: bool,
    /// Non-stop mode's state (`non_stop.rs`).
    non_stop: non_stop::NonStopState,
}

impl Inferior {
    pub fn launch(
        program: &Path,
        args: &[OsString],
        stdio: Stdio,
        signals: SignalRules,
        cache_pages: usize,
    ) -> Result<Inferior, ProcessError> {
        let pid = launch::launch(program, args, stdio)?;
        let mut inf = Inferior::new(pid, Origin::Launched, signals, cache_pages)?;
        let mut main = Thread::new(pid);
        main.stopped = true;
        inf.threads.insert(pid, main);
        Ok(inf)
    }

    pub fn attach(
        pid: Pid,
        signals: SignalRules,
        cache_pages: usize,
    ) -> Result<Inferior, ProcessError> {
        let attached = launch::attach(pid)?;
        let mut inf = Inferior::new(pid, Origin::Attached, signals, cache_pages)?;
        for (tid, held) in attached {
            let mut t = Thread::new(tid);
            t.stopped = true;
            t.held_signal = held;
            inf.threads.insert(tid, t);
        }
        Ok(inf)
    }

    pub(super) fn new(
        pid: Pid,
        origin: Origin,
        signals: SignalRules,
        cache_pages: usize,
    ) -> Result<Inferior, ProcessError> {
        let memory =
            TargetMemory::new(pid, cache_pages).map_err(|source| ProcessError::OpenMemory {
                pid: pid.as_raw(),
                source,
            })?;
        Ok(Inferior {
            pid,
            origin,
            threads: BTreeMap::new(),
            memory,
            exe: super::procfs::program_of(pid).ok(),
            breakpoints: SwBreakpoints::default(),
            debug_regs: DebugRegs::default(),
            signals,
            running: false,
            scheduler_locked: false,
            interrupt_requested: false,
            stop_id: next_stop_id(),
            other_breakpoint_hits: Vec::new(),
            cache_pages,
            fork_events: ForkEvents::default(),
            forked: Vec::new(),
            vfork_parent: None,
            pending: VecDeque::new(),
            exited: false,
            non_stop: Default::default(),
        })
    }

    pub(super) fn thread(&mut self, tid: Pid) -> Result<&mut Thread, ProcessError> {
        self.threads
            .get_mut(&tid)
            .ok_or(ProcessError::NoSuchThread(tid.as_raw()))
    }

    /// Starts the per-stop cache figures (the debug log carries the last stop's).
    pub(super) fn begin_stop(&mut self) {
        let last = self.memory.cache().stats_last_stop();
        log::debug!(
            "stop figures: {} hits, {} misses, {} pages in {} batches; syscalls {:?}",
            last.hits,
            last.misses,
            last.pages_fetched,
            last.batches,
            self.memory.cache().source().counters()
        );
        self.memory.begin_stop();
    }

    // ----- memory -----

    /// Reads target memory as the program sees it: our int3 bytes never show.
    pub fn read_memory(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        let n = self.memory.read(addr, buf)?;
        self.breakpoints.shadow(addr, &mut buf[..n]);
        Ok(n)
    }

    /// Reads several ranges in one batch, as `read_memory` sees them.
    pub fn read_memory_batch(
        &mut self,
        requests: &mut [memcache::ReadRequest<'_>],
    ) -> Result<(), MemError> {
        self.memory.read_batch(requests)?;
        for r in requests.iter_mut() {
            let got = r.got.min(r.buf.len());
            self.breakpoints.shadow(r.addr, &mut r.buf[..got]);
        }
        Ok(())
    }

    /// Fetches what the cache lacks of these `(addr, len)` ranges in one batch.
    pub fn prefetch_memory(&mut self, ranges: &[(u64, u64)]) -> Result<(), MemError> {
        self.memory.prefetch(ranges)
    }

    /// Writes target memory; bytes under an inserted breakpoint become its saved original, as
    /// far as the write got (a write that fails part way changes only the originals before it).
    pub fn write_memory(&mut self, addr: u64, data: &[u8]) -> Result<(), MemError> {
        let out = self.breakpoints.keep_int3s(addr, data);
        let result = self.write_raw(addr, &out);
        let written = match &result {
            Ok(()) => data.len(),
            Err(MemError::Unwritable { addr: at }) => {
                (at.saturating_sub(addr) as usize).min(data.len())
            }
            Err(_) => 0,
        };
        self.breakpoints.note_written(addr, &data[..written]);
        result
    }

    pub(super) fn write_raw(&mut self, addr: u64, data: &[u8]) -> Result<(), MemError> {
        self.memory.write(addr, data)
    }

    // ----- breakpoints -----

    pub fn add_sw_breakpoint(&mut self, addr: u64) -> Result<(), MemError> {
        // Refuse an address we could never patch, so the client hears it now. gdb's churn
        // re-adds breakpoints whose bytes we know: those need no probe.
        if !self.breakpoints.knows_original(addr) {
            let mut probe = [0u8; 1];
            self.read_memory(addr, &mut probe)?;
        }
        self.breakpoints.add(addr);
        Ok(())
    }

    pub(super) fn sync_breakpoints(&mut self) -> Result<(), ProcessError> {
        let memory = &mut self.memory;
        let patch = self.breakpoints.plan_sync(|addr| {
            let mut b = [0u8; 1];
            match memory.read(addr, &mut b) {
                Ok(1) => Some(b[0]),
                _ => None,
            }
        });
        // Every write is tried; one that fails leaves its breakpoint as the target has it, so
        // that no int3 is forgotten (the next sync tries again) and none is believed in.
        let mut failed = None;
        for (addr, byte) in patch {
            if let Err(e) = self.write_raw(addr, &[byte]) {
                self.breakpoints.write_failed(addr, byte);
                failed.get_or_insert(e);
            }
        }
        if let Some(e) = failed {
            return Err(e.into());
        }
        if self.debug_regs.take_dirty() {
            for t in self.threads.values().filter(|t| t.stopped) {
                self.debug_regs.write_to(t.tid).map_err(ptrace_err(t.tid))?;
            }
        }
        Ok(())
    }
}
