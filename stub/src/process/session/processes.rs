//! More than one process on one connection (gdb's multiprocess, with fork children held or
//! followed): which process a thread or a request belongs to, which processes a resume runs,
//! the all-stop across processes, and the end of one process while others remain.
//!
//! Decisions, as gdbserver's:
//! - a thread id names its process (Linux tids are unique system-wide), so register and memory
//!   requests go to the process of their thread; breakpoint requests, which name no thread, go
//!   to the process of the thread `Hg` selected;
//! - a resume runs the processes it names: all (`vCont;c`), every thread of one
//!   (`vCont;c:pPID.-1`, gdb's default with `schedule-multiple off`), or only named threads
//!   (scheduler locking); a process it does not name stays stopped;
//! - when one process stops, every other running process is stopped too (all-stop), its own
//!   events kept for its next resume;
//! - when a process ends while others remain, it leaves the session; when the first process
//!   goes (ended, detached or killed), a remaining one takes its place.

use nix::unistd::Pid;

use super::super::backend::Backend;
use super::super::inferior::ForkEvents;
use super::super::threads::Action;
use super::super::{ProcessError, StopEvent};
use super::Session;

/// Which processes the next resume runs every thread of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ResumeScope {
    /// Every process (a continue action with no process).
    All,
    /// These processes (continue actions for `pPID.-1`); others run only their named threads.
    Processes(Vec<Pid>),
    /// No continue-all action: only the threads named run.
    #[default]
    Named,
}

impl Session {
    /// Every process's pid, the first process first.
    pub fn pids(&self) -> Vec<Pid> {
        self.backend
            .iter()
            .chain(self.others.iter())
            .map(|b| b.pid())
            .collect()
    }

    /// How many processes the connection carries.
    pub fn process_count(&self) -> usize {
        usize::from(self.backend.is_some()) + self.others.len()
    }

    pub(super) fn each(&mut self, mut f: impl FnMut(&mut dyn Backend)) {
        for b in self.backend.iter_mut().chain(self.others.iter_mut()) {
            f(b.as_mut());
        }
    }

    pub(super) fn take_all(&mut self) -> Vec<Box<dyn Backend>> {
        self.selected = None;
        let mut all: Vec<_> = self.backend.take().into_iter().collect();
        all.append(&mut self.others);
        all
    }

    /// Process `pid`, the first or another.
    pub fn process(&mut self, pid: Pid) -> Option<&mut dyn Backend> {
        let b = self
            .backend
            .iter_mut()
            .chain(self.others.iter_mut())
            .find(|b| b.pid() == pid)?;
        Some(b.as_mut())
    }

    pub fn process_ref(&self, pid: Pid) -> Option<&dyn Backend> {
        self.backend
            .iter()
            .chain(self.others.iter())
            .find(|b| b.pid() == pid)
            .map(|b| b.as_ref())
    }

    /// The process OS thread `tid` belongs to.
    pub fn owner_of(&self, tid: Pid) -> Option<Pid> {
        self.backend
            .iter()
            .chain(self.others.iter())
            .find(|b| b.has_thread(tid))
            .map(|b| b.pid())
    }

    /// The process of OS thread `tid`; the first process for a thread no process has.
    pub fn backend_of(&mut self, tid: Pid) -> Result<&mut dyn Backend, ProcessError> {
        match self.owner_of(tid) {
            Some(pid) if Some(pid) != self.pid() => {
                self.process(pid).ok_or(ProcessError::NoProcess)
            }
            _ => self.backend(),
        }
    }

    /// `Hg` selected a thread of process `pid` (`None`: the first process).
    pub fn select(&mut self, pid: Option<Pid>) {
        self.selected = pid.filter(|&p| Some(p) != self.pid());
    }

    /// The process `Hg` selected, for requests that name no thread (breakpoints).
    pub fn selected(&mut self) -> Result<&mut dyn Backend, ProcessError> {
        match self.selected {
            Some(pid) => self.process(pid).ok_or(ProcessError::NoProcess),
            None => self.backend(),
        }
    }

    /// [`Self::selected`], read-only (the auxv and library list of the selected process).
    pub fn selected_ref(&self) -> Option<&dyn Backend> {
        match self.selected {
            Some(pid) => self.process_ref(pid),
            None => self.backend_ref(),
        }
    }

    /// Whether process `pid` came from a fork.
    pub fn is_fork_child(&self, pid: Pid) -> bool {
        self.forked.contains(&pid)
    }

    /// The processes the client knows: a fork child is not listed before its parent's fork
    /// stop has been dealt with (the next resume), as gdbserver hides a pending fork child.
    pub fn listed_pids(&self) -> Vec<Pid> {
        let mut pids = self.pids();
        pids.retain(|p| !self.unlisted.contains(p));
        pids
    }

    /// The process of the stop reported last.
    pub fn stopped_process(&self) -> Option<Pid> {
        self.last_stopped
    }

    /// Whether a new `run` or `attach` keeps the processes held (a client that handles several).
    pub fn keep_processes(&mut self, keep: bool) {
        self.keep_processes = keep;
    }

    /// A new process, started or attached to, becomes the first; the one before stays as
    /// another.
    pub(super) fn add_first(&mut self, new: Box<dyn Backend>) {
        if let Some(old) = self.backend.replace(new) {
            self.others.insert(0, old);
        }
        self.selected = None;
    }

    /// Which forks are stops from now on (the client's `fork-events+`, `vfork-events+`).
    pub fn set_fork_events(&mut self, events: ForkEvents) {
        self.fork_events = events;
        self.each(|b| b.set_fork_events(events));
    }

    // ----- resume -----

    pub fn clear_actions(&mut self) {
        self.scope = ResumeScope::Named;
        self.each(|b| b.clear_actions());
    }

    /// A continue action for every thread of `pid` (`None`: of every process).
    pub fn continue_all_of(&mut self, pid: Option<Pid>) {
        self.scope = match (std::mem::take(&mut self.scope), pid) {
            (_, None) | (ResumeScope::All, _) => ResumeScope::All,
            (ResumeScope::Processes(mut pids), Some(pid)) => {
                pids.push(pid);
                ResumeScope::Processes(pids)
            }
            (ResumeScope::Named, Some(pid)) => ResumeScope::Processes(vec![pid]),
        };
    }

    pub fn set_action(&mut self, tid: Pid, action: Action) -> Result<(), ProcessError> {
        self.backend_of(tid)?.set_action(tid, action)
    }

    /// Threads no action named stay stopped, in every process.
    pub fn lock_scheduler(&mut self) {
        self.each(|b| b.lock_scheduler());
    }

    /// Runs the processes the actions name. An error of the first process's is the resume's
    /// error; another's is logged (that process stays stopped).
    pub fn resume(&mut self) -> Result<(), ProcessError> {
        self.unlisted.clear();
        let scope = std::mem::take(&mut self.scope);
        let whole = |pid: Pid| match &scope {
            ResumeScope::All => true,
            ResumeScope::Processes(pids) => pids.contains(&pid),
            ResumeScope::Named => false,
        };
        let first = self.pid();
        for b in self.backend.iter_mut().chain(self.others.iter_mut()) {
            let pid = b.pid();
            if !(whole(pid) || b.has_actions()) {
                continue;
            }
            if !whole(pid) {
                b.lock_scheduler();
            }
            match b.resume() {
                Err(e) if Some(pid) == first => return Err(e),
                Err(e) => log::warn!("process {pid}: resume failed: {e}"),
                Ok(()) => {}
            }
        }
        Ok(())
    }

    // ----- stops -----

    /// The stop to report, once a running process has fully stopped (every other running
    /// process is stopped then too). Without a process the answer is an exit; a process error
    /// while waiting means control of it is lost: it is killed and reported killed (the client
    /// must hear something). A resume that ran no process at all reports no-resumed.
    pub fn poll_stop(&mut self) -> Option<StopEvent> {
        if self.process_count() == 0 {
            return Some(StopEvent::Exited(0));
        }
        let mut stop = None;
        let mut any_running = false;
        for b in self.backend.iter_mut().chain(self.others.iter_mut()) {
            if !b.is_running() {
                continue;
            }
            any_running = true;
            let event = match b.poll_stop() {
                Ok(Some(event)) => event,
                Ok(None) => continue,
                Err(e) => {
                    log::error!("lost control of process {}: {e}", b.pid());
                    b.kill();
                    StopEvent::Killed(libc::SIGKILL)
                }
            };
            stop = Some((b.pid(), event));
            break;
        }
        let Some((pid, event)) = stop else {
            return (!any_running).then_some(StopEvent::NoResumed);
        };
        self.adopt_forked();
        if let StopEvent::Fork { child, .. } = event {
            self.unreported.retain(|&(c, _)| c != child);
        }
        for b in self.backend.iter_mut().chain(self.others.iter_mut()) {
            if b.pid() != pid && b.is_running() {
                if let Err(e) = b.halt() {
                    log::warn!("process {}: not stopped: {e}", b.pid());
                }
            }
        }
        self.last_stopped = Some(pid);
        self.selected = Some(pid).filter(|&p| Some(p) != self.pid());
        if matches!(event, StopEvent::Exited(_) | StopEvent::Killed(_)) && self.process_count() > 1
        {
            self.remove(pid);
        }
        Some(event)
    }

    /// The children held since the last stop join the session.
    fn adopt_forked(&mut self) {
        let mut new = Vec::new();
        self.each(|b| {
            let parent = b.pid();
            new.extend(b.take_forked().into_iter().map(|c| (parent, c)));
        });
        for (parent, child) in new {
            log::debug!("fork child {} of {parent} held", child.pid());
            self.forked.push(child.pid());
            self.unlisted.push(child.pid());
            self.unreported.push((child.pid(), parent));
            self.others.push(child);
        }
    }

    /// Takes process `pid` out of the session (the first is replaced by another).
    pub(super) fn remove(&mut self, pid: Pid) -> Option<Box<dyn Backend>> {
        if self.selected == Some(pid) {
            self.selected = None;
        }
        self.forked.retain(|&p| p != pid);
        self.unlisted.retain(|&p| p != pid);
        self.unreported.retain(|&(c, _)| c != pid);
        if self.pid() == Some(pid) {
            let b = self.backend.take();
            self.promote();
            return b;
        }
        let at = self.others.iter().position(|b| b.pid() == pid)?;
        Some(self.others.remove(at))
    }

    /// With the first process gone, the oldest other one takes its place.
    pub(super) fn promote(&mut self) {
        if self.backend.is_none() && !self.others.is_empty() {
            let b = self.others.remove(0);
            log::debug!("process {} is now the first", b.pid());
            self.backend = Some(b);
            if self.selected == self.pid() {
                self.selected = None;
            }
        }
    }

    /// `D;PID` (or `D` for each process): process `pid` is detached, with every breakpoint of
    /// ours out; killed if that fails. A vfork child whose parent is still here leaves the int3
    /// bytes they share to the parent.
    pub fn detach_process(&mut self, pid: Pid) -> bool {
        for child in self.unreported_children_of(pid) {
            self.detach_process(child);
        }
        let shares_with_parent = self.process_count() > 1;
        let Some(mut b) = self.remove(pid) else {
            return false;
        };
        if shares_with_parent {
            b.forget_shared_breakpoints();
        }
        if let Err(e) = b.detach() {
            log::error!("detach of {pid} failed, killing it instead: {e}");
            b.kill();
        }
        true
    }

    /// `vKill;PID`: process `pid` is killed.
    pub fn kill_process(&mut self, pid: Pid) -> bool {
        for child in self.unreported_children_of(pid) {
            self.kill_process(child);
        }
        match self.remove(pid) {
            Some(mut b) => {
                b.kill();
                true
            }
            None => false,
        }
    }

    /// The fork children of `pid` the client never heard of (their fork stop still kept).
    fn unreported_children_of(&self, pid: Pid) -> Vec<Pid> {
        self.unreported
            .iter()
            .filter(|&&(_, parent)| parent == pid)
            .map(|&(child, _)| child)
            .collect()
    }

    /// Whether a stop can be reported without waiting for SIGCHLD (an event kept from the last
    /// stop, or no process at all).
    pub fn stop_pending(&self) -> bool {
        self.process_count() == 0
            || self
                .backend
                .iter()
                .chain(self.others.iter())
                .any(|b| b.has_pending_event())
    }
}
