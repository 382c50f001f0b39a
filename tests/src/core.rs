//! Core files for the post-mortem tests: a kernel core of a program that dies of a signal (the
//! child gets `RLIMIT_CORE` unlimited, and `/proc/sys/kernel/core_pattern` says where the
//! kernel puts the core), and a core written by gdb's `gcore` of a running process, natively
//! or through a server.
//!
//! Quirk: a `core_pattern` that pipes to a handler (`|/usr/lib/systemd/systemd-coredump ...`)
//! keeps the core from the test; [`kernel_core`] then returns `None` and the test says it is
//! skipped, since changing the pattern would change it for the whole machine.

use crate::client::Session;
use crate::paths::TempDir;
use crate::process::Proc;
use crate::server::Server;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A program that died of a signal and left a core.
pub struct Crashed {
    pub dir: TempDir,
    pub core: PathBuf,
    pub signal: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Where the kernel writes the core of `pid` (running `comm` in `dir`), or `None` when the
/// pattern pipes it to a handler.
fn core_path(dir: &Path, pid: i32, comm: &str) -> Option<PathBuf> {
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").ok()?;
    let pattern = pattern.trim();
    if pattern.starts_with('|') {
        return None;
    }
    let mut name = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            name.push(c);
            continue;
        }
        match chars.next() {
            Some('p') | Some('P') => name.push_str(&pid.to_string()),
            Some('e') => name.push_str(&comm.chars().take(15).collect::<String>()),
            Some('%') => name.push('%'),
            // %t, %h, %s, ...: the test finds the file by prefix below.
            _ => name.push('*'),
        }
    }
    let uses_pid =
        std::fs::read_to_string("/proc/sys/kernel/core_uses_pid").is_ok_and(|s| s.trim() == "1");
    if uses_pid && !pattern.contains("%p") {
        name.push_str(&format!(".{pid}"));
    }
    let path = dir.join(name);
    let text = path.display().to_string();
    let Some(star) = text.find('*') else {
        return Some(path);
    };
    let (parent, prefix) = text[..star].rsplit_once('/')?;
    std::fs::read_dir(parent)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
}

/// Runs `program` in a fresh directory with `env` and core dumps on, until it dies of a signal;
/// `None` when the kernel's core_pattern keeps the core from us.
pub fn kernel_core(program: &Path, env: &[(&str, &str)]) -> Option<Crashed> {
    kernel_core_killed(program, env, None)
}

/// Like [`kernel_core`]; with `kill`, the program is sent that signal once it prints `ready`.
pub fn kernel_core_killed(
    program: &Path,
    env: &[(&str, &str)],
    kill: Option<i32>,
) -> Option<Crashed> {
    let dir = TempDir::new("core");
    let mut cmd = Command::new(program);
    cmd.envs(env.iter().copied())
        .current_dir(dir.path())
        .stdin(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let unlimited = libc::rlimit {
                rlim_cur: libc::RLIM_INFINITY,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_CORE, &unlimited) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut proc = Proc::spawn(cmd, dir.path(), "crash", Duration::from_secs(60));
    let pid = proc.pid();
    if let Some(sig) = kill {
        proc.wait_stdout(r"(?m)^ready", Duration::from_secs(20));
        proc.signal(sig);
    }
    let status = proc
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("{} did not die", program.display()));
    let signal = status
        .signal()
        .unwrap_or_else(|| panic!("{} exited with {status}, not a signal", program.display()));
    assert!(
        status.core_dumped(),
        "{} died of signal {signal} without a core (core_pattern {:?})",
        program.display(),
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default()
    );
    let comm = program.file_name().unwrap().to_string_lossy().into_owned();
    let core = core_path(dir.path(), pid, &comm)?;
    assert!(core.exists(), "no core at {}", core.display());
    Some(Crashed {
        stdout: proc.stdout_text(),
        stderr: proc.stderr_text(),
        signal,
        core,
        dir,
    })
}

/// Writes a core of the running process `pid` with gdb's `gcore` to `out`: natively
/// (`server` is `None`) or through `server`. Returns gdb's transcript.
pub fn gcore(pid: i32, server: Option<&Server>, out: &Path, timeout: Duration) -> String {
    let s = Session::gdb().timeout(timeout);
    let s = match server {
        Some(server) => s.connect(server),
        None => s.cmd(format!("attach {pid}")),
    };
    let run = s.cmd(format!("gcore {}", out.display())).run();
    let text = run.all();
    assert!(
        out.exists() && text.contains("Saved corefile"),
        "gcore did not write {}:\n{text}",
        out.display()
    );
    text
}

/// The file lines (`\tFILE:LINE +0xOFF fp=.. sp=.. pc=..`) of each goroutine block of a
/// traceback text, by goid: at the `crash` level they carry every frame's exact position.
pub fn frame_positions(text: &str) -> std::collections::BTreeMap<u64, Vec<String>> {
    let header = regex::Regex::new(r"^goroutine (\d+) .*\]:$").unwrap();
    let mut out = std::collections::BTreeMap::new();
    let mut cur: Option<u64> = None;
    for l in text.lines() {
        if let Some(c) = header.captures(l) {
            cur = Some(c[1].parse().unwrap());
            out.insert(cur.unwrap(), Vec::new());
        } else if l.is_empty() {
            cur = None;
        } else if let (Some(g), true) = (cur, l.starts_with('\t')) {
            out.get_mut(&g).unwrap().push(l.to_string());
        }
    }
    out
}

/// `text` without the ` fp=.. sp=.. pc=..` of each frame (the `crash` level's positions), for
/// `parse_go_traceback`.
pub fn without_positions(text: &str) -> String {
    regex::Regex::new(r"(?m) fp=0x[0-9a-f]+ sp=0x[0-9a-f]+ pc=0x[0-9a-f]+$")
        .unwrap()
        .replace_all(text, "")
        .into_owned()
}
