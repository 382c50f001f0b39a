//! Extended mode (`target extended-remote`): `run`, `attach`, `kill` and `run` again in one
//! session. The real pid is reported even in plain `target remote`, so gdb's `info inferiors`
//! and `/proc` lookups name the right process. Starting, releasing and killing are the
//! session's (`process::Session`); this file only translates.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use gdbstub::common::Pid as GdbPid;
use gdbstub::target::ext::extended_mode::{
    Args, AttachKind, CurrentActivePid, CurrentActivePidOps, ExtendedMode, ShouldTerminate,
};
use gdbstub::target::TargetResult;
use nix::unistd::Pid;

use super::error::target_error;
use super::{GdbTarget, StubError};
use crate::process::Origin;
use crate::tid_map::ThreadRef;

impl GdbTarget {
    /// `R` in extended mode: the program restarts with the same arguments. The packet has no
    /// reply (the client asks `?` next), so a failure is only logged; the client then sees no
    /// process.
    pub fn restart_program(&mut self) {
        match self.session.restart() {
            Ok(pid) => log::debug!("restarted; pid = {pid}"),
            Err(e) => log::warn!("restart failed: {e}"),
        }
        self.view = None;
        self.note_program();
    }

    /// `vAttach`, in all-stop (through gdbstub) and non-stop mode (`non_stop.rs`).
    pub fn attach_process(&mut self, pid: usize) -> Result<(), StubError> {
        let raw = i32::try_from(pid).map_err(|_| StubError::BadPid(pid))?;
        self.session.attach(Pid::from_raw(raw)).map_err(|e| {
            log::warn!("attach failed: {e}");
            StubError::Attach(e)
        })?;
        self.view = None;
        self.note_program();
        Ok(())
    }
}

impl ExtendedMode for GdbTarget {
    fn run(&mut self, filename: Option<&[u8]>, args: Args<'_, '_>) -> TargetResult<GdbPid, Self> {
        let program = filename
            .filter(|f| !f.is_empty())
            .map(|f| PathBuf::from(OsString::from_vec(f.to_vec())));
        let args: Vec<OsString> = args.map(|a| OsString::from_vec(a.to_vec())).collect();
        let pid = self.session.launch(program, &args).map_err(|e| {
            log::warn!("run failed: {e}");
            target_error(StubError::Run(e))
        })?;
        self.view = None;
        self.note_program();
        to_gdb_pid(pid)
    }

    fn attach(&mut self, pid: GdbPid) -> TargetResult<(), Self> {
        self.attach_process(pid.get()).map_err(target_error)
    }

    fn query_if_attached(&mut self, _pid: GdbPid) -> TargetResult<AttachKind, Self> {
        Ok(match self.session.backend_ref().map(|b| b.origin()) {
            Some(Origin::Attached) => AttachKind::Attach,
            _ => AttachKind::Run,
        })
    }

    /// `vKill;PID` kills that process alone when the connection carries others (fork
    /// children); otherwise everything.
    fn kill(&mut self, pid: Option<GdbPid>) -> TargetResult<ShouldTerminate, Self> {
        let pid = pid
            .and_then(|p| i32::try_from(p.get()).ok())
            .map(Pid::from_raw);
        match pid {
            Some(pid) if self.session.process_count() > 1 => {
                if !self.session.kill_process(pid) {
                    return Err(target_error(StubError::BadPid(pid.as_raw() as usize)));
                }
                self.after_process_change();
            }
            _ => {
                self.session.kill();
            }
        }
        Ok(ShouldTerminate::No)
    }

    /// Outside extended mode `R` is not a request gdbserver knows: an empty reply. (In
    /// extended mode the event loop answers it, see `restart_program`.)
    fn restart(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    fn support_current_active_pid(&mut self) -> Option<CurrentActivePidOps<'_, Self>> {
        Some(self)
    }
}

impl CurrentActivePid for GdbTarget {
    fn current_active_pid(&mut self) -> Result<GdbPid, Self::Error> {
        // Before any process exists gdbstub still needs a pid; 1 is its own placeholder.
        Ok(self
            .pid()
            .and_then(|p| to_gdb_pid(p).ok())
            .unwrap_or(GdbPid::MIN))
    }

    /// An OS thread of another process (a fork child) carries that process's pid.
    fn pid_of_thread(&mut self, tid: gdbstub::common::Tid) -> Option<GdbPid> {
        let ThreadRef::Os(os) = ThreadRef::from_tid(tid) else {
            return None;
        };
        self.session.owner_of(os).and_then(|p| to_gdb_pid(p).ok())
    }
}

fn to_gdb_pid(pid: Pid) -> TargetResult<GdbPid, GdbTarget> {
    usize::try_from(pid.as_raw())
        .ok()
        .and_then(GdbPid::new)
        .ok_or_else(|| target_error(StubError::BadPid(0)))
}
