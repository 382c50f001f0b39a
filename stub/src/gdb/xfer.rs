//! `qXfer` objects gdb reads on Linux: auxv, the exec file name and the SVR4 library list (so gdb
//! loads the shared-library symbols of a dynamically linked program). The target description
//! comes from `arch::Amd64Linux` itself.

use gdbstub::common::Pid as GdbPid;
use gdbstub::target::ext::auxv::Auxv;
use gdbstub::target::ext::exec_file::ExecFile;
use gdbstub::target::ext::libraries::LibrariesSvr4;
use gdbstub::target::{TargetError, TargetResult};

use super::{GdbTarget, EIO, ESRCH};
use crate::process::{procfs, svr4};

/// Copies the `offset..offset+length` window of `data` into `buf`.
fn copy_window(data: &[u8], offset: u64, length: usize, buf: &mut [u8]) -> usize {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(data.len());
    let n = (data.len() - start).min(length).min(buf.len());
    buf[..n].copy_from_slice(&data[start..start + n]);
    n
}

impl GdbTarget {
    fn proc_file(&self, name: &str) -> TargetResult<Vec<u8>, Self> {
        let pid = self.pid().ok_or(TargetError::Errno(ESRCH))?;
        procfs::read(&format!("/proc/{pid}/{name}")).map_err(|_| TargetError::Errno(EIO))
    }
}

impl Auxv for GdbTarget {
    fn get_auxv(&self, offset: u64, length: usize, buf: &mut [u8]) -> TargetResult<usize, Self> {
        Ok(copy_window(&self.proc_file("auxv")?, offset, length, buf))
    }
}

impl ExecFile for GdbTarget {
    fn get_exec_file(
        &self,
        pid: Option<GdbPid>,
        offset: u64,
        length: usize,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let path = match pid {
            Some(pid) => std::fs::read_link(format!("/proc/{pid}/exe"))
                .map_err(|_| TargetError::Errno(ESRCH))?,
            None => match self.pid() {
                Some(pid) => std::fs::read_link(format!("/proc/{pid}/exe"))
                    .map_err(|_| TargetError::Errno(ESRCH))?,
                None => self.program.clone().ok_or(TargetError::Errno(ESRCH))?,
            },
        };
        Ok(copy_window(
            path.as_os_str().as_encoded_bytes(),
            offset,
            length,
            buf,
        ))
    }
}

impl LibrariesSvr4 for GdbTarget {
    fn get_libraries_svr4(
        &self,
        offset: u64,
        length: usize,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let pid = self.pid().ok_or(TargetError::Errno(ESRCH))?;
        let auxv = self.proc_file("auxv")?;
        // This trait method has `&self`; the link map is data (never breakpoint-patched text), so
        // it is read through a private /proc/PID/mem handle rather than the shared cache.
        let mut mem = memcache::ProcMem::open(pid.as_raw()).map_err(|_| TargetError::Errno(EIO))?;
        let xml = svr4::library_list_xml(&mut mem, &auxv).map_err(|e| {
            log::debug!("library list: {e}");
            TargetError::Errno(EIO)
        })?;
        Ok(copy_window(xml.as_bytes(), offset, length, buf))
    }
}

#[cfg(test)]
mod tests {
    use super::copy_window;

    #[test]
    fn window_is_clamped_to_data_and_buffer() {
        let mut buf = [0u8; 4];
        assert_eq!(copy_window(b"abcdef", 2, 10, &mut buf), 4);
        assert_eq!(&buf, b"cdef");
        assert_eq!(copy_window(b"abcdef", 6, 10, &mut buf), 0);
        assert_eq!(copy_window(b"abcdef", u64::MAX, 10, &mut buf), 0);
        assert_eq!(copy_window(b"abcdef", 0, 2, &mut buf), 2);
    }
}
