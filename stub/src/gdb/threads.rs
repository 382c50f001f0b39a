//! The thread view the client sees (`--threads`, `monitor threads`): Linux threads, or goroutines
//! as threads. Every translation between client thread ids and OS threads goes through here and
//! `crate::tid_map`. A goroutine thread's registers are its OS thread's live ones, a parked
//! goroutine's first shown frame, or, for a goroutine whose thread is inside a signal handler,
//! the frame the signal interrupted (`crate::goroutines` decides which).

use std::collections::HashMap;

use gdbstub::common::Tid;
use nix::unistd::Pid;

use super::arch::Amd64Regs;
use super::{GdbTarget, StubError};
use crate::cli::ThreadsView;
use crate::goroutines::{Interrupted, ThreadTable};
use crate::process::ProcessError;
use crate::tid_map::ThreadRef;

/// The view in force for the current process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Os,
    Goroutines,
}

impl GdbTarget {
    /// The view in force; `auto` becomes `goroutines` for a Go program and `os` otherwise. In
    /// non-stop mode it is `os`: a goroutine cannot stop or run alone.
    pub fn view(&mut self) -> View {
        if self.non_stop.on() {
            return View::Os;
        }
        if let Some(view) = self.view {
            return view;
        }
        let Some(backend) = self.session.backend_ref() else {
            return View::Os;
        };
        // A Go program's fork child has one thread and none of the parent's goroutines.
        if self.session.is_fork_child(backend.pid()) {
            return View::Os;
        }
        let view = match self.options.threads {
            ThreadsView::Os => View::Os,
            ThreadsView::Goroutines | ThreadsView::Auto if self.go.is_go(backend) => {
                View::Goroutines
            }
            ThreadsView::Goroutines => {
                log::warn!("not a Go program: showing OS threads");
                View::Os
            }
            ThreadsView::Auto => View::Os,
        };
        self.view = Some(view);
        view
    }

    pub fn set_view(&mut self, view: ThreadsView) {
        self.options.threads = view;
        self.view = None;
    }

    /// The goroutines view of this stop, or `None` in the os view. A view that cannot be built
    /// (unreadable runtime state) falls back to OS threads for this stop.
    fn table(&mut self) -> Option<&ThreadTable> {
        if self.view() != View::Goroutines {
            return None;
        }
        let backend = self.session.backend().ok()?;
        match self.go.thread_table(backend, self.options.max_threads) {
            Ok(table) => Some(table),
            Err(e) => {
                log::warn!("goroutine threads unavailable at this stop: {e}");
                None
            }
        }
    }

    /// The client's thread ids, in the order the client lists them.
    /// The client's thread ids, in the order the client lists them: the first process's in the
    /// view in force, then the OS threads of the other processes (fork children).
    pub fn client_threads(&mut self) -> Vec<Tid> {
        let mut pids = self.session.listed_pids().into_iter();
        let first = pids.next();
        let mut threads = match self.table() {
            Some(table) => table.threads.iter().filter_map(|t| t.id.to_tid()).collect(),
            None => first.map_or_else(Vec::new, |p| self.os_threads_of(p)),
        };
        for pid in pids {
            threads.extend(self.os_threads_of(pid));
        }
        threads
    }

    fn os_threads_of(&self, pid: Pid) -> Vec<Tid> {
        self.session.process_ref(pid).map_or_else(Vec::new, |b| {
            b.thread_ids()
                .into_iter()
                .filter_map(|t| ThreadRef::Os(t).to_tid())
                .collect()
        })
    }

    /// The client thread standing for OS thread `tid` (the one reported in a stop reply).
    /// A thread the client resumed by name stops under that name, even if the view changed in
    /// between (`monitor threads` while the client still held the old list).
    pub fn client_tid(&mut self, tid: Pid) -> Tid {
        if let Some(&named) = self.resumed_as.get(&tid) {
            return named;
        }
        let id = self
            .table()
            .map_or(ThreadRef::Os(tid), |t| t.thread_of_os(tid));
        id.to_tid()
            .or_else(|| ThreadRef::Os(tid).to_tid())
            .unwrap_or(Tid::MIN)
    }

    /// Notes the thread a stop reply named: until the next stop, client thread `tid` is OS
    /// thread `pid`.
    pub fn note_reported(&mut self, pid: Pid, tid: Tid) {
        self.reported = self.session.backend_ref().map(|b| (b.stop_id(), pid, tid));
    }

    /// The OS thread that runs client thread `tid`; a parked goroutine has none. The thread the
    /// stop reply named is the OS thread it was reported for, without the goroutines view: gdb
    /// steps it through a `next` (`vCont;r` or `s` on that thread at every stop on the way),
    /// and would otherwise cost a table per step. A goroutine id from the other view (a
    /// client that has not refreshed its thread list since `monitor threads`) still names its
    /// goroutine.
    pub fn os_tid(&mut self, tid: Tid) -> Result<Pid, StubError> {
        let goid = match ThreadRef::from_tid(tid) {
            ThreadRef::Os(pid) => return Ok(pid),
            ThreadRef::Goroutine(goid) => goid,
        };
        if let (Some((stop, pid, named)), Some(backend)) =
            (self.reported, self.session.backend_ref())
        {
            if named == tid && stop == backend.stop_id() && backend.has_thread(pid) {
                return Ok(pid);
            }
        }
        if let Some(t) = self
            .table()
            .and_then(|t| t.find(ThreadRef::Goroutine(goid)))
        {
            return t.os_tid.ok_or(StubError::GoroutineParked { goid });
        }
        let backend = self.session.backend()?;
        match self.go.goroutine_thread(backend, goid) {
            Some(Some(pid)) => Ok(pid),
            Some(None) => Err(StubError::GoroutineParked { goid }),
            None => Err(ProcessError::NoSuchThread(tid.get() as i32).into()),
        }
    }

    /// For a goroutine whose thread is inside a signal handler: the frame it is shown at. A thread
    /// whose stop is reported (a breakpoint or step in the handler) keeps the live registers of
    /// that stop, at which the client checks its breakpoints.
    pub(super) fn interrupted_at(&mut self, tid: Tid) -> Option<Interrupted> {
        let id @ ThreadRef::Goroutine(_) = ThreadRef::from_tid(tid) else {
            return None;
        };
        if self.stop_of(tid).is_some() {
            return None;
        }
        self.table()?;
        let backend = self.session.backend().ok()?;
        self.go
            .interrupted_at(backend, self.options.max_threads, id)
    }

    /// The registers the client sees for thread `tid`: live for an OS thread or running goroutine,
    /// the first shown frame for a parked goroutine or one interrupted by a signal.
    pub fn client_regs(&mut self, tid: Tid) -> Result<Amd64Regs, StubError> {
        match self.os_tid(tid) {
            Ok(pid) => match self.interrupted_at(tid) {
                None => self.live_regs(pid),
                Some(at) => {
                    let backend = self.backend()?;
                    let Some(gprs) = at.saved_over(&backend.gprs(pid)?) else {
                        let (rip, rsp, rbp) = at.frame();
                        return Ok(Amd64Regs::parked(rip, rsp, rbp));
                    };
                    Ok(Amd64Regs::from_ptrace(&gprs, backend.xstate(pid)?))
                }
            },
            Err(StubError::GoroutineParked { goid }) => {
                let parked = self.parked_at(goid);
                let (rip, rsp, rbp) = parked.ok_or(StubError::GoroutineParked { goid })?;
                Ok(Amd64Regs::parked(rip, rsp, rbp))
            }
            Err(e) => Err(e),
        }
    }

    /// rip, rsp and rbp of client thread `tid` (what a client unwinds from), without the
    /// extended state `client_regs` reads.
    pub fn frame_regs(&mut self, tid: Tid) -> Option<(u64, u64, u64)> {
        match self.os_tid(tid) {
            Ok(pid) => {
                if let Some(at) = self.interrupted_at(tid) {
                    return Some(at.frame());
                }
                let g = self.session.backend_of(pid).ok()?.gprs(pid).ok()?;
                Some((g.rip, g.rsp, g.rbp))
            }
            Err(StubError::GoroutineParked { goid }) => self.parked_at(goid),
            Err(_) => None,
        }
    }

    /// For a parked goroutine of this stop's view: rip, rsp and rbp of its first shown frame.
    fn parked_at(&mut self, goid: u64) -> Option<(u64, u64, u64)> {
        self.table()?;
        let backend = self.session.backend().ok()?;
        self.go.parked_at(
            backend,
            self.options.max_threads,
            ThreadRef::Goroutine(goid),
        )
    }

    /// The text shown beside a thread. Never empty: gdb stops asking for the whole session after
    /// one empty `qThreadExtraInfo` reply.
    pub fn thread_label(&mut self, tid: Tid) -> String {
        let id = ThreadRef::from_tid(tid);
        if let Some(label) = self
            .table()
            .and_then(|t| t.find(id))
            .map(|t| t.label.clone())
        {
            return label;
        }
        let ThreadRef::Os(pid) = id else {
            return format!("goroutine {}", tid.get());
        };
        // In the os view the label names the goroutine a thread runs, else the thread's name.
        self.goroutine_on(pid).unwrap_or_else(|| {
            self.thread_comm(pid)
                .unwrap_or_else(|| format!("thread {pid}"))
        })
    }

    /// OS thread `pid`'s name (its comm), read from /proc at most once per stop: the thread list
    /// of every stop (`qXfer:threads`) names each OS thread.
    pub fn thread_comm(&mut self, pid: Pid) -> Option<String> {
        let stop = self.session.backend_ref()?.stop_id();
        let owner = self.session.owner_of(pid).or(self.session.pid())?;
        let backend = self.session.process_ref(owner)?;
        if self.comms.0 != stop {
            self.comms = (stop, HashMap::new());
        }
        self.comms
            .1
            .entry(pid)
            .or_insert_with(|| backend.thread_name(pid))
            .clone()
    }

    fn goroutine_on(&mut self, pid: Pid) -> Option<String> {
        if self.session.owner_of(pid) != self.session.pid() {
            return None;
        }
        let backend = self.session.backend().ok()?;
        self.go.label_on_thread(backend, pid.as_raw())
    }

    /// Goroutines the `--max-threads` cap leaves out of the thread list at this stop.
    pub fn hidden_goroutines(&mut self) -> usize {
        self.table().map_or(0, |t| t.hidden)
    }

    pub fn has_client_thread(&mut self, tid: Tid) -> bool {
        match ThreadRef::from_tid(tid) {
            ThreadRef::Goroutine(_) => self
                .table()
                .is_some_and(|t| t.find(ThreadRef::from_tid(tid)).is_some()),
            ThreadRef::Os(pid) => self.session.owner_of(pid).is_some(),
        }
    }
}
