//! A live process's memory: batched reads through `process_vm_readv`, with whatever it refuses
//! retried through `/proc/PID/mem`, and all writes through `/proc/PID/mem`.
//!
//! Kernel quirk met here: `process_vm_readv` refuses pages without `PROT_READ` even for a ptracer,
//! while `/proc/PID/mem` reads them when the kernel grants `FOLL_FORCE` (see `proc_mem.rs`). A
//! refused range therefore costs one extra `pread64` the first time; the page cache above keeps the
//! answer until the next resume.

use std::io;

use crate::counters::SyscallCounters;
use crate::proc_mem::ProcMem;
use crate::vm_readv::VmReadv;
use crate::{source::read_through_batch, MemError, MemorySource, ReadRequest};

/// Memory of a live process.
#[derive(Debug)]
pub struct LiveMemory {
    vm: VmReadv,
    mem: ProcMem,
}

impl LiveMemory {
    /// Opens `/proc/PID/mem` of `pid` (the caller must be allowed to ptrace it).
    pub fn new(pid: i32) -> io::Result<LiveMemory> {
        Ok(LiveMemory {
            vm: VmReadv::new(pid),
            mem: ProcMem::open(pid)?,
        })
    }

    /// Opens `/proc/PID/mem` again, after the process exec'd: the open file stays bound to the
    /// address space it was opened on, so reads and writes through it would reach the old
    /// program's memory (and fail). The syscall counters carry on.
    pub fn reopen(&mut self, pid: i32) -> io::Result<()> {
        self.mem.reopen(pid)
    }

    /// Writes `data` at `addr` through `/proc/PID/mem`; see [`ProcMem::write`]. Tell the page cache
    /// with `note_write` afterwards.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<usize, MemError> {
        self.mem.write(addr, data)
    }

    /// Memory syscalls issued and bytes moved so far, by kind.
    pub fn counters(&self) -> SyscallCounters {
        self.vm.counters().combined(self.mem.counters())
    }
}

impl MemorySource for LiveMemory {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        read_through_batch(self, addr, buf)
    }

    fn read_batch(&mut self, requests: &mut [ReadRequest<'_>]) -> Result<(), MemError> {
        self.vm.read_batch(requests)?;
        for req in requests.iter_mut() {
            let got = req.got;
            let Some(rest) = req.buf.get_mut(got..) else {
                continue;
            };
            if rest.is_empty() {
                continue;
            }
            match self.mem.read(req.addr.wrapping_add(got as u64), rest) {
                Ok(n) => req.got = req.got.saturating_add(n),
                Err(MemError::Unreadable { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
