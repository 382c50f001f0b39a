//! Oracle test: the Go runtime's own `runtime.Stack(buf, true)` dump versus goruntime's listing.
//!
//! For each installed toolchain (Go 1.19–1.27) the fixture `testdata/parked` is built the static
//! ways (default, `-gcflags=all=-N -l`, `-ldflags=-s -w`); for the oldest, a middle and the
//! newest toolchain (all with GOSTUB_ORACLE_FULL=1) also as shipped builds: PIE (internal linker,
//! external linker, stripped), `-race`, and cgo with the external linker. Builds with cgo add the
//! goroutines of `cgo.go` (one blocked in a C call, one parked in a callback from C). Each build
//! runs twice (default GOTRACEBACK → Policy::All, GOTRACEBACK=system → Policy::System). The
//! fixture parks goroutines, writes the dump, and stops itself with SIGSTOP. The test then reads
//! the stopped process through `/proc/PID/mem` (no ptrace; a PIE's load bias from
//! `/proc/PID/auxv`) and compares, per goroutine, the runtime's text block with
//! `render_traceback` (arguments normalised to `...`). The only thread registers are sp/pc from
//! `/proc/PID/task/TID/syscall`, so goroutines that are running (or runnable, whose state may
//! change between the dump and the stop) are compared by presence and by the shape of their walk
//! only. GOGC=off keeps the GC from moving stacks between the dump and the stop.
//! Toolchains that are not installed are skipped; the test fails if none is.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

mod common;
use common::{build, relocated_binary, signal, state, thread_states, toolchains, Flavor, ProcMem};
use goruntime::{
    is_shown, list_goroutines_with, render_traceback, GStatus, GoBinary, Layout, ListOptions,
    Policy,
};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Running {
    child: Child,
}
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the fixture until it has written its `runtime.Stack` dump and is stopped.
fn run(exe: &Path, tag: &str) -> Result<(Running, String, PathBuf), String> {
    let dump = PathBuf::from(format!("{}.dump-{tag}", exe.display()));
    let stderr_path = PathBuf::from(format!("{}.stderr-{tag}", exe.display()));
    let _ = std::fs::remove_file(&dump);
    let stderr = File::create(&stderr_path).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.arg(&dump)
        .env("GOGC", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    cmd.env_remove("GOTRACEBACK");
    let child = cmd.spawn().map_err(|e| e.to_string())?;
    let pid = child.id();
    let r = Running { child };
    let t0 = Instant::now();
    let mut stop_sent = false;
    loop {
        if !stop_sent && dump.exists() {
            // The fixture sends itself SIGSTOP, but that was seen to be resumed when the fixture
            // is not a foreground job, so the test stops it too.
            signal(pid, "STOP");
            stop_sent = true;
        }
        if stop_sent && state(pid) == Some('T') {
            break;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            return Err("fixture did not stop within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&dump).map_err(|e| e.to_string())?;
    Ok((r, text, stderr_path))
}

/// Continues the stopped fixture with SIGQUIT and returns the runtime's crash dump (level 2,
/// all goroutines, fp/sp/pc) from its stderr.
fn quit_dump(mut r: Running, stderr_path: &Path) -> Result<String, String> {
    let pid = r.child.id();
    signal(pid, "QUIT");
    signal(pid, "CONT");
    let t0 = Instant::now();
    loop {
        if let Ok(Some(_)) = r.child.try_wait() {
            break;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            return Err("fixture did not die from SIGQUIT within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::read_to_string(stderr_path).map_err(|e| e.to_string())
}

/// Replaces a function line's argument list with `(...)`.
fn normalize_line(line: &str) -> String {
    if line.starts_with('\t')
        || line.starts_with("goroutine ")
        || line.starts_with("created by ")
        || !line.ends_with(')')
    {
        return line.to_string();
    }
    let b = line.as_bytes();
    let mut depth = 0i32;
    for i in (0..b.len()).rev() {
        match b[i] {
            b')' => depth += 1,
            b'(' => {
                depth -= 1;
                if depth == 0 {
                    return format!("{}(...)", &line[..i]);
                }
            }
            _ => {}
        }
    }
    line.to_string()
}

/// Splits the dump into blocks keyed by goid (normalised text, trailing newline kept).
fn parse_dump(text: &str) -> BTreeMap<u64, String> {
    let mut out = BTreeMap::new();
    for block in text.split("\n\n") {
        let block = block.trim_end_matches('\n');
        let Some(first) = block.lines().next() else {
            continue;
        };
        let Some(rest) = first.strip_prefix("goroutine ") else {
            continue;
        };
        let Some(id) = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|s| s.parse().ok())
        else {
            continue;
        };
        let norm: String = block.lines().map(|l| normalize_line(l) + "\n").collect();
        out.insert(id, norm);
    }
    out
}

fn header_status(block: &str) -> String {
    let h = block.lines().next().unwrap_or("");
    h.split('[').nth(1).unwrap_or("").to_string()
}

/// One comparison; returns (compared count, failures). Policy::All is checked against
/// `runtime.Stack(buf, true)` (always level 1); Policy::System against the SIGQUIT dump (level 2).
fn compare(label: &str, exe: &Path, policy: Policy) -> Result<(usize, Vec<String>), String> {
    let (proc_guard, stack_dump, stderr_path) = run(exe, &policy.to_string())?;
    let pid = proc_guard.child.id();
    let bin = &relocated_binary(exe, pid)?;
    let file =
        File::open(format!("/proc/{pid}/mem")).map_err(|e| format!("open /proc/{pid}/mem: {e}"))?;
    let mut mem = ProcMem { file };
    let t0 = Instant::now();
    let threads = thread_states(pid);
    let gs = list_goroutines_with(
        bin,
        &mut mem,
        &threads,
        &ListOptions {
            now_nanotime: None,
            unwind: true,
        },
    )
    .map_err(|e| e.to_string())?;
    let elapsed = t0.elapsed();
    let mut fails = Vec::new();
    // Every OS thread unwinds cleanly from its registers alone (idle Ms end at mcall/mstart,
    // goroutine threads at goexit).
    // A thread caught inside a signal handler (the SIGQUIT of the `system` dump can still be
    // running when the process stops) is unwound through the signal frame like any other.
    // Known limit: a thread inside racecall past its switch to g0's stack keeps the goroutine's
    // SP in R12, which /proc/PID/task/TID/syscall does not show: the walk ends there, or (while
    // racecall's own frame is still being set up) runs on into the race runtime's C code.
    // (Also when a signal handler interrupted it: the handler's frames come first.)
    let in_racecall =
        |frames: &[goruntime::Frame]| frames.iter().any(|f| &*f.function == "racecall");
    for t in &threads {
        if bin.pclntab().find_func(t.rip).is_none() {
            // In C code (a cgo call, the race runtime): goruntime has no frame sizes for it.
            eprintln!(
                "{label} {policy}: thread {} is in C code at {:#x}; not judged",
                t.tid, t.rip
            );
            continue;
        }
        let (frames, err) = goruntime::unwind::unwind_thread(bin, &mut mem, t);
        if in_racecall(&frames) {
            eprintln!(
                "{label} {policy}: thread {} is inside racecall; not judged",
                t.tid
            );
            continue;
        }
        // A signal that interrupted C code (the race runtime, a cgo call) leads the walk through
        // sigtramp/cgoSigtramp into the interrupted C frame, which has no Go frame sizes either.
        if let Some(goruntime::GoroutineError::UnknownPc { pc }) = err {
            let through_handler = frames
                .iter()
                .any(|f| f.function.contains("sigtramp") || f.function.contains("Sigtramp"));
            if through_handler && bin.pclntab().find_func(pc).is_none() {
                eprintln!(
                    "{label} {policy}: thread {} was interrupted in C code at {pc:#x}; not judged",
                    t.tid
                );
                continue;
            }
        }
        let last = frames.last().map(|f| f.function.as_ref()).unwrap_or("");
        let ok = err.is_none()
            && (frames.len() >= 2 || last == "runtime.clone")
            && matches!(
                last,
                "runtime.mcall"
                    | "runtime.mstart"
                    | "runtime.goexit"
                    | "runtime.rt0_go"
                    | "runtime.morestack"
                    | "runtime.clone"
            );
        if !ok {
            fails.push(format!(
                "{label} {policy}: thread {} ({:#x}) error {err:?} frames {:?}",
                t.tid,
                t.rip,
                frames.iter().map(|f| &f.function).collect::<Vec<_>>()
            ));
        }
    }
    drop(mem);
    // Running goroutines: unwound from the thread's live rip/rsp (from /proc/PID/task/TID/syscall).
    for g in gs
        .iter()
        // (A g caught between "running" and its M's bookkeeping has no thread: skipped.)
        .filter(|g| g.status == GStatus::Running && g.goid != 1 && g.thread.is_some())
        .filter(|g| !in_racecall(&g.frames))
        // (Nor one whose thread runs C code: the race runtime, a cgo call.)
        .filter(|g| {
            let rip = threads
                .iter()
                .find(|t| Some(t.tid) == g.thread)
                .map(|t| t.rip);
            rip.is_some_and(|pc| bin.pclntab().find_func(pc).is_some())
        })
    {
        let vis = goruntime::visible_frames(bin, g, Policy::All);
        let ok = g.thread.is_some()
            && g.error.is_none()
            && vis.first().map(|f| f.function.as_ref()) == Some("main.busy")
            && g.frames.last().map(|f| f.function.as_ref()) == Some("runtime.goexit");
        if ok {
            eprintln!(
                "{label} {policy}: running goroutine {} unwound from thread {:?} registers",
                g.goid, g.thread
            );
        } else {
            fails.push(format!(
                "{label} {policy}: running goroutine {} (thread {:?}, error {:?}) frames {:?}",
                g.goid,
                g.thread,
                g.error,
                g.frames.iter().map(|f| &f.function).collect::<Vec<_>>()
            ));
        }
    }
    let dump = match policy {
        Policy::System => quit_dump(proc_guard, &stderr_path)?,
        _ => {
            drop(proc_guard);
            stack_dump
        }
    };
    // pprof labels of the goroutine parked under pprof.Do.
    let labeled: Vec<_> = gs
        .iter()
        .filter(|g| g.frames.iter().any(|f| &*f.function == "main.labeled"))
        .collect();
    let want_labels = [
        ("role".to_string(), "fixture".to_string()),
        ("worker".to_string(), "7".to_string()),
    ];
    match labeled.as_slice() {
        [g] => {
            let mut l = g.labels.clone();
            l.sort();
            if l != want_labels {
                fails.push(format!("{label} {policy}: labels {:?}", g.labels));
            }
        }
        _ => fails.push(format!(
            "{label} {policy}: {} goroutines in main.labeled",
            labeled.len()
        )),
    }
    // Frame-pointer chain agrees with pcsp: a Go frame (not the innermost, past its prologue)
    // with a frame has RBP = fp - 16.
    for g in gs
        .iter()
        .filter(|g| g.error.is_none() && !matches!(g.status, GStatus::Running | GStatus::Runnable))
    {
        for f in g
            .frames
            .iter()
            .skip(1)
            .filter(|f| !f.inlined && f.function.starts_with("main.") && f.fp - f.sp > 8)
        {
            if f.bp != f.fp - 16 {
                fails.push(format!(
                    "{label} {policy}: goroutine {} frame {} bp {:#x} != fp-16 {:#x}",
                    g.goid,
                    f.function,
                    f.bp,
                    f.fp - 16
                ));
            }
        }
    }
    let mut want = parse_dump(&dump);
    want.remove(&0); // the signal handler's "goroutine 0 [idle]" (g0 of the interrupted M)
    let mut compared = 0;
    let ours: BTreeMap<u64, &goruntime::Goroutine> = gs
        .iter()
        .filter(|g| is_shown(bin, g, policy))
        .map(|g| (g.goid, g))
        .collect();
    for (id, block) in &want {
        let Some(g) = ours.get(id) else {
            fails.push(format!(
                "{label} {policy}: goroutine {id} in the runtime's dump is missing from ours"
            ));
            continue;
        };
        let st = header_status(block);
        let volatile = st.starts_with("running")
            || st.starts_with("runnable")
            || matches!(g.status, GStatus::Running | GStatus::Runnable)
            || *id == 1;
        if volatile {
            continue;
        }
        let got = render_traceback(bin, g, policy);
        compared += 1;
        if got != *block {
            fails.push(format!("{label} {policy}: goroutine {id} differs\n--- runtime:\n{block}--- goruntime:\n{got}"));
        }
    }
    for (id, g) in &ours {
        if !want.contains_key(id) && !g.system {
            fails.push(format!(
                "{label} {policy}: goroutine {id} not in the runtime's dump ({:?})",
                g.status
            ));
        }
    }
    eprintln!("{label} {policy}: {} goroutines listed in {elapsed:?}, {compared} compared exactly, {} failures", gs.len(), fails.len());
    Ok((compared, fails))
}

/// The builds compared for each toolchain: the static ones for every toolchain; PIE, race and
/// cgo builds for the oldest, a middle and the newest (for every one with GOSTUB_ORACLE_FULL=1,
/// as scripts/test-go-matrix runs it).
fn flavors_per_toolchain(tcs: &[(String, PathBuf)]) -> Vec<(usize, Flavor)> {
    let full = std::env::var_os("GOSTUB_ORACLE_FULL").is_some_and(|v| v == "1");
    let shipped_on = |i: usize| full || i == 0 || i == tcs.len() / 2 || i + 1 == tcs.len();
    // GOSTUB_ORACLE_ONLY=<text>: only the builds whose label contains it (while iterating).
    let only = std::env::var("GOSTUB_ORACLE_ONLY").unwrap_or_default();
    let mut out = Vec::new();
    for i in 0..tcs.len() {
        out.extend(Flavor::STATIC.iter().map(|&f| (i, f)));
        if shipped_on(i) {
            out.extend(Flavor::SHIPPED.iter().map(|&f| (i, f)));
        }
    }
    out.retain(|&(i, f)| format!("{}{}", tcs[i].0, f.label()).contains(&only));
    out
}

#[test]
fn oracle_runtime_stack_matches() {
    let tcs = toolchains();
    assert!(!tcs.is_empty(), "no Go toolchain installed");
    let mut fails = Vec::new();
    let mut total = 0;
    for (i, flavor) in flavors_per_toolchain(&tcs) {
        let (ver, go) = &tcs[i];
        let label = format!("{ver}{}", flavor.label());
        let exe = match build(go, ver, flavor) {
            Ok(e) => e,
            Err(e) => {
                fails.push(format!("{label}: {e}"));
                continue;
            }
        };
        match GoBinary::load(&exe) {
            Ok(b) => assert_eq!(&b.version().raw, ver),
            Err(e) => {
                fails.push(format!("{label}: load: {e}"));
                continue;
            }
        }
        for policy in [Policy::All, Policy::System] {
            match compare(&label, &exe, policy) {
                Ok((n, f)) => {
                    total += n;
                    if n < 10 {
                        fails.push(format!("{label} {policy}: only {n} goroutines compared"));
                    }
                    fails.extend(f);
                }
                Err(e) => fails.push(format!("{label} {policy}: {e}")),
            }
        }
    }
    eprintln!(
        "compared {total} goroutine tracebacks over {} toolchains",
        tcs.len()
    );
    assert!(
        fails.is_empty(),
        "{} failures:\n{}",
        fails.len(),
        fails.join("\n")
    );
}

#[test]
fn layout_table_matches_dwarf_and_wait_reasons_match_table() {
    let tcs = toolchains();
    assert!(!tcs.is_empty(), "no Go toolchain installed");
    let mut fails = Vec::new();
    for (ver, go) in &tcs {
        let exe = match build(go, ver, Flavor::Default) {
            Ok(e) => e,
            Err(e) => {
                fails.push(format!("{ver}: {e}"));
                continue;
            }
        };
        let bin = GoBinary::load(&exe).unwrap();
        assert!(bin.layout_from_dwarf(), "{ver}: no DWARF layout");
        if let Err(e) = bin
            .layout()
            .same_as_table(&Layout::for_version(bin.version()))
        {
            fails.push(format!("{ver}: {e}"));
        }
        let table = goruntime::wait_reasons::builtin_wait_reasons(bin.version().minor);
        let from_bin: Vec<String> = (0..table.len().max(1) as u8 + 1)
            .map(|i| bin.wait_reason_text(i).to_string())
            .collect();
        for (i, t) in table.iter().enumerate() {
            if from_bin[i] != *t {
                fails.push(format!(
                    "{ver}: waitReason {i}: binary {:?} table {t:?}",
                    from_bin[i]
                ));
            }
        }
        if from_bin[table.len()] != "unknown wait reason" {
            fails.push(format!(
                "{ver}: binary has more wait reasons than the table ({})",
                table.len()
            ));
        }
        // Stripped build: allgs found by disassembly (checked against symbols just below on the
        // unstripped build of the same source).
        let sw = GoBinary::load(&build(go, ver, Flavor::Stripped).unwrap()).unwrap();
        assert!(!sw.has_dwarf());
        if sw.allgs_location().is_none() {
            fails.push(format!("{ver}: -s -w: allgs not found"));
        }
        if goruntime::allgs::locate_by_disassembly(bin.pclntab(), bin.image())
            != bin.allgs_location()
        {
            fails.push(format!("{ver}: allgadd decoding disagrees with symbols"));
        }
        eprintln!("{ver}: layout, wait reasons and allgs location checked");
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}
