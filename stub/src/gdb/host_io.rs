//! Host I/O (`vFile:`): gdb with its default `sysroot target:` fetches the program and its
//! libraries through these. Each operation forwards to `HostFiles`.

use gdbstub::target::ext::host_io::{
    FsKind, HostIo, HostIoClose, HostIoCloseOps, HostIoError, HostIoFstat, HostIoFstatOps,
    HostIoOpen, HostIoOpenFlags, HostIoOpenMode, HostIoOpenOps, HostIoPread, HostIoPreadOps,
    HostIoPwrite, HostIoPwriteOps, HostIoReadlink, HostIoReadlinkOps, HostIoResult, HostIoSetfs,
    HostIoSetfsOps, HostIoStat, HostIoUnlink, HostIoUnlinkOps,
};

use super::GdbTarget;

impl HostIo for GdbTarget {
    fn support_open(&mut self) -> Option<HostIoOpenOps<'_, Self>> {
        Some(self)
    }
    fn support_close(&mut self) -> Option<HostIoCloseOps<'_, Self>> {
        Some(self)
    }
    fn support_pread(&mut self) -> Option<HostIoPreadOps<'_, Self>> {
        Some(self)
    }
    fn support_pwrite(&mut self) -> Option<HostIoPwriteOps<'_, Self>> {
        Some(self)
    }
    fn support_fstat(&mut self) -> Option<HostIoFstatOps<'_, Self>> {
        Some(self)
    }
    fn support_unlink(&mut self) -> Option<HostIoUnlinkOps<'_, Self>> {
        Some(self)
    }
    fn support_readlink(&mut self) -> Option<HostIoReadlinkOps<'_, Self>> {
        Some(self)
    }
    fn support_setfs(&mut self) -> Option<HostIoSetfsOps<'_, Self>> {
        Some(self)
    }
}

impl HostIoOpen for GdbTarget {
    fn open(
        &mut self,
        filename: &[u8],
        flags: HostIoOpenFlags,
        mode: HostIoOpenMode,
    ) -> HostIoResult<u32, Self> {
        self.host_files
            .open(filename, flags, mode)
            .map_err(HostIoError::Errno)
    }
}

impl HostIoClose for GdbTarget {
    fn close(&mut self, fd: u32) -> HostIoResult<(), Self> {
        self.host_files.close(fd).map_err(HostIoError::Errno)
    }
}

impl HostIoPread for GdbTarget {
    fn pread(
        &mut self,
        fd: u32,
        count: usize,
        offset: u64,
        buf: &mut [u8],
    ) -> HostIoResult<usize, Self> {
        self.host_files
            .pread(fd, count, offset, buf)
            .map_err(HostIoError::Errno)
    }
}

impl HostIoPwrite for GdbTarget {
    fn pwrite(&mut self, fd: u32, offset: u64, data: &[u8]) -> HostIoResult<u64, Self> {
        self.host_files
            .pwrite(fd, offset, data)
            .map_err(HostIoError::Errno)
    }
}

impl HostIoFstat for GdbTarget {
    fn fstat(&mut self, fd: u32) -> HostIoResult<HostIoStat, Self> {
        self.host_files.fstat(fd).map_err(HostIoError::Errno)
    }
}

impl HostIoUnlink for GdbTarget {
    fn unlink(&mut self, filename: &[u8]) -> HostIoResult<(), Self> {
        self.host_files.unlink(filename).map_err(HostIoError::Errno)
    }
}

impl HostIoReadlink for GdbTarget {
    fn readlink(&mut self, filename: &[u8], buf: &mut [u8]) -> HostIoResult<usize, Self> {
        self.host_files
            .readlink(filename, buf)
            .map_err(HostIoError::Errno)
    }
}

impl HostIoSetfs for GdbTarget {
    fn setfs(&mut self, fs: FsKind) -> HostIoResult<(), Self> {
        // A core's pid names no live process (or another one): its files are the stub's.
        let fs = match fs {
            FsKind::Pid(_) if self.session.is_core() => FsKind::Stub,
            fs => fs,
        };
        self.host_files.setfs(fs).map_err(HostIoError::Errno)
    }
}
