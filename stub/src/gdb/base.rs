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
use gdbstub::target::TargetResult;
use nix::unistd::Pid;

use super::arch::{Amd64RegId, Amd64Regs};
use super::error::target_error;
use super::{GdbTarget, StubError};
use crate::tid_map::ThreadRef;

impl GdbTarget {
    /// The live registers of OS thread `pid`.
    pub fn live_regs(&mut self, pid: Pid) -> Result<Amd64Regs, StubError> {
        let backend = self.session.backend_of(pid)?;
        let gprs = backend.gprs(pid)?;
        Ok(Amd64Regs::from_ptrace(&gprs, backend.xstate(pid)?))
    }

    /// Writes client thread `tid`'s registers; a parked goroutine refuses, and so does one shown
    /// at the frame a signal interrupted (its thread's registers are the handler's).
    pub(super) fn store_regs(&mut self, tid: Tid, regs: &Amd64Regs) -> Result<(), StubError> {
        let pid = self.os_tid(tid)?;
        if let (ThreadRef::Goroutine(goid), Some(_)) =
            (ThreadRef::from_tid(tid), self.interrupted_at(tid))
        {
            return Err(StubError::GoroutineInSignalHandler { goid });
        }
        self.session
            .backend_of(pid)?
            .edit_registers(pid, &mut |gprs, xstate| regs.apply_to(gprs, xstate))?;
        Ok(())
    }
}

impl MultiThreadBase for GdbTarget {
    fn read_registers(&mut self, regs: &mut Amd64Regs, tid: Tid) -> TargetResult<(), Self> {
        *regs = self.client_regs(tid).map_err(target_error)?;
        Ok(())
    }

    fn write_registers(&mut self, regs: &Amd64Regs, tid: Tid) -> TargetResult<(), Self> {
        self.store_regs(tid, regs).map_err(target_error)
    }

    fn support_single_register_access(&mut self) -> Option<SingleRegisterAccessOps<'_, Tid, Self>> {
        Some(self)
    }

    fn read_addrs(
        &mut self,
        start_addr: u64,
        data: &mut [u8],
        tid: Tid,
    ) -> TargetResult<usize, Self> {
        let backend = self.memory_of(tid).map_err(target_error)?;
        backend.read(start_addr, data).map_err(target_error)
    }

    fn write_addrs(&mut self, start_addr: u64, data: &[u8], tid: Tid) -> TargetResult<(), Self> {
        let backend = self.memory_of(tid).map_err(target_error)?;
        backend.write_memory(start_addr, data).map_err(target_error)
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
        let regs = self.client_regs(tid).map_err(target_error)?;
        Ok(regs.read_one(reg_id, buf))
    }

    fn write_register(
        &mut self,
        tid: Tid,
        reg_id: Amd64RegId,
        val: &[u8],
    ) -> TargetResult<(), Self> {
        let mut regs = self.client_regs(tid).map_err(target_error)?;
        regs.write_one(reg_id, val)
            .map_err(|()| target_error(StubError::RegisterValue))?;
        self.store_regs(tid, &regs).map_err(target_error)
    }
}
