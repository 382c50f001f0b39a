//! The live process as the [`Backend`] the protocol glue talks to, and as goruntime's
//! [`MemorySource`]: reads go through the page cache and never show our int3 bytes.
//!
//! /proc quirks: once the thread-group leader exited alone, /proc of its pid reaches no memory,
//! maps or auxv, so those come through another thread. The link map is read through a private
//! /proc/PID/mem handle (the query has `&self`, and the link map is data, never
//! breakpoint-patched text), not the shared cache.

use std::path::{Path, PathBuf};

use memcache::{MemError, MemorySource, ProcMem, ReadRequest};
use nix::unistd::Pid;

use super::super::backend::{Backend, MemoryStats};
use super::super::debugregs::{HwError, HwKind};
use super::super::error::ptrace_err;
use super::super::procfs::{self, ProcessInfo, Region};
use super::super::regs::XState;
use super::super::siginfo::{self, SIGINFO_SIZE};
use super::super::signals::SignalRules;
use super::super::svr4::{self, LinkMap};
use super::super::threads::Action;
use super::super::wait;
use super::super::{NonStop, Origin, ProcessError, StopEvent};
use super::{ForkEvents, Inferior};

impl MemorySource for Inferior {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        self.read_memory(addr, buf)
    }

    fn read_batch(&mut self, requests: &mut [ReadRequest<'_>]) -> Result<(), MemError> {
        self.read_memory_batch(requests)
    }

    fn prefetch(&mut self, ranges: &[(u64, u64)]) -> Result<(), MemError> {
        self.prefetch_memory(ranges)
    }
}

fn proc_err(pid: Pid, what: &'static str) -> impl FnOnce(std::io::Error) -> ProcessError {
    move |source| ProcessError::Proc {
        pid: pid.as_raw(),
        what,
        source,
    }
}

impl Inferior {
    /// A task whose /proc entry reaches the process's memory: the leader, or once it exited
    /// alone (a zombie has no mm), another thread.
    fn live_task(&self) -> Pid {
        match self.threads.keys().next() {
            Some(&tid) if !self.threads.contains_key(&self.pid) => tid,
            _ => self.pid,
        }
    }

    fn known_thread(&self, tid: Pid) -> Result<(), ProcessError> {
        if self.threads.contains_key(&tid) {
            Ok(())
        } else {
            Err(ProcessError::NoSuchThread(tid.as_raw()))
        }
    }
}

impl Backend for Inferior {
    fn pid(&self) -> Pid {
        self.pid
    }

    fn origin(&self) -> Origin {
        self.origin
    }

    fn exe(&self) -> Option<&Path> {
        self.exe.as_deref()
    }

    fn stop_id(&self) -> u64 {
        self.stop_id
    }

    fn is_running(&self) -> bool {
        self.running
    }

    fn memory_stats(&self) -> MemoryStats {
        let cache = self.memory.cache();
        MemoryStats {
            last_stop: cache.stats_last_stop(),
            total: cache.stats_total(),
            syscalls: cache.source().counters(),
        }
    }

    fn thread_ids(&self) -> Vec<Pid> {
        self.threads.keys().copied().collect()
    }

    fn has_thread(&self, tid: Pid) -> bool {
        self.threads.contains_key(&tid)
    }

    fn thread_name(&self, tid: Pid) -> Option<String> {
        procfs::thread_name(self.pid, tid)
    }

    fn gprs(&mut self, tid: Pid) -> Result<libc::user_regs_struct, ProcessError> {
        Ok(*self.thread(tid)?.gprs().map_err(ptrace_err(tid))?)
    }

    fn gprs_if_read(&self, tid: Pid) -> Option<libc::user_regs_struct> {
        self.threads.get(&tid)?.gprs_if_read().copied()
    }

    fn fs_base_seen(&self, tid: Pid) -> Option<u64> {
        self.threads.get(&tid)?.fs_base_seen()
    }

    fn xstate(&mut self, tid: Pid) -> Result<&XState, ProcessError> {
        match self.thread(tid)?.xstate() {
            Ok(x) => Ok(x),
            Err(e) => Err(ptrace_err(tid)(e)),
        }
    }

    fn edit_registers(
        &mut self,
        tid: Pid,
        edit: &mut dyn FnMut(&mut libc::user_regs_struct, &mut XState),
    ) -> Result<(), ProcessError> {
        self.thread(tid)?
            .edit_registers(edit)
            .map_err(ptrace_err(tid))
    }

    fn siginfo(&self, tid: Pid) -> Result<[u8; SIGINFO_SIZE], ProcessError> {
        self.known_thread(tid)?;
        siginfo::read(tid)
    }

    fn set_siginfo(&mut self, tid: Pid, info: &[u8; SIGINFO_SIZE]) -> Result<(), ProcessError> {
        self.known_thread(tid)?;
        siginfo::write(tid, info)
    }

    fn write_memory(&mut self, addr: u64, data: &[u8]) -> Result<(), ProcessError> {
        Ok(Inferior::write_memory(self, addr, data)?)
    }

    fn add_sw_breakpoint(&mut self, addr: u64) -> Result<(), MemError> {
        Inferior::add_sw_breakpoint(self, addr)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64) -> bool {
        self.breakpoints.remove(addr)
    }

    fn add_hw(&mut self, addr: u64, len: u64, kind: HwKind) -> Result<(), HwError> {
        self.debug_regs.add(addr, len, kind)
    }

    fn remove_hw(&mut self, addr: u64, len: u64, kind: HwKind) -> bool {
        self.debug_regs.remove(addr, len, kind)
    }

    fn clear_actions(&mut self) {
        Inferior::clear_actions(self)
    }

    fn set_action(&mut self, tid: Pid, action: Action) -> Result<(), ProcessError> {
        self.thread(tid)?.action = action;
        Ok(())
    }

    fn lock_scheduler(&mut self) {
        self.scheduler_locked = true;
    }

    fn set_signal_rules(&mut self, rules: SignalRules) {
        self.signals = rules;
    }

    fn resume(&mut self) -> Result<(), ProcessError> {
        Inferior::resume(self)
    }

    fn has_actions(&self) -> bool {
        self.threads.values().any(|t| t.action != Action::Hold)
    }

    fn halt(&mut self) -> Result<(), ProcessError> {
        Inferior::halt(self)
    }

    fn interrupt(&mut self) {
        Inferior::interrupt(self)
    }

    fn poll_stop(&mut self) -> Result<Option<StopEvent>, ProcessError> {
        Inferior::poll_stop(self)
    }

    fn has_pending_event(&self) -> bool {
        (self.running && (self.has_reportable() || wait::has_stashed(|s| self.claims(s))))
            || self.exited
            || self.nothing_resumed()
    }

    fn set_fork_events(&mut self, events: ForkEvents) {
        self.fork_events = events;
    }

    fn take_forked(&mut self) -> Vec<Box<dyn Backend>> {
        Inferior::take_forked(self)
    }

    fn forget_shared_breakpoints(&mut self) {
        Inferior::forget_shared_breakpoints(self)
    }

    fn other_breakpoint_hits(&self) -> &[Pid] {
        &self.other_breakpoint_hits
    }

    fn non_stop_control(&mut self) -> Option<&mut dyn NonStop> {
        Some(self)
    }

    fn non_stop_state(&self) -> Option<&dyn NonStop> {
        Some(self)
    }

    fn auxv(&self) -> Result<Vec<u8>, ProcessError> {
        let task = self.live_task();
        procfs::read(&format!("/proc/{task}/auxv")).map_err(proc_err(task, "auxv"))
    }

    fn link_map(&self) -> Result<LinkMap, ProcessError> {
        let auxv = self.auxv()?;
        let mut mem = ProcMem::open(self.live_task().as_raw()).map_err(|source| {
            ProcessError::OpenMemory {
                pid: self.pid.as_raw(),
                source,
            }
        })?;
        Ok(svr4::link_map(&mut mem, &auxv)?)
    }

    fn process_info(&self) -> Result<ProcessInfo, ProcessError> {
        Ok(procfs::process_info(self.pid))
    }

    fn working_dir(&self) -> Result<PathBuf, ProcessError> {
        procfs::working_dir(self.pid).map_err(proc_err(self.pid, "cwd"))
    }

    fn regions(&self) -> Result<Vec<Region>, ProcessError> {
        let task = self.live_task();
        procfs::regions(task).map_err(proc_err(task, "maps"))
    }

    fn detach(&mut self) -> Result<(), ProcessError> {
        Inferior::detach(self)
    }

    fn kill(&mut self) {
        Inferior::kill(self)
    }

    fn release(&mut self) {
        Inferior::release(self)
    }
}
