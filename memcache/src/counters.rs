//! Syscall and byte counters of the live memory sources, so callers (and tests) can see how many
//! kernel round trips a stop cost.

use std::ops::Add;

/// Memory syscalls issued and bytes moved by a live source.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyscallCounters {
    /// `process_vm_readv` calls.
    pub process_vm_readv: u64,
    /// `pread64` calls on `/proc/PID/mem`.
    pub pread64: u64,
    /// `pwrite64` calls on `/proc/PID/mem`.
    pub pwrite64: u64,
    /// Bytes read by any of the calls above.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
}

impl Add for SyscallCounters {
    type Output = SyscallCounters;
    fn add(self, o: SyscallCounters) -> SyscallCounters {
        SyscallCounters {
            process_vm_readv: self.process_vm_readv + o.process_vm_readv,
            pread64: self.pread64 + o.pread64,
            pwrite64: self.pwrite64 + o.pwrite64,
            bytes_read: self.bytes_read + o.bytes_read,
            bytes_written: self.bytes_written + o.bytes_written,
        }
    }
}
