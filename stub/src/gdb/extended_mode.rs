//! Extended mode (`target extended-remote`): `run`, `attach`, `kill` and `run` again in one
//! session. The real pid is reported even in plain `target remote`, so gdb's `info inferiors`
//! and `/proc` lookups name the right process.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use gdbstub::common::Pid as GdbPid;
use gdbstub::target::ext::extended_mode::{
    Args, AttachKind, CurrentActivePid, CurrentActivePidOps, ExtendedMode, ShouldTerminate,
};
use gdbstub::target::{TargetError, TargetResult};
use nix::unistd::Pid;

use super::{GdbTarget, EINVAL, EIO, ESRCH};
use crate::process::{Inferior, Origin};

impl ExtendedMode for GdbTarget {
    fn run(&mut self, filename: Option<&[u8]>, args: Args<'_, '_>) -> TargetResult<GdbPid, Self> {
        let program = match filename {
            Some(f) if !f.is_empty() => PathBuf::from(OsString::from_vec(f.to_vec())),
            _ => self.program.clone().ok_or(TargetError::Errno(EINVAL))?,
        };
        let args: Vec<OsString> = args.map(|a| OsString::from_vec(a.to_vec())).collect();
        if let Some(mut old) = self.inferior.take() {
            old.release();
        }
        let o = &self.options;
        let inf = Inferior::launch(&program, &args, o.stdio, o.quiet_signals, o.cache_pages)
            .map_err(|e| {
                log::warn!("run failed: {e}");
                TargetError::Errno(EIO)
            })?;
        let pid = inf.pid();
        self.inferior = Some(inf);
        self.view = None;
        self.program = Some(program);
        to_gdb_pid(pid)
    }

    fn attach(&mut self, pid: GdbPid) -> TargetResult<(), Self> {
        if let Some(mut old) = self.inferior.take() {
            old.release();
        }
        let pid = Pid::from_raw(i32::try_from(pid.get()).map_err(|_| TargetError::Errno(ESRCH))?);
        let o = &self.options;
        let inf = Inferior::attach(pid, o.quiet_signals, o.cache_pages).map_err(|e| {
            log::warn!("attach failed: {e}");
            TargetError::Errno(libc::EPERM as u8)
        })?;
        self.program = inf.exe().map(Path::to_path_buf);
        self.inferior = Some(inf);
        self.view = None;
        Ok(())
    }

    fn query_if_attached(&mut self, _pid: GdbPid) -> TargetResult<AttachKind, Self> {
        Ok(match self.inferior.as_ref().map(|i| i.origin()) {
            Some(Origin::Attached) => AttachKind::Attach,
            _ => AttachKind::Run,
        })
    }

    fn kill(&mut self, _pid: Option<GdbPid>) -> TargetResult<ShouldTerminate, Self> {
        if let Some(mut inf) = self.inferior.take() {
            inf.kill();
        }
        Ok(ShouldTerminate::No)
    }

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
}

fn to_gdb_pid(pid: Pid) -> TargetResult<GdbPid, GdbTarget> {
    usize::try_from(pid.as_raw())
        .ok()
        .and_then(GdbPid::new)
        .ok_or(TargetError::Errno(ESRCH))
}
