//! Non-stop mode across the processes of one connection (gdb's second inferior, started or
//! attached while the first runs): each process keeps its own non-stop state
//! (`inferior/non_stop.rs`); this file routes the client's requests to the processes they
//! name and collects every process's events, each with its process.
//!
//! Decisions, as gdbserver's:
//! - a request for one thread goes to that thread's process (a thread no process has goes to
//!   the first, which refuses it); a wildcard of one process (`pPID.-1`) to that process alone;
//!   a full wildcard (`-1`) to every process;
//! - a process that ends leaves the session once its end is collected (the first is replaced by
//!   another, as in all-stop); a process whose control is lost is killed and reported killed,
//!   and the others go on.
//!
//! Every process waits with `waitpid(-1)`: a status of another process is stashed for it
//! (`wait.rs`), so collecting one process's events never loses another's.

use nix::unistd::Pid;

use super::super::inferior::non_stop::{NonStop, NonStopEvent, Request, ThreadSet};
use super::super::{ProcessError, StopEvent};
use super::Session;

impl Session {
    /// Every process's non-stop controls (a core file has none).
    pub fn each_non_stop(&mut self, mut f: impl FnMut(&mut dyn NonStop)) {
        self.each(|b| {
            if let Some(c) = b.non_stop_control() {
                f(c);
            }
        });
    }

    /// Whether a thread of any process runs.
    pub fn non_stop_running(&self) -> bool {
        self.backend
            .iter()
            .chain(self.others.iter())
            .filter_map(|b| b.non_stop_state())
            .any(|c| c.any_running())
    }

    /// Applies the client's requests (see `NonStop::apply`) to the processes they name.
    pub fn non_stop_apply(
        &mut self,
        requests: &[(ThreadSet, Request)],
        unheard: &[Pid],
    ) -> Result<(), ProcessError> {
        let first = self.pid().ok_or(ProcessError::NoProcess)?;
        let mut routed: Vec<(Pid, Vec<(ThreadSet, Request)>)> =
            self.pids().into_iter().map(|p| (p, Vec::new())).collect();
        for &(set, request) in requests {
            let (to, set) = match set {
                ThreadSet::All => {
                    for (_, list) in routed.iter_mut() {
                        list.push((ThreadSet::All, request));
                    }
                    continue;
                }
                ThreadSet::Process(pid) => (pid, ThreadSet::All),
                ThreadSet::One(tid) => (self.owner_of(tid).unwrap_or(first), set),
            };
            let (_, list) = routed
                .iter_mut()
                .find(|(p, _)| *p == to)
                .ok_or(ProcessError::NoProcess)?;
            list.push((set, request));
        }
        for (pid, list) in routed.into_iter().filter(|(_, l)| !l.is_empty()) {
            let c = self
                .process(pid)
                .and_then(|b| b.non_stop_control())
                .ok_or(ProcessError::NotRunning)?;
            c.apply(&list, unheard)?;
        }
        Ok(())
    }

    /// Every process's events ready now, in order, each with its process. A process whose end
    /// is among them leaves the session.
    pub fn non_stop_events(&mut self) -> Vec<(Pid, NonStopEvent)> {
        let mut all = Vec::new();
        let mut ended = Vec::new();
        self.each(|b| {
            let pid = b.pid();
            let Some(c) = b.non_stop_control() else {
                return;
            };
            let events = c.poll_events().unwrap_or_else(|e| {
                log::error!("lost control of process {pid}: {e}");
                b.kill();
                vec![NonStopEvent::Stop(StopEvent::Killed(libc::SIGKILL))]
            });
            for event in events {
                if let NonStopEvent::Stop(StopEvent::Exited(_) | StopEvent::Killed(_)) = event {
                    ended.push(pid);
                }
                all.push((pid, event));
            }
        });
        for pid in ended {
            self.remove(pid);
        }
        all
    }

    /// The stops `?` reports (see `NonStop::stopped_threads`), of every process.
    pub fn non_stop_stopped_threads(&mut self) -> Vec<(Pid, StopEvent)> {
        let mut all = Vec::new();
        self.each(|b| {
            let pid = b.pid();
            if let Some(c) = b.non_stop_control() {
                all.extend(c.stopped_threads().into_iter().map(|s| (pid, s)));
            }
        });
        all
    }
}
