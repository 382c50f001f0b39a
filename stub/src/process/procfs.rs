//! Every /proc read of the stub, returning data: whole files in a few large reads, and the facts
//! a client asks for (status fields, cwd, exe, maps regions, thread names, the host name).
//!
//! Kernel quirk: /proc files report a length of 0, so `fs::read_to_string` sizes its buffer
//! from nothing and reads a maps file in a dozen growing pieces. These read 64 KiB at a time.

use std::io::Read;
use std::path::PathBuf;

use nix::unistd::Pid;

const CHUNK: usize = 64 * 1024;

/// The whole file, in reads of up to 64 KiB.
pub fn read(path: &str) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let mut bytes = Vec::with_capacity(CHUNK);
    let mut chunk = vec![0u8; CHUNK];
    loop {
        match file.read(&mut chunk)? {
            0 => return Ok(bytes),
            n => bytes.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The whole file as text.
pub fn read_text(path: &str) -> std::io::Result<String> {
    String::from_utf8(read(path)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Whether task `tid` is a zombie (`State: Z` in /proc/TID/status); false when unreadable.
pub fn is_zombie(tid: Pid) -> bool {
    read_text(&format!("/proc/{tid}/status")).is_ok_and(|s| status_state(&s) == Some('Z'))
}

/// Whether task `tid` is held in a ptrace-stop (`State: t`) with no SIGKILL pending. A thread
/// the stub stopped is no longer held once `exit_group` killed it: SIGKILL ends a ptrace-stop,
/// and the thread runs (`R`) to its exit, then is a zombie until reaped.
pub fn is_held_in_ptrace_stop(tid: Pid) -> bool {
    let Ok(s) = read_text(&format!("/proc/{tid}/status")) else {
        return false;
    };
    status_state(&s) == Some('t') && status_mask(&s, "SigPnd:") & (1 << (libc::SIGKILL - 1)) == 0
}

/// The state letter (`R`, `t`, `Z`, ...) of a /proc status file.
fn status_state(status: &str) -> Option<char> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))?
        .trim_start()
        .chars()
        .next()
}

/// A signal mask (`SigPnd:`, `SigBlk:`, ...) of a /proc status file; 0 when absent.
pub fn status_mask(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0)
}

/// The first number after `key` (e.g. `"Tgid:"`) in a /proc status file.
pub fn status_field(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What `qProcessInfo` tells of a process (0 where /proc does not say).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    pub ppid: u64,
    pub uid: u64,
    pub gid: u64,
}

/// One mapping of the process's address space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    /// As maps shows them, e.g. `r-xp`.
    pub perms: String,
    /// The mapped file or pseudo-file (`[stack]`); empty for anonymous memory.
    pub path: String,
}

/// `pid`'s parent and real ids, from its status file.
pub fn process_info(pid: Pid) -> ProcessInfo {
    let status = read_text(&format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |key| status_field(&status, key).unwrap_or(0);
    ProcessInfo {
        ppid: field("PPid:"),
        uid: field("Uid:"),
        gid: field("Gid:"),
    }
}

/// The mappings of `pid`, in address order.
pub fn regions(pid: Pid) -> std::io::Result<Vec<Region>> {
    let text = read_text(&format!("/proc/{pid}/maps"))?;
    Ok(memcache::mappings(&text)
        .map(|m| Region {
            start: m.start,
            end: m.end,
            perms: m.perms.to_string(),
            path: m.path.to_string(),
        })
        .collect())
}

/// The program file a process runs (`/proc/PID/exe`).
pub fn program_of(pid: Pid) -> std::io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
}

pub fn working_dir(pid: Pid) -> std::io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd"))
}

/// The kernel's name of a thread (`/proc/PID/task/TID/comm`), if it has a non-empty one.
pub fn thread_name(pid: Pid, tid: Pid) -> Option<String> {
    let name = read_text(&format!("/proc/{pid}/task/{tid}/comm")).ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// This host's name (empty when unknown).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_status_and_maps() {
        let status = read_text("/proc/self/status").unwrap();
        assert_eq!(
            status_field(&status, "Pid:"),
            Some(u64::from(std::process::id()))
        );
        assert!(read_text("/proc/self/maps").unwrap().contains("[stack]"));
        assert!(read("/proc/self/nonexistent").is_err());
        let me = Pid::this();
        assert!(regions(me).unwrap().iter().any(|r| r.path == "[stack]"));
        assert_eq!(program_of(me).unwrap(), std::env::current_exe().unwrap());
        assert_eq!(working_dir(me).unwrap(), std::env::current_dir().unwrap());
        assert!(thread_name(me, me).is_some());
    }
}
