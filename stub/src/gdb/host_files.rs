//! The file side of gdb's Host I/O (`vFile:open/close/pread/pwrite/fstat/unlink/readlink/setfs`),
//! so gdb with `sysroot target:` (its default) can fetch the program and its libraries.
//!
//! Signatures use gdbstub 0.7.10's own Host I/O types (`HostIoOpenFlags`, `HostIoOpenMode`,
//! `HostIoStat`, `FsKind`, `HostIoErrno`); the `HostIo*` trait glue is
//! `self.files.op(..).map_err(HostIoError::Errno)`. Quirks it meets:
//!
//! * gdb's protocol errno numbers are not Linux's (`ENOSYS` is 88, `ENAMETOOLONG` 91, and there
//!   is no `ELOOP`/`ESRCH`); host errors are translated, unknown ones become `EUNKNOWN`.
//! * gdbstub parses open flags and modes with `from_bits`, so only documented bits reach here.
//!   The low bits are shared by gdb and lldb (lldb's `0x40000601` is WRONLY|CREAT|TRUNC|CLOEXEC).
//!   Access mode 3 and lldb's `O_INVALID` are `EINVAL`; lldb's don't-follow becomes `O_NOFOLLOW`.
//!   `O_TRUNC` is dropped from read-only opens (Linux would truncate), and every fd is
//!   `O_CLOEXEC|O_NOCTTY` so inferiors never inherit them and a tty never becomes ours.
//! * `fstat` follows gdbserver: 32-bit fields are truncated, and `st_mode` keeps only the
//!   regular/directory/character-device type bits plus the 0777 permission bits.
//! * The fds handed to gdb are table slots (at most 64 open), not host fds; they close on drop.
//! * `setfs PID` resolves paths under `/proc/PID/root`. The kernel resolves absolute symlinks met
//!   on that path against the stub's root, not the process's, so when the process shares the
//!   stub's root and mount namespace (the usual case) paths are used directly.
//! * `pread` never returns more than fits in the packet buffer gdbstub lends it.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use gdbstub::target::ext::host_io::{
    FsKind, HostIoErrno, HostIoOpenFlags, HostIoOpenMode, HostIoStat,
};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::eintr::retry;

/// Most files gdb may hold open at once.
pub const MAX_OPEN_FILES: usize = 64;

/// Files opened on gdb's behalf, indexed by the fd number gdb sees.
#[derive(Debug, Default)]
pub struct HostFiles {
    slots: Vec<Option<File>>,
    /// `Some(/proc/PID/root)` after `setfs PID` when PID sees another filesystem than the stub.
    root: Option<PathBuf>,
}

impl HostFiles {
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens `path` (in the filesystem chosen by [`setfs`](HostFiles::setfs)) and returns gdb's fd.
    pub fn open(
        &mut self,
        path: &[u8],
        flags: HostIoOpenFlags,
        mode: HostIoOpenMode,
    ) -> Result<u32, HostIoErrno> {
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(free) => free,
            None if self.slots.len() < MAX_OPEN_FILES => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(HostIoErrno::EMFILE),
        };
        let oflag = host_oflag(flags)?;
        let perms = Mode::from_bits_truncate(mode.bits() & 0o777);
        let fd =
            nix::fcntl::open(&self.resolve(path), oflag, perms).map_err(|e| errno(e as i32))?;
        self.slots[slot] = Some(File::from(fd));
        Ok(slot as u32)
    }

    pub fn close(&mut self, fd: u32) -> Result<(), HostIoErrno> {
        let slot = self
            .slots
            .get_mut(fd as usize)
            .filter(|s| s.is_some())
            .ok_or(HostIoErrno::EBADF)?;
        *slot = None;
        Ok(())
    }

    /// Reads up to `count` bytes (capped at `buf.len()`) at `offset`; 0 at end of file.
    pub fn pread(
        &self,
        fd: u32,
        count: usize,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, HostIoErrno> {
        let file = self.file(fd)?;
        let len = count.min(buf.len());
        retry(|| file.read_at(&mut buf[..len], offset)).map_err(io_errno)
    }

    pub fn pwrite(&self, fd: u32, offset: u64, data: &[u8]) -> Result<u64, HostIoErrno> {
        let file = self.file(fd)?;
        retry(|| file.write_at(data, offset))
            .map(|n| n as u64)
            .map_err(io_errno)
    }

    /// gdb's `struct stat` for an open file (gdbstub encodes it big-endian on the wire).
    pub fn fstat(&self, fd: u32) -> Result<HostIoStat, HostIoErrno> {
        let meta = self.file(fd)?.metadata().map_err(io_errno)?;
        let kind = meta.mode() & libc::S_IFMT;
        let kind = if [libc::S_IFREG, libc::S_IFDIR, libc::S_IFCHR].contains(&kind) {
            kind
        } else {
            0
        };
        Ok(HostIoStat {
            st_dev: meta.dev() as u32,
            st_ino: meta.ino() as u32,
            st_mode: HostIoOpenMode::from_bits_retain(kind | (meta.mode() & 0o777)),
            st_nlink: meta.nlink() as u32,
            st_uid: meta.uid(),
            st_gid: meta.gid(),
            st_rdev: meta.rdev() as u32,
            st_size: meta.size(),
            st_blksize: meta.blksize(),
            st_blocks: meta.blocks(),
            st_atime: meta.atime() as u32,
            st_mtime: meta.mtime() as u32,
            st_ctime: meta.ctime() as u32,
        })
    }

    pub fn unlink(&self, path: &[u8]) -> Result<(), HostIoErrno> {
        std::fs::remove_file(self.resolve(path)).map_err(io_errno)
    }

    /// Writes the target of symlink `path` into `buf`; `ENAMETOOLONG` if it does not fit whole.
    pub fn readlink(&self, path: &[u8], buf: &mut [u8]) -> Result<usize, HostIoErrno> {
        let target = std::fs::read_link(self.resolve(path)).map_err(io_errno)?;
        let bytes = target.as_os_str().as_bytes();
        let out = buf
            .get_mut(..bytes.len())
            .ok_or(HostIoErrno::ENAMETOOLONG)?;
        out.copy_from_slice(bytes);
        Ok(bytes.len())
    }

    /// Selects the filesystem later path operations use: the stub's, or the one process PID sees.
    pub fn setfs(&mut self, fs: FsKind) -> Result<(), HostIoErrno> {
        self.root = match fs {
            FsKind::Stub => None,
            FsKind::Pid(pid) => {
                let proc_dir = PathBuf::from(format!("/proc/{pid}"));
                let shared = same_file(&proc_dir.join("root"), Path::new("/"))
                    && same_file(&proc_dir.join("ns/mnt"), Path::new("/proc/self/ns/mnt"));
                (!shared).then(|| proc_dir.join("root"))
            }
        };
        Ok(())
    }

    fn file(&self, fd: u32) -> Result<&File, HostIoErrno> {
        self.slots
            .get(fd as usize)
            .and_then(Option::as_ref)
            .ok_or(HostIoErrno::EBADF)
    }

    fn resolve(&self, path: &[u8]) -> PathBuf {
        let path = Path::new(OsStr::from_bytes(path));
        match &self.root {
            Some(root) => root.join(path.strip_prefix("/").unwrap_or(path)),
            None => path.to_path_buf(),
        }
    }
}

/// True when both paths exist and name the same inode (false if either cannot be stat'ed).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

fn host_oflag(flags: HostIoOpenFlags) -> Result<OFlag, HostIoErrno> {
    type F = HostIoOpenFlags;
    if flags.contains(F::O_INVALID) {
        return Err(HostIoErrno::EINVAL);
    }
    let mut oflag = OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
    oflag |= match flags.bits() & 3 {
        0 => OFlag::O_RDONLY,
        1 => OFlag::O_WRONLY,
        2 => OFlag::O_RDWR,
        _ => return Err(HostIoErrno::EINVAL),
    };
    let read_only = flags.bits() & 3 == 0;
    for (gdb, host) in [
        (F::O_APPEND, OFlag::O_APPEND),
        (F::O_CREAT, OFlag::O_CREAT),
        (F::O_EXCL, OFlag::O_EXCL),
        (F::O_NONBLOCK, OFlag::O_NONBLOCK),
        (F::O_DONT_FOLLOW_SYMLINKS, OFlag::O_NOFOLLOW),
    ] {
        oflag.set(host, flags.contains(gdb));
    }
    oflag.set(OFlag::O_TRUNC, flags.contains(F::O_TRUNC) && !read_only);
    Ok(oflag)
}

fn io_errno(e: io::Error) -> HostIoErrno {
    errno(e.raw_os_error().unwrap_or(0))
}

/// Linux errno → gdb's File-I/O errno.
fn errno(host: i32) -> HostIoErrno {
    use HostIoErrno::*;
    match host {
        libc::EPERM => EPERM,
        libc::ENOENT => ENOENT,
        libc::EINTR => EINTR,
        libc::EIO => EIO,
        libc::EBADF => EBADF,
        libc::EACCES => EACCES,
        libc::EFAULT => EFAULT,
        libc::EBUSY => EBUSY,
        libc::EEXIST => EEXIST,
        libc::ENODEV => ENODEV,
        libc::ENOTDIR => ENOTDIR,
        libc::EISDIR => EISDIR,
        libc::EINVAL => EINVAL,
        libc::ENFILE => ENFILE,
        libc::EMFILE => EMFILE,
        libc::EFBIG => EFBIG,
        libc::ENOSPC => ENOSPC,
        libc::ESPIPE => ESPIPE,
        libc::EROFS => EROFS,
        libc::ENOSYS => ENOSYS,
        libc::ENAMETOOLONG => ENAMETOOLONG,
        _ => EUNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    type F = HostIoOpenFlags;

    /// A fresh path in the temp directory, removed on drop.
    struct TempPath(PathBuf);

    impl TempPath {
        fn new() -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            TempPath(
                std::env::temp_dir().join(format!("gostub-hostfiles-{}-{n}", std::process::id())),
            )
        }
        fn bytes(&self) -> &[u8] {
            self.0.as_os_str().as_bytes()
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn ro() -> (HostIoOpenFlags, HostIoOpenMode) {
        (F::O_RDONLY, HostIoOpenMode::empty())
    }

    #[test]
    fn open_pread_fstat_close() {
        let tmp = TempPath::new();
        std::fs::write(&tmp.0, b"hello, gdb").unwrap();
        let mut files = HostFiles::new();
        let (flags, mode) = ro();
        let fd = files.open(tmp.bytes(), flags, mode).unwrap();

        let mut buf = [0u8; 64];
        assert_eq!(files.pread(fd, 5, 0, &mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(
            files.pread(fd, 100, 7, &mut buf).unwrap(),
            3,
            "short read at end"
        );
        assert_eq!(&buf[..3], b"gdb");
        assert_eq!(files.pread(fd, 100, 1000, &mut buf).unwrap(), 0, "past end");
        let mut small = [0u8; 2];
        assert_eq!(
            files.pread(fd, 100, 0, &mut small).unwrap(),
            2,
            "capped at the buffer"
        );
        assert!(matches!(
            files.pread(fd, 1, u64::MAX, &mut buf),
            Err(HostIoErrno::EINVAL)
        ));

        let st = files.fstat(fd).unwrap();
        let meta = std::fs::metadata(&tmp.0).unwrap();
        assert_eq!(st.st_size, 10);
        assert_eq!(st.st_ino, meta.ino() as u32);
        assert_eq!(st.st_mode.bits(), 0o100000 | (meta.mode() & 0o777));
        assert!(st.st_mode.contains(HostIoOpenMode::S_IFREG));
        assert_eq!(st.st_mtime, meta.mtime() as u32);
        assert_eq!((st.st_uid, st.st_gid), (meta.uid(), meta.gid()));

        files.close(fd).unwrap();
        assert!(matches!(files.close(fd), Err(HostIoErrno::EBADF)));
        assert!(matches!(
            files.pread(fd, 1, 0, &mut buf),
            Err(HostIoErrno::EBADF)
        ));
    }

    #[test]
    fn directory_mode_and_errors() {
        let mut files = HostFiles::new();
        let (flags, mode) = ro();
        let fd = files.open(b"/", flags, mode).unwrap();
        assert!(files
            .fstat(fd)
            .unwrap()
            .st_mode
            .contains(HostIoOpenMode::S_IFDIR));
        assert!(matches!(
            files.pread(fd, 1, 0, &mut [0u8; 4]),
            Err(HostIoErrno::EISDIR)
        ));
        assert!(matches!(
            files.open(b"/no/such/file", flags, mode),
            Err(HostIoErrno::ENOENT)
        ));
        assert!(matches!(
            files.open(b"bad\0path", flags, mode),
            Err(HostIoErrno::EINVAL)
        ));
        assert!(matches!(
            files.open(b"", flags, mode),
            Err(HostIoErrno::ENOENT)
        ));
        assert!(matches!(
            files.open(b"/", F::O_WRONLY | F::O_RDWR, mode),
            Err(HostIoErrno::EINVAL)
        ));
        assert!(matches!(
            files.open(b"/", F::O_INVALID, mode),
            Err(HostIoErrno::EINVAL)
        ));
        for bad in [7, 1000, u32::MAX] {
            assert!(matches!(files.fstat(bad), Err(HostIoErrno::EBADF)));
            assert!(matches!(
                files.pwrite(bad, 0, b"x"),
                Err(HostIoErrno::EBADF)
            ));
            assert!(matches!(files.close(bad), Err(HostIoErrno::EBADF)));
        }
    }

    #[test]
    fn too_many_open_files() {
        let mut files = HostFiles::new();
        let (flags, mode) = ro();
        let fds: Vec<u32> = (0..MAX_OPEN_FILES)
            .map(|_| files.open(b"/", flags, mode).unwrap())
            .collect();
        assert_eq!(fds, (0..MAX_OPEN_FILES as u32).collect::<Vec<_>>());
        assert!(matches!(
            files.open(b"/", flags, mode),
            Err(HostIoErrno::EMFILE)
        ));
        files.close(17).unwrap();
        assert_eq!(
            files.open(b"/", flags, mode).unwrap(),
            17,
            "freed slot is reused"
        );
    }

    #[test]
    fn create_pwrite_unlink() {
        let tmp = TempPath::new();
        let mut files = HostFiles::new();
        // lldb's flag word: WRONLY | CREAT | TRUNC | CLOEXEC.
        let flags = F::from_bits(0x4000_0601).unwrap();
        let mode = HostIoOpenMode::from_bits(0o600).unwrap();
        let fd = files.open(tmp.bytes(), flags, mode).unwrap();
        assert_eq!(files.pwrite(fd, 3, b"abc").unwrap(), 3);
        assert_eq!(files.fstat(fd).unwrap().st_size, 6);
        assert_eq!(std::fs::read(&tmp.0).unwrap(), b"\0\0\0abc");
        assert_eq!(std::fs::metadata(&tmp.0).unwrap().mode() & 0o777, 0o600);
        assert!(matches!(
            files.open(tmp.bytes(), F::O_WRONLY | F::O_CREAT | F::O_EXCL, mode),
            Err(HostIoErrno::EEXIST)
        ));
        // Read-only opens never truncate, even when asked to.
        let rfd = files
            .open(tmp.bytes(), F::O_RDONLY | F::O_TRUNC, mode)
            .unwrap();
        assert_eq!(files.fstat(rfd).unwrap().st_size, 6);
        assert!(matches!(
            files.pwrite(rfd, 0, b"x"),
            Err(HostIoErrno::EBADF)
        ));
        files.unlink(tmp.bytes()).unwrap();
        assert!(matches!(
            files.unlink(tmp.bytes()),
            Err(HostIoErrno::ENOENT)
        ));
    }

    #[test]
    fn readlink_proc_self_exe() {
        let files = HostFiles::new();
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let mut buf = vec![0u8; 4096];
        let n = files.readlink(b"/proc/self/exe", &mut buf).unwrap();
        assert_eq!(&buf[..n], exe.as_os_str().as_bytes());
        let mut tiny = [0u8; 3];
        assert!(matches!(
            files.readlink(b"/proc/self/exe", &mut tiny),
            Err(HostIoErrno::ENAMETOOLONG)
        ));
        assert!(matches!(
            files.readlink(b"/", &mut buf),
            Err(HostIoErrno::EINVAL)
        ));
        assert!(matches!(
            files.readlink(b"/nope/x", &mut buf),
            Err(HostIoErrno::ENOENT)
        ));
    }

    #[test]
    fn setfs_pid_and_root_prefix() {
        let tmp = TempPath::new();
        std::fs::write(&tmp.0, b"x").unwrap();
        let mut files = HostFiles::new();
        let me = gdbstub::common::Pid::new(std::process::id() as usize).unwrap();
        files.setfs(FsKind::Pid(me)).unwrap();
        assert_eq!(
            files.root, None,
            "same root and mount namespace: paths used directly"
        );

        // A process in another filesystem view: paths go under /proc/PID/root.
        files.root = Some(PathBuf::from(format!("/proc/{me}/root")));
        assert_eq!(
            files.resolve(b"/etc/passwd"),
            PathBuf::from(format!("/proc/{me}/root/etc/passwd"))
        );
        assert_eq!(
            files.resolve(b"rel"),
            PathBuf::from(format!("/proc/{me}/root/rel"))
        );
        let (flags, mode) = ro();
        let fd = files.open(tmp.bytes(), flags, mode).unwrap();
        assert_eq!(files.fstat(fd).unwrap().st_size, 1);

        files.setfs(FsKind::Stub).unwrap();
        assert_eq!(files.root, None);
        let gone = gdbstub::common::Pid::new(0x7fff_fff0).unwrap();
        files.setfs(FsKind::Pid(gone)).unwrap();
        assert!(matches!(
            files.open(tmp.bytes(), flags, mode),
            Err(HostIoErrno::ENOENT)
        ));
    }
}
