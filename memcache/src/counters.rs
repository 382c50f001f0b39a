//! Syscall and byte counters of the live memory sources, so callers (and tests) can see how many
//! kernel round trips a stop cost.

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

impl SyscallCounters {
    /// Both sets of counts together (saturating: counters never wrap).
    pub fn combined(self, o: SyscallCounters) -> SyscallCounters {
        SyscallCounters {
            process_vm_readv: self.process_vm_readv.saturating_add(o.process_vm_readv),
            pread64: self.pread64.saturating_add(o.pread64),
            pwrite64: self.pwrite64.saturating_add(o.pwrite64),
            bytes_read: self.bytes_read.saturating_add(o.bytes_read),
            bytes_written: self.bytes_written.saturating_add(o.bytes_written),
        }
    }
}
