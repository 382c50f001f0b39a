//! The traced process: threads, all-stop, resume actions, breakpoints and memory.
//!
//! All-stop: when one thread stops for a reason the client must see, every other thread is
//! stopped with PTRACE_INTERRUPT before the stop is reported. Events that other threads hit
//! while being stopped are kept: a breakpoint hit is rewound and dropped (the thread hits it again
//! when resumed, if the breakpoint is still wanted), a step completion is dropped, a quiet signal
//! is held for the next continue, and any other signal is reported at the next resume.
//!
//! Kernel quirks met here: a new thread's first stop (PTRACE_EVENT_STOP) may arrive before its
//! parent's PTRACE_EVENT_CLONE; a PTRACE_INTERRUPT sent to a thread that stops for another reason
//! first stays pending and shows up as a spurious PTRACE_EVENT_STOP after the next resume; and the
//! thread-group leader's exit is reported only after every other thread has been reaped.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use memcache::{LiveMemory, MemError, PageCache};
use nix::sys::ptrace;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use super::breakpoints::SwBreakpoints;
use super::debugregs::{DebugRegs, HwError, HwKind};
use super::launch::{self, StartError, Stdio};
use super::memory::TargetMemory;
use super::procfs;
use super::signals::SignalSet;
use super::threads::{Action, Thread};
use super::wait::{self, Decision, Waited};

/// Why the process stopped, as the client must hear it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopEvent {
    /// A software breakpoint of ours; the pc is already at the breakpoint address.
    SwBreak {
        tid: Pid,
    },
    HwBreak {
        tid: Pid,
    },
    Watch {
        tid: Pid,
        kind: HwKind,
        addr: u64,
    },
    /// A single step or range step finished.
    Step {
        tid: Pid,
    },
    Signal {
        tid: Pid,
        sig: i32,
    },
    Exited(i32),
    Killed(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Launched,
    Attached,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("ptrace on thread {tid} failed: {source}")]
    Ptrace { tid: i32, source: nix::Error },
    #[error("no thread {0}")]
    NoSuchThread(i32),
    #[error("the process has exited")]
    Exited,
    #[error(transparent)]
    Memory(#[from] MemError),
    #[error("cannot open the memory of process {pid}: {source}")]
    OpenMemory { pid: i32, source: std::io::Error },
    #[error(transparent)]
    Hardware(#[from] HwError),
    #[error("goroutine {goid} is parked: it cannot run alone or have its registers written")]
    GoroutineParked { goid: u64 },
}

/// Whether thread `tid` belongs to process `pid` (a new thread whose clone event is still to
/// come) rather than to a forked child.
fn same_process(pid: Pid, tid: Pid) -> bool {
    let status = procfs::read_text(&format!("/proc/{tid}/status")).unwrap_or_default();
    procfs::status_field(&status, "Tgid:").is_none_or(|tgid| tgid == pid.as_raw() as u64)
}

/// Whether SIGTRAP is queued for thread `tid` (`SigPnd` in its /proc status).
fn sigtrap_pending(tid: Pid) -> bool {
    let Ok(status) = procfs::read_text(&format!("/proc/{tid}/status")) else {
        return false;
    };
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigPnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    mask & (1 << (libc::SIGTRAP - 1)) != 0
}

/// A random index below `len` (len > 0), from the standard library's per-process random keys.
fn random_index(len: usize) -> usize {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(len);
    (h.finish() % len as u64) as usize
}

fn next_stop_id() -> u64 {
    static STOP_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    STOP_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
}

fn ptrace_err(tid: Pid) -> impl FnOnce(nix::Error) -> ProcessError {
    move |source| ProcessError::Ptrace {
        tid: tid.as_raw(),
        source,
    }
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
    quiet: SignalSet,
    running: bool,
    scheduler_locked: bool,
    interrupt_requested: bool,
    stop_id: u64,
    /// Forked children whose first stop came before their parent's fork event.
    early_children: std::collections::BTreeSet<Pid>,
    /// Threads other than the reported one that hit a software breakpoint at this stop (each
    /// rewound to it). lldb is told, so that it does not step them over a hit it never saw.
    other_breakpoint_hits: Vec<Pid>,
    /// Events met while stopping every thread, reported at later resumes.
    pending: VecDeque<StopEvent>,
    exited: bool,
}

impl Inferior {
    pub fn launch(
        program: &Path,
        args: &[OsString],
        stdio: Stdio,
        quiet: SignalSet,
        cache_pages: usize,
    ) -> Result<Inferior, ProcessError> {
        let pid = launch::launch(program, args, stdio)?;
        let mut inf = Inferior::new(pid, Origin::Launched, quiet, cache_pages)?;
        let mut main = Thread::new(pid);
        main.stopped = true;
        inf.threads.insert(pid, main);
        Ok(inf)
    }

    pub fn attach(
        pid: Pid,
        quiet: SignalSet,
        cache_pages: usize,
    ) -> Result<Inferior, ProcessError> {
        let attached = launch::attach(pid)?;
        let mut inf = Inferior::new(pid, Origin::Attached, quiet, cache_pages)?;
        for (tid, held) in attached {
            let mut t = Thread::new(tid);
            t.stopped = true;
            t.held_signal = held;
            inf.threads.insert(tid, t);
        }
        Ok(inf)
    }

    fn new(
        pid: Pid,
        origin: Origin,
        quiet: SignalSet,
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
            exe: std::fs::read_link(format!("/proc/{pid}/exe")).ok(),
            breakpoints: SwBreakpoints::default(),
            debug_regs: DebugRegs::default(),
            quiet,
            running: false,
            scheduler_locked: false,
            interrupt_requested: false,
            stop_id: next_stop_id(),
            other_breakpoint_hits: Vec::new(),
            early_children: Default::default(),
            pending: VecDeque::new(),
            exited: false,
        })
    }

    pub fn pid(&self) -> Pid {
        self.pid
    }

    pub fn origin(&self) -> Origin {
        self.origin
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    pub fn thread_ids(&self) -> impl Iterator<Item = Pid> + '_ {
        self.threads.keys().copied()
    }

    pub fn has_thread(&self, tid: Pid) -> bool {
        self.threads.contains_key(&tid)
    }

    pub fn thread(&mut self, tid: Pid) -> Result<&mut Thread, ProcessError> {
        self.threads
            .get_mut(&tid)
            .ok_or(ProcessError::NoSuchThread(tid.as_raw()))
    }

    pub fn exe(&self) -> Option<&Path> {
        self.exe.as_deref()
    }

    pub fn cache(&self) -> &PageCache<LiveMemory> {
        self.memory.cache()
    }

    /// Starts the per-stop cache figures (the debug log carries the last stop's).
    fn begin_stop(&mut self) {
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

    /// Threads besides the reported one that hit a software breakpoint at this stop.
    pub fn other_breakpoint_hits(&self) -> &[Pid] {
        &self.other_breakpoint_hits
    }

    /// Fetches what the cache lacks of these `(addr, len)` ranges in one batch.
    pub fn prefetch_memory(&mut self, ranges: &[(u64, u64)]) -> Result<(), MemError> {
        self.memory.prefetch(ranges)
    }

    /// Names the current stop, unique across every process of the session: views cached for a
    /// stop compare it.
    pub fn stop_id(&self) -> u64 {
        self.stop_id
    }

    /// Writes target memory; bytes under an inserted breakpoint become its saved original.
    pub fn write_memory(&mut self, addr: u64, data: &[u8]) -> Result<(), MemError> {
        let merged = self.breakpoints.merge_write(addr, data);
        self.write_raw(addr, &merged)
    }

    fn write_raw(&mut self, addr: u64, data: &[u8]) -> Result<(), MemError> {
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

    pub fn remove_sw_breakpoint(&mut self, addr: u64) -> bool {
        self.breakpoints.remove(addr)
    }

    pub fn add_hw(&mut self, addr: u64, len: u64, kind: HwKind) -> Result<(), HwError> {
        self.debug_regs.add(addr, len, kind)
    }

    pub fn remove_hw(&mut self, addr: u64, len: u64, kind: HwKind) -> bool {
        self.debug_regs.remove(addr, len, kind)
    }

    fn sync_breakpoints(&mut self) -> Result<(), ProcessError> {
        let memory = &mut self.memory;
        let patch = self.breakpoints.plan_sync(|addr| {
            let mut b = [0u8; 1];
            match memory.read(addr, &mut b) {
                Ok(1) => Some(b[0]),
                _ => None,
            }
        });
        for (addr, byte) in patch {
            self.write_raw(addr, &[byte])?;
        }
        if self.debug_regs.take_dirty() {
            for t in self.threads.values().filter(|t| t.stopped) {
                self.debug_regs.write_to(t.tid).map_err(ptrace_err(t.tid))?;
            }
        }
        Ok(())
    }

    // ----- resume -----

    pub fn clear_actions(&mut self) {
        self.scheduler_locked = false;
        for t in self.threads.values_mut() {
            t.action = Action::Hold;
        }
    }

    pub fn set_action(&mut self, tid: Pid, action: Action) -> Result<(), ProcessError> {
        self.thread(tid)?.action = action;
        Ok(())
    }

    /// Threads the client did not name stay stopped during the next resume.
    pub fn lock_scheduler(&mut self) {
        self.scheduler_locked = true;
    }

    /// Applies breakpoint changes and starts the threads as their actions say. When an event is
    /// already pending, nothing runs and the event is reported by the next `poll_stop`.
    pub fn resume(&mut self) -> Result<(), ProcessError> {
        if self.exited {
            return Err(ProcessError::Exited);
        }
        self.sync_breakpoints()?;
        self.memory.on_resume();
        self.other_breakpoint_hits.clear();
        self.running = true;
        if !self.pending.is_empty() {
            return Ok(());
        }
        let locked = self.scheduler_locked;
        for t in self.threads.values_mut() {
            if !t.stopped {
                continue;
            }
            let action = match t.action {
                Action::Hold if !locked => Action::Continue(None),
                other => other,
            };
            let result = match action {
                Action::Hold => continue,
                Action::Continue(sig) => {
                    let sig = sig.or_else(|| t.held_signal.take());
                    t.run(false, sig)
                }
                Action::Step(sig) => t.run(true, sig),
                Action::RangeStep { .. } => t.run(true, None),
            };
            match result {
                // The thread died while stopped; its exit status is reaped by poll_stop.
                Ok(()) | Err(nix::Error::ESRCH) => {}
                Err(source) => {
                    return Err(ProcessError::Ptrace {
                        tid: t.tid.as_raw(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// Whether an event kept from the last stop waits to be reported.
    pub fn has_pending_event(&self) -> bool {
        !self.pending.is_empty() || self.exited
    }

    /// Ctrl-C from the client: stops every thread; the next `poll_stop` reports SIGINT.
    pub fn interrupt(&mut self) {
        self.interrupt_requested = true;
        for t in self.threads.values().filter(|t| !t.stopped) {
            let _ = ptrace::interrupt(t.tid);
        }
    }

    /// Collects wait statuses without blocking. Returns the stop to report once every thread is
    /// stopped, or `None` while the process keeps running.
    pub fn poll_stop(&mut self) -> Result<Option<StopEvent>, ProcessError> {
        if !self.running {
            return Ok(None);
        }
        if let Some(event) = self.pending.pop_front() {
            return Ok(Some(self.finish_stop(event)?));
        }
        loop {
            let Some(status) = self.next_status(false)? else {
                return match self.pending.pop_front() {
                    Some(event) => Ok(Some(self.finish_stop(event)?)),
                    None => Ok(None),
                };
            };
            if let Some(event) = self.on_status(status, false)? {
                return Ok(Some(self.finish_stop(event)?));
            }
        }
    }

    /// The next wait status of any thread (`None`: none ready, when not blocking). ECHILD means
    /// nothing traced is left: the process is marked gone and its end queued as killed.
    fn next_status(&mut self, block: bool) -> Result<Option<WaitStatus>, ProcessError> {
        match wait::wait(None, block).map_err(ptrace_err(Pid::from_raw(-1)))? {
            Waited::Status(status) => Ok(Some(status)),
            Waited::Nothing => Ok(None),
            Waited::NoChildren => {
                self.mark_exited();
                self.pending.push_back(StopEvent::Killed(libc::SIGKILL));
                Ok(None)
            }
        }
    }

    fn finish_stop(&mut self, mut event: StopEvent) -> Result<StopEvent, ProcessError> {
        if !matches!(event, StopEvent::Exited(_) | StopEvent::Killed(_)) {
            let mut also_hit = self.stop_all()?;
            if let StopEvent::SwBreak { tid } = event {
                // As gdbserver: report a random one of the threads that hit a breakpoint, so
                // one busy thread cannot starve the others in the client's view.
                also_hit.push(tid);
                let chosen = also_hit.swap_remove(random_index(also_hit.len()));
                event = StopEvent::SwBreak { tid: chosen };
            }
            self.other_breakpoint_hits = also_hit;
        }
        self.running = false;
        self.interrupt_requested = false;
        self.stop_id = next_stop_id();
        self.begin_stop();
        if let Some(tid) = event.thread() {
            self.prefetch_stop_pages(tid);
        }
        Ok(event)
    }

    /// Plans the pages the client reads at almost every stop (the stack near rsp and rbp of the
    /// reporting thread, and the code at its pc) to come in one batch with the first read.
    fn prefetch_stop_pages(&mut self, tid: Pid) {
        let Ok(regs) = self
            .thread(tid)
            .and_then(|t| t.gprs().map(|g| *g).map_err(ptrace_err(tid)))
        else {
            return;
        };
        let page = |a: u64| a & !0xfff;
        self.memory.prefetch_with_first_read(vec![
            (page(regs.rsp), 0x2000),
            (page(regs.rbp), 0x1000),
            (page(regs.rip.saturating_sub(64)), 0x1000),
        ]);
    }

    /// Stops every running thread and waits until each is in a ptrace-stop (bounded by the
    /// threads that exist; a thread that exits meanwhile is dropped).
    /// Returns the threads that hit a software breakpoint meanwhile (each rewound to it).
    fn stop_all(&mut self) -> Result<Vec<Pid>, ProcessError> {
        let mut also_hit = Vec::new();
        for t in self
            .threads
            .values()
            .filter(|t| !t.stopped && !t.awaiting_first_stop)
        {
            let _ = ptrace::interrupt(t.tid);
        }
        while !self.exited && self.threads.values().any(|t| !t.stopped) {
            let Some(status) = self.next_status(true)? else {
                break;
            };
            match self.on_status(status, true)? {
                // Rewound already: the thread hits the breakpoint again when resumed, if the
                // breakpoint is still wanted.
                Some(StopEvent::SwBreak { tid }) => also_hit.push(tid),
                Some(event) => self.pending.push_back(event),
                None => {}
            }
        }
        Ok(also_hit)
    }

    fn mark_exited(&mut self) {
        self.exited = true;
        self.running = false;
        self.threads.clear();
        self.breakpoints.forget_inserted();
    }

    /// Handles one wait status. `stopping` is true while all threads are being stopped: then
    /// nothing is resumed. Returns an event the client must see.
    fn on_status(
        &mut self,
        status: WaitStatus,
        stopping: bool,
    ) -> Result<Option<StopEvent>, ProcessError> {
        log::trace!("wait status {status:?} (stopping: {stopping})");
        if let Some(tid) = status.pid() {
            if !self.threads.contains_key(&tid) && tid != self.pid && !same_process(self.pid, tid) {
                // A forked child's first stop, ahead of its parent's fork event: it waits there
                // until `release_child` lets it go.
                self.early_children.insert(tid);
                return Ok(None);
            }
        }
        match wait::decide(status) {
            Decision::Gone { tid, end } => Ok(self.on_thread_gone(tid, end)),
            Decision::Cloned { tid } => {
                let new_tid = ptrace::getevent(tid).map_err(ptrace_err(tid))? as i32;
                let new_tid = Pid::from_raw(new_tid);
                self.threads.entry(new_tid).or_insert_with(|| {
                    let mut t = Thread::new(new_tid);
                    t.awaiting_first_stop = true;
                    t
                });
                self.mark_stopped(tid);
                if !stopping {
                    self.rerun(tid)?;
                }
                Ok(None)
            }
            Decision::Forked { tid, vfork } => {
                let child = Pid::from_raw(ptrace::getevent(tid).map_err(ptrace_err(tid))? as i32);
                self.release_child(child, vfork);
                self.mark_stopped(tid);
                if !stopping {
                    self.rerun(tid)?;
                }
                Ok(None)
            }
            Decision::Exec { tid } => {
                // The program replaced itself: one thread remains, under the leader's id.
                self.threads.clear();
                let mut leader = Thread::new(self.pid);
                leader.stopped = true;
                self.threads.insert(self.pid, leader);
                self.breakpoints.forget_inserted();
                self.memory.forget_all();
                self.exe = std::fs::read_link(format!("/proc/{}/exe", self.pid)).ok();
                let _ = tid;
                Ok(Some(StopEvent::Signal {
                    tid: self.pid,
                    sig: libc::SIGTRAP,
                }))
            }
            Decision::EventStop { tid } => {
                let first = self.threads.get(&tid).is_none_or(|t| t.awaiting_first_stop);
                self.mark_stopped(tid);
                if first && !self.debug_regs.is_empty() {
                    self.debug_regs.write_to(tid).map_err(ptrace_err(tid))?;
                }
                if stopping {
                    return Ok(None);
                }
                if self.interrupt_requested && !first {
                    return Ok(Some(StopEvent::Signal {
                        tid,
                        sig: libc::SIGINT,
                    }));
                }
                // A new thread starts running; a spurious interrupt (left pending by a stop-all
                // that the thread answered with another stop) or a group stop is resumed as the
                // thread was running: a stepping thread keeps stepping.
                self.rerun(tid)?;
                Ok(None)
            }
            Decision::OtherEvent { tid } | Decision::SyscallStop { tid } => {
                self.mark_stopped(tid);
                if !stopping {
                    self.rerun(tid)?;
                }
                Ok(None)
            }
            Decision::Trap { tid } => {
                self.mark_stopped(tid);
                self.on_sigtrap(tid, stopping)
            }
            Decision::Signal { tid, sig } => {
                self.mark_stopped(tid);
                if self.quiet.contains(sig) {
                    let t = self.thread(tid)?;
                    let stepping = matches!(t.action, Action::Step(_) | Action::RangeStep { .. });
                    if stopping || stepping {
                        t.held_signal = Some(sig);
                        if !stopping {
                            t.run(true, None).map_err(ptrace_err(tid))?;
                        }
                    } else {
                        t.run(false, Some(sig)).map_err(ptrace_err(tid))?;
                    }
                    return Ok(None);
                }
                Ok(Some(StopEvent::Signal { tid, sig }))
            }
            Decision::Nothing => Ok(None),
        }
    }

    /// A thread interrupted right after it executed one of our int3s reports the interrupt
    /// first and still has the SIGTRAP queued; left alone, the signal would reach the program
    /// after a detach and kill it. Such a thread is resumed to take the SIGTRAP under ptrace,
    /// where `on_sigtrap` rewinds it. Returns whether the thread was resumed.
    fn collect_pending_breakpoint_trap(&mut self, tid: Pid) -> Result<bool, ProcessError> {
        let pc = self.thread(tid)?.pc().map_err(ptrace_err(tid))?;
        if !self.breakpoints.is_inserted(pc.wrapping_sub(1)) || !sigtrap_pending(tid) {
            return Ok(false);
        }
        self.thread(tid)?
            .run(false, None)
            .map_err(ptrace_err(tid))?;
        Ok(true)
    }

    /// Blocks until `tid` is in a ptrace-stop again (or gone); other threads' statuses met
    /// meanwhile are handled as during a stop-all.
    fn wait_for_thread_stop(&mut self, tid: Pid) -> Result<(), ProcessError> {
        while self.threads.get(&tid).is_some_and(|t| !t.stopped) && !self.exited {
            let Some(status) = self.next_status(true)? else {
                continue;
            };
            if let Some(event) = self.on_status(status, true)? {
                if !matches!(event, StopEvent::SwBreak { .. }) {
                    self.pending.push_back(event);
                }
            }
        }
        Ok(())
    }

    /// A child the program forked starts traced (ptrace follows forks so that this can run): its
    /// copy of memory still holds our int3 bytes, which are put back to the originals before it
    /// is let go. A vfork child shares the parent's memory and runs only until it execs; it is
    /// let go as it is. Kernel quirk: the child's first stop may have been collected already, as
    /// a process we do not trace.
    fn release_child(&mut self, child: Pid, shares_memory: bool) {
        if !self.early_children.remove(&child) {
            match wait::wait(Some(child), true) {
                Ok(Waited::Status(status)) if wait::decide(status).is_stop() => {}
                _ => return,
            }
        }
        if !shares_memory {
            if let Ok(mut mem) = memcache::ProcMem::open(child.as_raw()) {
                for (addr, orig) in self.breakpoints.inserted_originals() {
                    if let Err(e) = mem.write(addr, &[orig]) {
                        log::warn!(
                            "forked child {child}: breakpoint at {addr:#x} not removed: {e}"
                        );
                    }
                }
            }
        }
        if let Err(e) = ptrace::detach(child, None) {
            log::warn!("forked child {child}: detach failed: {e}");
        }
    }

    fn on_thread_gone(&mut self, tid: Pid, leader_event: StopEvent) -> Option<StopEvent> {
        if tid == self.pid {
            self.mark_exited();
            return Some(leader_event);
        }
        self.threads.remove(&tid);
        None
    }

    fn mark_stopped(&mut self, tid: Pid) {
        let t = self.threads.entry(tid).or_insert_with(|| Thread::new(tid));
        t.stopped = true;
        t.awaiting_first_stop = false;
    }

    /// Resumes a thread that stopped for something the client need not see, as it was running.
    fn rerun(&mut self, tid: Pid) -> Result<(), ProcessError> {
        let t = self.thread(tid)?;
        let step = matches!(t.action, Action::Step(_) | Action::RangeStep { .. });
        t.run(step, None).map_err(ptrace_err(tid))
    }

    fn on_sigtrap(&mut self, tid: Pid, stopping: bool) -> Result<Option<StopEvent>, ProcessError> {
        let info = ptrace::getsiginfo(tid).map_err(ptrace_err(tid))?;
        const SI_KERNEL: i32 = 0x80;
        const TRAP_BRKPT: i32 = 1;
        const TRAP_TRACE: i32 = 2;
        const TRAP_HWBKPT: i32 = 4;
        match info.si_code {
            SI_KERNEL | TRAP_BRKPT => {
                let t = self.thread(tid)?;
                let stepping = matches!(t.action, Action::Step(_) | Action::RangeStep { .. });
                let pc = t.pc().map_err(ptrace_err(tid))?;
                let bp = pc.wrapping_sub(1);
                if self.breakpoints.is_inserted(bp) {
                    // Always report a software breakpoint with the pc AT the breakpoint, whether
                    // or not the client offered swbreak+ (lldb does not).
                    self.thread(tid)?.set_pc(bp).map_err(ptrace_err(tid))?;
                    return Ok(Some(StopEvent::SwBreak { tid }));
                }
                if self.breakpoints.was_just_removed(bp) {
                    // A late report of a breakpoint the client has removed since: the
                    // instruction under it has not run yet.
                    self.thread(tid)?.set_pc(bp).map_err(ptrace_err(tid))?;
                    if !stopping {
                        self.rerun(tid)?;
                    }
                    return Ok(None);
                }
                if stepping {
                    // x86 reports a step over `syscall` as TRAP_BRKPT.
                    return self.on_step_done(tid, stopping);
                }
                Ok(Some(StopEvent::Signal {
                    tid,
                    sig: libc::SIGTRAP,
                }))
            }
            TRAP_TRACE => self.on_step_done(tid, stopping),
            TRAP_HWBKPT => match self.debug_regs.triggered(tid).map_err(ptrace_err(tid))? {
                Some((_, HwKind::Execute)) => Ok((!stopping).then_some(StopEvent::HwBreak { tid })),
                Some((addr, kind)) => Ok(Some(StopEvent::Watch { tid, kind, addr })),
                None => self.on_step_done(tid, stopping),
            },
            _ => Ok(Some(StopEvent::Signal {
                tid,
                sig: libc::SIGTRAP,
            })),
        }
    }

    fn on_step_done(
        &mut self,
        tid: Pid,
        stopping: bool,
    ) -> Result<Option<StopEvent>, ProcessError> {
        if stopping {
            return Ok(None);
        }
        let t = self.thread(tid)?;
        if let Action::RangeStep { start, end } = t.action {
            let pc = t.pc().map_err(ptrace_err(tid))?;
            if (start..end).contains(&pc) && !self.breakpoints.is_inserted(pc) {
                self.thread(tid)?.run(true, None).map_err(ptrace_err(tid))?;
                return Ok(None);
            }
        }
        Ok(Some(StopEvent::Step { tid }))
    }

    // ----- ending the session -----

    /// Kills the process and reaps it.
    pub fn kill(&mut self) {
        if self.exited {
            return;
        }
        let _ = kill(self.pid, Signal::SIGKILL);
        // Reap every thread; the leader's status comes last (bounded by the kernel's reaping).
        while let Ok(Waited::Status(status)) = wait::wait(None, true) {
            if matches!(wait::decide(status), Decision::Gone { tid, .. } if tid == self.pid) {
                break;
            }
        }
        self.mark_exited();
    }

    /// Takes every breakpoint out, clears the debug registers and lets the process run on.
    pub fn detach(&mut self) -> Result<(), ProcessError> {
        if self.exited {
            return Ok(());
        }
        if self.running {
            self.interrupt_requested = false;
            self.stop_all()?;
            self.running = false;
        }
        // Breakpoint hits met while stopping were rewound; they simply do not happen. A hit
        // still queued behind an interrupt stop is taken now, while the int3 is there to see.
        let tids: Vec<Pid> = self.threads.keys().copied().collect();
        for tid in tids {
            if self.collect_pending_breakpoint_trap(tid)? {
                self.wait_for_thread_stop(tid)?;
            }
        }
        for (addr, byte) in self.breakpoints.plan_remove_all() {
            self.write_raw(addr, &[byte])?;
        }
        let had_debug_regs = !self.debug_regs.is_empty();
        self.debug_regs = DebugRegs::default();
        for t in self.threads.values_mut() {
            if had_debug_regs {
                let _ = self.debug_regs.write_to(t.tid);
            }
            let _ = t.flush_registers();
            let sig = t.held_signal.take().and_then(|s| Signal::try_from(s).ok());
            let _ = ptrace::detach(t.tid, sig);
        }
        // Signals met while stopping that the client never saw go back to the program.
        for event in self.pending.drain(..) {
            if let StopEvent::Signal { tid, sig } = event {
                if sig != libc::SIGTRAP {
                    let _ = nix::sys::signal::kill(tid, Signal::try_from(sig).ok());
                }
            }
        }
        self.mark_exited();
        Ok(())
    }

    /// What a client disconnect does, as gdbserver: a launched process is killed, an attached
    /// one detached.
    pub fn release(&mut self) {
        match self.origin {
            Origin::Launched => self.kill(),
            Origin::Attached => {
                if let Err(e) = self.detach() {
                    log::error!("detach failed: {e}");
                    self.kill();
                }
            }
        }
    }
}

impl StopEvent {
    /// The thread the stop names, if any.
    pub fn thread(self) -> Option<Pid> {
        match self {
            StopEvent::SwBreak { tid }
            | StopEvent::HwBreak { tid }
            | StopEvent::Watch { tid, .. }
            | StopEvent::Step { tid }
            | StopEvent::Signal { tid, .. } => Some(tid),
            StopEvent::Exited(_) | StopEvent::Killed(_) => None,
        }
    }
}

impl Drop for Inferior {
    /// Never leave the debuggee with our int3 bytes, whatever ended the session.
    fn drop(&mut self) {
        self.release();
    }
}
