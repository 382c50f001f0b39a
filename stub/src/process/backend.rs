//! The interface the protocol glue talks to: memory, registers, threads, resume and stop events,
//! and the facts a client asks about the process. The live ptrace process (`Inferior`)
//! implements it; a read-only backend (a core file) implements the same trait and refuses what it
//! cannot do with a typed [`ProcessError`], which `gdb/error.rs` maps to one reply.
//!
//! Memory comes through the [`MemorySource`] supertrait: what the client and goruntime read is
//! what the program sees (no int3 bytes of ours), through the backend's cache.

use std::path::{Path, PathBuf};

use memcache::{CacheStats, MemError, MemorySource, SyscallCounters};
use nix::unistd::Pid;

use super::debugregs::{HwError, HwKind};
use super::inferior::ForkEvents;
use super::procfs::{ProcessInfo, Region};
use super::regs::XState;
use super::siginfo::SIGINFO_SIZE;
use super::signals::SignalRules;
use super::svr4::LinkMap;
use super::threads::Action;
use super::NonStop;
use super::{Origin, ProcessError, StopEvent};

/// Cache and syscall figures for `monitor stats`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryStats {
    pub last_stop: CacheStats,
    pub total: CacheStats,
    pub syscalls: SyscallCounters,
}

pub trait Backend: MemorySource {
    // ----- the process -----
    fn pid(&self) -> Pid;
    fn origin(&self) -> Origin;
    /// The program file, as the process names it.
    fn exe(&self) -> Option<&Path>;
    /// Names the current stop, unique across every process of the session.
    fn stop_id(&self) -> u64;
    fn is_running(&self) -> bool;
    fn memory_stats(&self) -> MemoryStats;

    // ----- threads and registers -----
    fn thread_ids(&self) -> Vec<Pid>;
    fn has_thread(&self, tid: Pid) -> bool;
    /// The thread's name (`comm`), if it has one.
    fn thread_name(&self, tid: Pid) -> Option<String>;
    fn gprs(&mut self, tid: Pid) -> Result<libc::user_regs_struct, ProcessError>;
    /// The general registers if they were read at this stop already (no syscall).
    fn gprs_if_read(&self, tid: Pid) -> Option<libc::user_regs_struct>;
    /// The thread's fs_base as last read (it stands across stops).
    fn fs_base_seen(&self, tid: Pid) -> Option<u64>;
    fn xstate(&mut self, tid: Pid) -> Result<&XState, ProcessError>;
    /// Changes a thread's registers; they are written back before it runs.
    fn edit_registers(
        &mut self,
        tid: Pid,
        edit: &mut dyn FnMut(&mut libc::user_regs_struct, &mut XState),
    ) -> Result<(), ProcessError>;
    /// The `siginfo_t` of the thread's stop (`siginfo.rs`).
    fn siginfo(&self, tid: Pid) -> Result<[u8; SIGINFO_SIZE], ProcessError>;
    /// Replaces it: a signal the thread is resumed with carries these fields.
    fn set_siginfo(&mut self, tid: Pid, info: &[u8; SIGINFO_SIZE]) -> Result<(), ProcessError>;

    // ----- memory and breakpoints -----
    fn write_memory(&mut self, addr: u64, data: &[u8]) -> Result<(), ProcessError>;
    fn add_sw_breakpoint(&mut self, addr: u64) -> Result<(), MemError>;
    fn remove_sw_breakpoint(&mut self, addr: u64) -> bool;
    fn add_hw(&mut self, addr: u64, len: u64, kind: HwKind) -> Result<(), HwError>;
    fn remove_hw(&mut self, addr: u64, len: u64, kind: HwKind) -> bool;

    // ----- resume and stop events -----
    fn clear_actions(&mut self);
    fn set_action(&mut self, tid: Pid, action: Action) -> Result<(), ProcessError>;
    /// Threads the client did not name stay stopped during the next resume.
    fn lock_scheduler(&mut self);
    /// Which signals pass silently and which a detach gives back, from now on. A backend that
    /// never runs has no signals to pass.
    fn set_signal_rules(&mut self, _rules: SignalRules) {}
    fn resume(&mut self) -> Result<(), ProcessError>;
    /// Whether the client gave any thread of this process an action since `clear_actions`.
    fn has_actions(&self) -> bool {
        false
    }
    /// Another process of the session stopped: this one stops too, reporting nothing.
    fn halt(&mut self) -> Result<(), ProcessError> {
        Ok(())
    }
    /// Ctrl-C: the next `poll_stop` reports SIGINT.
    fn interrupt(&mut self);
    /// The stop to report once every thread is stopped, or `None` while running.
    fn poll_stop(&mut self) -> Result<Option<StopEvent>, ProcessError>;
    fn has_pending_event(&self) -> bool;

    // ----- forks -----
    /// Which forks are stops (their children held) from now on.
    fn set_fork_events(&mut self, _events: ForkEvents) {}
    /// The processes forked and held since the last call.
    fn take_forked(&mut self) -> Vec<Box<dyn Backend>> {
        Vec::new()
    }
    /// A vfork child forgets the int3 bytes it shares with its parent (before a detach that
    /// must leave the parent's breakpoints in).
    fn forget_shared_breakpoints(&mut self) {}
    /// Threads besides the reported one that hit a software breakpoint at this stop.
    fn other_breakpoint_hits(&self) -> &[Pid];
    /// The stop a backend starts in when it is not the client's to choose (a core's fatal
    /// signal); `None` for a live process.
    fn initial_stop(&self) -> Option<StopEvent> {
        None
    }
    /// Non-stop mode's controls (`inferior/non_stop.rs`); a backend that never runs has none.
    fn non_stop_control(&mut self) -> Option<&mut dyn NonStop> {
        None
    }
    fn non_stop_state(&self) -> Option<&dyn NonStop> {
        None
    }

    // ----- what the client asks about the process -----
    fn auxv(&self) -> Result<Vec<u8>, ProcessError>;
    /// The dynamic linker's list of loaded objects.
    fn link_map(&self) -> Result<LinkMap, ProcessError>;
    fn process_info(&self) -> Result<ProcessInfo, ProcessError>;
    fn working_dir(&self) -> Result<PathBuf, ProcessError>;
    fn regions(&self) -> Result<Vec<Region>, ProcessError>;

    // ----- ending -----
    /// Takes every breakpoint out and lets the process run on.
    fn detach(&mut self) -> Result<(), ProcessError>;
    fn kill(&mut self);
    /// What a client disconnect does: a launched process is killed, an attached one detached.
    fn release(&mut self);
}
