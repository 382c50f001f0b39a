//! The host tables `info os` lists (`qXfer:osdata:read`): processes, process groups, threads,
//! open files, internet sockets, System V IPC objects, CPUs and kernel modules, read from /proc
//! as gdbserver reads them (gdb's `nat/linux-osdata.c`), with gdbserver's type names, column
//! names and cell formats. This returns rows of text; `gdb/osdata.rs` writes the XML.
//!
//! Quirks kept for gdbserver's sake:
//! - a process's `command` in the process list is its command line, each argument followed by
//!   a space; a kernel thread (empty command line) shows `[comm]`. Elsewhere `command` is the
//!   `comm` name, or the pid itself when the process is gone;
//! - `cores` are the CPUs the process's threads last ran on (`stat` field 39), ascending;
//! - IPC times are `ctime(3)` text, trailing newline included, and empty when 0;
//! - socket states are TCP's names, also for UDP sockets (`CLOSE`, `ESTABLISHED`);
//! - a table whose /proc source is missing (no /proc/modules) is empty, not an error.
//!
//! Every walk is bounded by what the kernel lists; no file is read more than once per table.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::procfs::read_text;

/// One table type: its `info os` name, description and title (gdbserver's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsTableType {
    pub name: &'static str,
    pub description: &'static str,
    pub title: &'static str,
}

const fn kind(name: &'static str, description: &'static str, title: &'static str) -> OsTableType {
    OsTableType {
        name,
        description,
        title,
    }
}

/// The types gdbserver 13 offers, in its order.
pub const OS_TABLE_TYPES: &[OsTableType] = &[
    kind("cpus", "Listing of all cpus/cores on the system", "CPUs"),
    kind(
        "files",
        "Listing of all file descriptors",
        "File descriptors",
    ),
    kind(
        "modules",
        "Listing of all loaded kernel modules",
        "Kernel modules",
    ),
    kind("msg", "Listing of all message queues", "Message queues"),
    kind("processes", "Listing of all processes", "Processes"),
    kind(
        "procgroups",
        "Listing of all process groups",
        "Process groups",
    ),
    kind("semaphores", "Listing of all semaphores", "Semaphores"),
    kind(
        "shm",
        "Listing of all shared-memory regions",
        "Shared-memory regions",
    ),
    kind(
        "sockets",
        "Listing of all internet-domain sockets",
        "Sockets",
    ),
    kind("threads", "Listing of all threads", "Threads"),
];

/// A table: its `osdata type` attribute and rows of (column, value) cells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsTable {
    pub kind: &'static str,
    pub rows: Vec<Vec<(String, String)>>,
}

/// The table `name` names, or `None` for a type gdbserver does not have.
pub fn os_table(name: &str) -> Option<OsTable> {
    let (kind, rows) = match name {
        "cpus" => ("cpus", cpus()),
        "files" => ("files", per_task(false)),
        "modules" => ("modules", modules()),
        "msg" => ("message queues", ipc(&MSG)),
        "processes" => ("processes", processes()),
        "procgroups" => ("process groups", procgroups()),
        "semaphores" => ("semaphores", ipc(&SEM)),
        "shm" => ("shared memory", ipc(&SHM)),
        "sockets" => ("I sockets", sockets()),
        "threads" => ("threads", per_task(true)),
        _ => return None,
    };
    Some(OsTable { kind, rows })
}

type Row = Vec<(String, String)>;

fn row<const N: usize>(cells: [(&str, String); N]) -> Row {
    cells.into_iter().map(|(c, v)| (c.to_string(), v)).collect()
}

/// Every process id in /proc, ascending.
fn pids() -> Vec<u32> {
    numeric_entries("/proc")
}

/// The numeric entries of a directory, ascending.
fn numeric_entries(dir: &str) -> Vec<u32> {
    let mut ids: Vec<u32> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

/// `/proc/PID/stat`'s fields after the `(comm)`, and the comm.
fn stat(path: &str) -> Option<(String, Vec<String>)> {
    let text = read_text(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest = text.get(close + 1..)?;
    Some((comm, rest.split_whitespace().map(str::to_string).collect()))
}

/// The comm of `pid`, or the pid itself when it has none.
fn command(pid: u32) -> String {
    stat(&format!("/proc/{pid}/stat")).map_or_else(|| pid.to_string(), |(comm, _)| comm)
}

/// The command line of `pid`, each argument followed by a space; `[comm]` for a kernel thread.
fn command_line(pid: u32) -> String {
    let raw = read_text(&format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<&str> = raw.split('\0').filter(|a| !a.is_empty()).collect();
    if args.is_empty() {
        return format!("[{}]", command(pid));
    }
    args.iter().map(|a| format!("{a} ")).collect()
}

/// The CPU a task last ran on (`stat` field 39; the 37th after the comm).
fn core_of(path: &str) -> Option<u32> {
    stat(path)?.1.get(36)?.parse().ok()
}

fn processes() -> Vec<Row> {
    let names = Names::load();
    pids()
        .into_iter()
        .filter_map(|pid| {
            let status = read_text(&format!("/proc/{pid}/status")).ok()?;
            let uid = super::procfs::status_field(&status, "Uid:").unwrap_or(0);
            let cores: BTreeSet<u32> = numeric_entries(&format!("/proc/{pid}/task"))
                .into_iter()
                .filter_map(|tid| core_of(&format!("/proc/{pid}/task/{tid}/stat")))
                .collect();
            let cores: Vec<String> = cores.iter().map(u32::to_string).collect();
            Some(row([
                ("pid", pid.to_string()),
                ("user", names.user(uid)),
                ("command", command_line(pid)),
                ("cores", cores.join(",")),
            ]))
        })
        .collect()
}

fn procgroups() -> Vec<Row> {
    let mut members: Vec<(u32, u32)> = pids()
        .into_iter()
        .filter_map(|pid| {
            let (_, fields) = stat(&format!("/proc/{pid}/stat"))?;
            Some((fields.get(2)?.parse().ok()?, pid))
        })
        .collect();
    members.sort_unstable();
    members
        .into_iter()
        .map(|(pgid, pid)| {
            row([
                ("pgid", pgid.to_string()),
                ("leader command", command(pgid)),
                ("pid", pid.to_string()),
                ("command line", command_line(pid)),
            ])
        })
        .collect()
}

/// `threads` (one row a task) or `files` (one row an open descriptor).
fn per_task(threads: bool) -> Vec<Row> {
    let mut rows = Vec::new();
    for pid in pids() {
        let comm = command(pid);
        if threads {
            for tid in numeric_entries(&format!("/proc/{pid}/task")) {
                let core = core_of(&format!("/proc/{pid}/task/{tid}/stat"));
                rows.push(row([
                    ("pid", pid.to_string()),
                    ("command", comm.clone()),
                    ("tid", tid.to_string()),
                    ("core", core.map_or_else(String::new, |c| c.to_string())),
                ]));
            }
            continue;
        }
        for fd in numeric_entries(&format!("/proc/{pid}/fd")) {
            let name = std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            rows.push(row([
                ("pid", pid.to_string()),
                ("command", comm.clone()),
                ("file descriptor", fd.to_string()),
                ("name", name),
            ]));
        }
    }
    rows
}

const TCP_STATES: [&str; 11] = [
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
];

fn sockets() -> Vec<Row> {
    let names = Names::load();
    let mut rows = Vec::new();
    for (file, family, protocol) in [
        ("tcp", "INET", "STREAM"),
        ("udp", "INET", "DGRAM"),
        ("tcp6", "INET6", "STREAM"),
        ("udp6", "INET6", "DGRAM"),
    ] {
        let text = read_text(&format!("/proc/net/{file}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(remote), Some(state), Some(uid)) =
                (f.get(1), f.get(2), f.get(3), f.get(7))
            else {
                continue;
            };
            let (Some((la, lp)), Some((ra, rp))) = (endpoint(local), endpoint(remote)) else {
                continue;
            };
            let state = u8::from_str_radix(state, 16)
                .ok()
                .and_then(|s| TCP_STATES.get(usize::from(s).checked_sub(1)?))
                .map_or("(unknown)", |s| s);
            rows.push(row([
                ("local address", la),
                ("local port", lp.to_string()),
                ("remote address", ra),
                ("remote port", rp.to_string()),
                ("state", state.to_string()),
                ("user", names.user(uid.parse().unwrap_or(0))),
                ("family", family.to_string()),
                ("protocol", protocol.to_string()),
            ]));
        }
    }
    rows
}

/// `0100007F:0929` (IPv4) or 32 hex digits (IPv6, four host-order words) and a port.
fn endpoint(text: &str) -> Option<(String, u16)> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Option<Vec<u32>> = (0..addr.len() / 8)
        .map(|i| u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect();
    let bytes: Vec<u8> = words?.iter().flat_map(|w| w.to_le_bytes()).collect();
    let addr = match bytes.len() {
        4 => Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string(),
        16 => Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).to_string(),
        _ => return None,
    };
    Some((addr, port))
}

/// What one cell of an IPC table shows, from a field of its /proc/sysvipc file.
#[derive(Clone, Copy)]
enum Cell {
    Text(&'static str),
    Command(&'static str),
    User(&'static str),
    Group(&'static str),
    Time(&'static str),
}

struct IpcTable {
    file: &'static str,
    columns: &'static [(&'static str, Cell)],
}

use Cell::{Command, Group, Text, Time, User};

const SHM: IpcTable = IpcTable {
    file: "shm",
    columns: &[
        ("key", Text("key")),
        ("shmid", Text("shmid")),
        ("permissions", Text("perms")),
        ("size", Text("size")),
        ("creator command", Command("cpid")),
        ("last op. command", Command("lpid")),
        ("num attached", Text("nattch")),
        ("user", User("uid")),
        ("group", Group("gid")),
        ("creator user", User("cuid")),
        ("creator group", Group("cgid")),
        ("last shmat() time", Time("atime")),
        ("last shmdt() time", Time("dtime")),
        ("last shmctl() time", Time("ctime")),
    ],
};

const SEM: IpcTable = IpcTable {
    file: "sem",
    columns: &[
        ("key", Text("key")),
        ("semid", Text("semid")),
        ("permissions", Text("perms")),
        ("num semaphores", Text("nsems")),
        ("user", User("uid")),
        ("group", Group("gid")),
        ("creator user", User("cuid")),
        ("creator group", Group("cgid")),
        ("last semop() time", Time("otime")),
        ("last semctl() time", Time("ctime")),
    ],
};

const MSG: IpcTable = IpcTable {
    file: "msg",
    columns: &[
        ("key", Text("key")),
        ("msqid", Text("msqid")),
        ("permissions", Text("perms")),
        ("num used bytes", Text("cbytes")),
        ("num messages", Text("qnum")),
        ("last msgsnd() command", Command("lspid")),
        ("last msgrcv() command", Command("lrpid")),
        ("user", User("uid")),
        ("group", Group("gid")),
        ("creator user", User("cuid")),
        ("creator group", Group("cgid")),
        ("last msgsnd() time", Time("stime")),
        ("last msgrcv() time", Time("rtime")),
        ("last msgctl() time", Time("ctime")),
    ],
};

/// A /proc/sysvipc table: a header line naming the fields, then one line an object.
fn ipc(table: &IpcTable) -> Vec<Row> {
    let names = Names::load();
    let text = read_text(&format!("/proc/sysvipc/{}", table.file)).unwrap_or_default();
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    lines
        .map(|line| {
            let values: Vec<&str> = line.split_whitespace().collect();
            let field = |name: &str| {
                header
                    .iter()
                    .position(|h| *h == name)
                    .and_then(|i| values.get(i))
                    .copied()
                    .unwrap_or_default()
            };
            let number = |name: &str| field(name).parse::<u64>().unwrap_or(0);
            table
                .columns
                .iter()
                .map(|(column, cell)| {
                    let value = match *cell {
                        Text(f) => field(f).to_string(),
                        Command(f) => {
                            u32::try_from(number(f)).map_or_else(|_| String::new(), command)
                        }
                        User(f) => names.user(number(f)),
                        Group(f) => names.group(number(f)),
                        Time(f) => ctime(number(f)),
                    };
                    (column.to_string(), value)
                })
                .collect()
        })
        .collect()
}

/// `ctime(3)`: `Wed Dec  2 01:04:24 2026\n` in local time; empty for 0.
fn ctime(secs: u64) -> String {
    let Ok(t) = libc::time_t::try_from(secs) else {
        return String::new();
    };
    if t == 0 {
        return String::new();
    }
    let mut buf = [0 as libc::c_char; 32];
    // ctime_r writes at most 26 bytes (the text, its newline and a NUL) into a 32-byte buffer.
    let text = unsafe { libc::ctime_r(&t, buf.as_mut_ptr()) };
    if text.is_null() {
        return String::new();
    }
    // SAFETY: ctime_r succeeded, so buf holds a NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// `/proc/cpuinfo`: one row a processor, a column a `key : value` line.
fn cpus() -> Vec<Row> {
    let text = read_text("/proc/cpuinfo").unwrap_or_default();
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            block
                .lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect()
        })
        .collect()
}

/// `/proc/modules`: name, size, uses, dependencies, status, address.
fn modules() -> Vec<Row> {
    let text = read_text("/proc/modules").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [name, size, uses, deps, status, address] = [0, 1, 2, 3, 4, 5].map(|i| f.get(i));
            Some(row([
                ("name", name?.to_string()),
                ("size", size?.to_string()),
                ("num uses", uses?.to_string()),
                ("dependencies", deps?.to_string()),
                ("status", status?.to_string()),
                ("address", address?.to_string()),
            ]))
        })
        .collect()
}

/// User and group names from /etc/passwd and /etc/group (the number where there is none).
struct Names {
    users: Vec<(u64, String)>,
    groups: Vec<(u64, String)>,
}

impl Names {
    fn load() -> Names {
        let table = |path: &str| -> Vec<(u64, String)> {
            read_text(path)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let mut f = l.split(':');
                    let name = f.next()?;
                    Some((f.nth(1)?.parse().ok()?, name.to_string()))
                })
                .collect()
        };
        Names {
            users: table("/etc/passwd"),
            groups: table("/etc/group"),
        }
    }

    fn find(list: &[(u64, String)], id: u64) -> String {
        list.iter()
            .find(|(i, _)| *i == id)
            .map_or_else(|| id.to_string(), |(_, n)| n.clone())
    }

    fn user(&self, uid: u64) -> String {
        Self::find(&self.users, uid)
    }

    fn group(&self, gid: u64) -> String {
        Self::find(&self.groups, gid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell<'a>(row: &'a Row, column: &str) -> &'a str {
        &row.iter().find(|(c, _)| c == column).unwrap().1
    }

    #[test]
    fn this_process_is_listed_with_its_command_line_and_threads() {
        let me = std::process::id().to_string();
        let processes = os_table("processes").unwrap();
        let mine = processes
            .rows
            .iter()
            .find(|r| cell(r, "pid") == me)
            .unwrap();
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_name().unwrap().to_string_lossy();
        assert!(cell(mine, "command").contains(&*name));
        assert!(cell(mine, "command").ends_with(' '));
        assert!(!cell(mine, "cores").is_empty());
        let threads = os_table("threads").unwrap();
        assert!(threads.rows.iter().any(|r| cell(r, "pid") == me));
        let files = os_table("files").unwrap();
        assert!(files.rows.iter().any(|r| cell(r, "pid") == me));
        assert_eq!(os_table("procgroups").unwrap().kind, "process groups");
        assert!(os_table("unknown_entry").is_none());
        for t in OS_TABLE_TYPES {
            assert!(os_table(t.name).is_some(), "{}", t.name);
        }
    }

    #[test]
    fn socket_endpoints_and_times_read_as_gdbserver_prints_them() {
        assert_eq!(endpoint("0100007F:0929"), Some(("127.0.0.1".into(), 2345)));
        assert_eq!(
            endpoint("00000000000000000000000001000000:0016"),
            Some(("::1".into(), 22))
        );
        assert_eq!(endpoint("zz:1"), None);
        assert_eq!(ctime(0), "");
        assert!(ctime(1_796_173_464).ends_with("2026\n"));
    }
}
