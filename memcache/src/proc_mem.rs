//! `/proc/PID/mem` source: one persistent `O_RDWR` descriptor per process, read with `pread64` and
//! written with `pwrite64`. This is the path for every write, because `process_vm_writev` honours
//! page protections and cannot plant a breakpoint in read-only text.
//!
//! Kernel quirks met here:
//! - The kernel copies at most a page per step and returns a short count at the first page it
//!   cannot access; the next call then fails with `EIO`. Reads loop and report the readable prefix.
//! - The file offset is an `off_t`: addresses at or above 2^63 cannot be expressed and read as
//!   unreadable.
//! - Access uses `FOLL_FORCE` when the kernel's `proc_mem.force_override` policy allows it (the
//!   default allows it always; some kernels only for a ptracer): then pages without `PROT_READ` and
//!   read-only text can be read and written, which `process_vm_readv` refuses.
//! - Once the process has exited, reads return 0 bytes (end of file), reported as unreadable.

use std::fs::{File, OpenOptions};
use std::io;

use nix::errno::Errno;
use nix::sys::uio::{pread, pwrite};

use crate::addr::last_byte;
use crate::counters::SyscallCounters;
use crate::{MemError, MemorySource};

/// An open `/proc/PID/mem`.
#[derive(Debug)]
pub struct ProcMem {
    file: File,
    counters: SyscallCounters,
}

impl ProcMem {
    /// Opens `/proc/PID/mem` for reading and writing (close-on-exec).
    pub fn open(pid: i32) -> io::Result<ProcMem> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/{pid}/mem"))?;
        Ok(ProcMem {
            file,
            counters: SyscallCounters::default(),
        })
    }

    /// Syscalls issued and bytes moved so far.
    /// Opens the file again (see `LiveMemory::reopen`), keeping the counters.
    pub fn reopen(&mut self, pid: i32) -> io::Result<()> {
        self.file = ProcMem::open(pid)?.file;
        Ok(())
    }

    pub fn counters(&self) -> SyscallCounters {
        self.counters
    }

    /// Writes `data` at `addr`. Returns how many leading bytes were written (short when a later page
    /// refuses the write); `Unwritable` when not even the first byte could be written.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<usize, MemError> {
        last_byte(addr, data.len())?;
        let mut done = 0usize;
        while done < data.len() {
            let at = addr.wrapping_add(done as u64);
            let Ok(offset) = i64::try_from(at) else { break };
            self.counters.pwrite64 = self.counters.pwrite64.saturating_add(1);
            let Some(rest) = data.get(done..) else { break };
            match pwrite(&self.file, rest, offset) {
                Ok(0) => break,
                Ok(n) => {
                    self.counters.bytes_written =
                        self.counters.bytes_written.saturating_add(n as u64);
                    done = done.saturating_add(n);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::ESRCH) => return Err(MemError::ProcessGone { addr: at }),
                Err(e) => {
                    log::trace!("pwrite64 /proc/PID/mem at {at:#x}: {e}");
                    break;
                }
            }
        }
        if done == 0 && !data.is_empty() {
            return Err(MemError::Unwritable { addr });
        }
        Ok(done)
    }
}

impl MemorySource for ProcMem {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        last_byte(addr, buf.len())?;
        let mut done = 0usize;
        while done < buf.len() {
            let at = addr.wrapping_add(done as u64);
            let Ok(offset) = i64::try_from(at) else { break };
            self.counters.pread64 = self.counters.pread64.saturating_add(1);
            let Some(rest) = buf.get_mut(done..) else {
                break;
            };
            match pread(&self.file, rest, offset) {
                Ok(0) => break,
                Ok(n) => {
                    self.counters.bytes_read = self.counters.bytes_read.saturating_add(n as u64);
                    done = done.saturating_add(n);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::ESRCH) => return Err(MemError::ProcessGone { addr: at }),
                // EIO / EFAULT: the page at `at` is not accessible.
                Err(e) => {
                    log::trace!("pread64 /proc/PID/mem at {at:#x}: {e}");
                    break;
                }
            }
        }
        if done == 0 && !buf.is_empty() {
            return Err(MemError::Unreadable { addr });
        }
        Ok(done)
    }
}
