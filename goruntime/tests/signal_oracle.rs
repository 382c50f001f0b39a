//! Signal-frame oracle: threads caught inside a signal handler are unwound through the signal
//! context to their interrupted frames.
//!
//! The fixture `fixtures/go/profiled` (the workspace's, shared with the stub's tests) runs busy goroutines under a 2 kHz CPU profile (SIGPROF) and
//! sysmon preemption (SIGURG). The test stops it repeatedly (SIGSTOP/SIGCONT) and, at each stop,
//! reads it through `/proc/PID/mem` with the sp/pc of every thread from
//! `/proc/PID/task/TID/syscall` (no ptrace). Every thread whose walk passes a signal trampoline
//! is judged: the walk crosses the frame without error and ends where a thread's walk ends
//! (goexit, mstart, mcall); the goroutine that thread runs ends at goexit, and a busy one shows
//! `main.spin`/`main.busy` as its first frames under `all`. The runtime itself never shows a
//! running goroutine's frames, so there is no text to compare. Oldest, a middle and the newest
//! toolchain (every one with GOSTUB_ORACLE_FULL=1); default and PIE builds.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

mod common;
use common::{
    build_fixture, relocated_binary, signal, state, thread_states, toolchains, Flavor, ProcMem,
};
use goruntime::{list_goroutines_with, unwind::unwind_thread, GStatus, ListOptions, Policy};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Stops per build, at most; the walk stops early once enough handler threads were judged.
const MAX_STOPS: usize = 400;
const ENOUGH: usize = 4;

const SIGNAL_PATH: [&str; 4] = [
    "runtime.sigtramp",
    "runtime.cgoSigtramp",
    "runtime.sigreturn",
    "runtime.sigreturn__sigaction",
];

fn wait_state(pid: u32, want: impl Fn(char) -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        if state(pid).is_some_and(&want) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// Stops `exe` repeatedly; returns (threads judged, failures).
fn judge(label: &str, exe: &Path) -> Result<(usize, Vec<String>), String> {
    let mut child = Command::new(exe)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id();
    let stdout = child.stdout.take();
    let result = (|| {
        // It prints "ready" once its goroutines run.
        let mut lines = BufReader::new(stdout.ok_or("no stdout")?).lines();
        if !lines.any(|l| l.is_ok_and(|l| l == "ready")) {
            return Err("fixture did not start".to_string());
        }
        let bin = relocated_binary(exe, pid)?;
        let (mut judged, mut fails, mut stops) = (0, Vec::new(), 0);
        while stops < MAX_STOPS && judged < ENOUGH {
            stops += 1;
            signal(pid, "STOP");
            if !wait_state(pid, |c| c == 'T') {
                return Err("fixture did not stop".into());
            }
            let threads = thread_states(pid);
            let mut mem = ProcMem {
                file: File::open(format!("/proc/{pid}/mem")).map_err(|e| e.to_string())?,
            };
            let opts = ListOptions {
                now_nanotime: None,
                unwind: true,
            };
            let gs =
                list_goroutines_with(&bin, &mut mem, &threads, &opts).map_err(|e| e.to_string())?;
            for t in &threads {
                let (frames, err) = unwind_thread(&bin, &mut mem, t);
                let Some(at) = frames
                    .iter()
                    .position(|f| SIGNAL_PATH.contains(&&*f.function))
                else {
                    continue;
                };
                judged += 1;
                let names: Vec<&str> = frames.iter().map(|f| &*f.function).collect();
                let last = names.last().copied().unwrap_or("");
                let ends = matches!(last, "runtime.goexit" | "runtime.mstart" | "runtime.mcall");
                if err.is_some() || !ends || at + 1 >= names.len() {
                    fails.push(format!(
                        "{label}: thread {} in a handler: error {err:?} frames {names:?}",
                        t.tid
                    ));
                    continue;
                }
                let Some(g) = gs
                    .iter()
                    .find(|g| g.thread == Some(t.tid) && g.status == GStatus::Running)
                else {
                    eprintln!(
                        "{label}: thread {} in a handler, interrupted {:?} (no goroutine)",
                        t.tid,
                        &names[at + 1..]
                    );
                    continue;
                };
                let gnames: Vec<&str> = g.frames.iter().map(|f| &*f.function).collect();
                let vis = goruntime::visible_frames(&bin, g, Policy::All);
                let vis: Vec<&str> = vis.iter().map(|f| &*f.function).collect();
                let busy = names[at + 1..]
                    .first()
                    .is_some_and(|f| f.starts_with("main."));
                let ok = g.error.is_none()
                    && gnames.last() == Some(&"runtime.goexit")
                    && (!busy
                        || vis
                            .first()
                            .is_some_and(|f| *f == "main.spin" || *f == "main.busy"));
                eprintln!(
                    "{label}: thread {} in a handler, goroutine {}: {gnames:?}",
                    t.tid, g.goid
                );
                if !ok {
                    fails.push(format!("{label}: goroutine {} on thread {} in a handler: error {:?} frames {gnames:?}", g.goid, t.tid, g.error));
                }
            }
            signal(pid, "CONT");
            if !wait_state(pid, |c| c != 'T') {
                return Err("fixture did not continue".into());
            }
            std::thread::sleep(Duration::from_millis(3 + (stops % 7) as u64));
        }
        eprintln!(
            "{label}: {judged} handler threads judged in {stops} stops, {} failures",
            fails.len()
        );
        Ok((judged, fails))
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

#[test]
fn oracle_signal_frames() {
    let tcs = toolchains();
    assert!(!tcs.is_empty(), "no Go toolchain installed");
    let full = std::env::var_os("GOSTUB_ORACLE_FULL").is_some_and(|v| v == "1");
    let mut fails = Vec::new();
    let mut judged = 0;
    for (i, (ver, go)) in tcs.iter().enumerate() {
        if !(full || i == 0 || i == tcs.len() / 2 || i + 1 == tcs.len()) {
            continue;
        }
        for flavor in [Flavor::Default, Flavor::Pie] {
            let label = format!("{ver}{}", flavor.label());
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/go/profiled");
            match build_fixture(&src, go, ver, flavor).and_then(|exe| judge(&label, &exe)) {
                Ok((n, f)) => {
                    judged += n;
                    fails.extend(f);
                }
                Err(e) => fails.push(format!("{label}: {e}")),
            }
        }
    }
    assert!(
        judged > 0,
        "no stop caught a thread inside a signal handler"
    );
    assert!(
        fails.is_empty(),
        "{} failures:\n{}",
        fails.len(),
        fails.join("\n")
    );
}
