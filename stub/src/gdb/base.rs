//! Base packets: registers (`g`/`G`/`p`/`P`), memory (`m`/`M`/`X`) and the thread list.
//!
//! Memory reads go through the inferior's page cache and never show our int3 bytes. A read of
//! which no byte is readable is an error reply (`E0e`), never an empty reply. Thread ids are the
//! client's (see `threads.rs`): registers of a parked goroutine are read-only.

use gdbstub::common::Tid;
use gdbstub::target::ext::base::multithread::{MultiThreadBase, MultiThreadResumeOps};
use gdbstub::target::ext::base::single_register_access::{
    SingleRegisterAccess, SingleRegisterAccessOps,
};
use gdbstub::target::ext::thread_extra_info::ThreadExtraInfoOps;
use gdbstub::target::{TargetError, TargetResult};
use nix::unistd::Pid;

use super::arch::{Amd64RegId, Amd64Regs};
use super::{errno_of, GdbTarget, EFAULT, EINVAL};
use crate::process::ProcessError;

impl GdbTarget {
    /// The live registers of OS thread `pid`.
    pub fn live_regs(&mut self, pid: Pid) -> Result<Amd64Regs, ProcessError> {
        let inf = self.inferior.as_mut().ok_or(ProcessError::Exited)?;
        let t = inf.thread(pid)?;
        let ptrace = |source| ProcessError::Ptrace {
            tid: pid.as_raw(),
            source,
        };
        let gprs = *t.gprs().map_err(ptrace)?;
        let xstate = t.xstate().map_err(ptrace)?;
        Ok(Amd64Regs::from_ptrace(&gprs, xstate))
    }

    /// Writes client thread `tid`'s registers; a parked goroutine refuses.
    fn store_regs(&mut self, tid: Tid, regs: &Amd64Regs) -> Result<(), ProcessError> {
        let pid = self.os_tid(tid)?;
        let inf = self.inferior.as_mut().ok_or(ProcessError::Exited)?;
        let t = inf.thread(pid)?;
        let ptrace = |source| ProcessError::Ptrace {
            tid: pid.as_raw(),
            source,
        };
        let mut gprs = *t.gprs().map_err(ptrace)?;
        let xstate = t.xstate().map_err(ptrace)?;
        regs.apply_to(&mut gprs, xstate);
        t.mark_xstate_dirty();
        *t.gprs().map_err(ptrace)? = gprs;
        t.mark_gprs_dirty();
        Ok(())
    }
}

impl MultiThreadBase for GdbTarget {
    fn read_registers(&mut self, regs: &mut Amd64Regs, tid: Tid) -> TargetResult<(), Self> {
        *regs = self.client_regs(tid).map_err(errno_of)?;
        Ok(())
    }

    fn write_registers(&mut self, regs: &Amd64Regs, tid: Tid) -> TargetResult<(), Self> {
        self.store_regs(tid, regs).map_err(errno_of)
    }

    fn support_single_register_access(&mut self) -> Option<SingleRegisterAccessOps<'_, Tid, Self>> {
        Some(self)
    }

    fn read_addrs(
        &mut self,
        start_addr: u64,
        data: &mut [u8],
        _tid: Tid,
    ) -> TargetResult<usize, Self> {
        let inf = self.inferior()?;
        inf.read_memory(start_addr, data)
            .map_err(|_| TargetError::Errno(EFAULT))
    }

    fn write_addrs(&mut self, start_addr: u64, data: &[u8], _tid: Tid) -> TargetResult<(), Self> {
        let inf = self.inferior()?;
        inf.write_memory(start_addr, data)
            .map_err(|_| TargetError::Errno(EFAULT))
    }

    fn list_active_threads(
        &mut self,
        thread_is_active: &mut dyn FnMut(Tid),
    ) -> Result<(), Self::Error> {
        for tid in self.client_threads() {
            thread_is_active(tid);
        }
        Ok(())
    }

    fn is_thread_alive(&mut self, tid: Tid) -> Result<bool, Self::Error> {
        Ok(self.has_client_thread(tid))
    }

    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }

    fn support_thread_extra_info(&mut self) -> Option<ThreadExtraInfoOps<'_, Self>> {
        Some(self)
    }
}

impl SingleRegisterAccess<Tid> for GdbTarget {
    fn read_register(
        &mut self,
        tid: Tid,
        reg_id: Amd64RegId,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let regs = self.client_regs(tid).map_err(errno_of)?;
        Ok(regs.read_one(reg_id, buf))
    }

    fn write_register(
        &mut self,
        tid: Tid,
        reg_id: Amd64RegId,
        val: &[u8],
    ) -> TargetResult<(), Self> {
        let mut regs = self.client_regs(tid).map_err(errno_of)?;
        regs.write_one(reg_id, val)
            .map_err(|_| TargetError::Errno(EINVAL))?;
        self.store_regs(tid, &regs).map_err(errno_of)
    }
}
