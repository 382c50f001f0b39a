//! The goroutines thread view on the builds people ship, through gdb and lldb-19: `states` as
//! PIE (internal and external linker, stripped) and with `-race`, `cgo` linked externally and
//! `profiled` (busy goroutines under a CPU profile, so threads stop inside SIGPROF/SIGURG
//! handlers), on the oldest and newest Go. PIE (internal, external, stripped), `-race` and cgo
//! external are also compared under GOTRACEBACK=system (`monitor traceback system`, set before
//! the stop: a stop's goroutine threads keep the policy they were built under) on the oldest,
//! a middle or the newest Go against the SIGQUIT dump of the same process once the client has
//! detached, and there every `goroutine ID bt` is the dump's block frame by frame. With
//! GOSTUB_ORACLE_FULL=1, `full_client_matrix` runs every client, build, oldest, middle and
//! newest Go and policy (scripts/test-go-matrix).
//!
//! At main.checkpoint, frame #0 of every goroutine thread is the first frame the runtime shows:
//! for a parked goroutine its dump's (`runtime.Stack` written before the checkpoint); for every
//! goroutine, gostub's own `monitor goroutine ID bt` at the same stop, which for a goroutine
//! whose thread is inside a signal handler starts at the interrupted frame.
//! A goroutine on its thread (running, or in a syscall or C call) outside a handler keeps the
//! thread's live registers, so its frame #0 may be one the traceback hides or starts after (a
//! runtime or C function); it is checked to be no signal handler's frame.
//! `monitor goroutines` matches the dump as in `goroutines_oracle.rs`. (`next` on a running
//! goroutine of a PIE binary: `goroutine_control.rs`.)
//!
//! Stripped builds have no symbols: breakpoints are set at the pclntab's address plus the load
//! bias, and frame #0 is judged by pc against the function and `+0x..` offset of the dump (an
//! outer frame's pc is its call instruction, 2 to 7 bytes before the return address).

use gostub_tests::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// Running or runnable: may change between the dump and the checkpoint.
fn volatile(state: &str) -> bool {
    state.starts_with("running") || state.starts_with("runnable")
}

/// Frames of a signal handler: never a goroutine's frame #0.
fn handler_frame(func: &str) -> bool {
    let Some(f) = func.strip_prefix("runtime.") else {
        return false;
    };
    f.starts_with("sig") || f == "cgoSigtramp" || f == "badsignal" || f.starts_with("sighandler")
}

/// Frame #0 of a goroutine thread as a client printed it.
#[derive(Debug)]
struct Top {
    pc: Option<u64>,
    func: String,
    line: Option<u32>,
    text: String,
}

/// goid -> frame #0, from gdb's `thread apply all bt 1` or lldb's `thread backtrace all -c 1`.
fn top_frames(client: Client, text: &str) -> BTreeMap<u64, Top> {
    let (head, f0) = match client {
        Client::Gdb => (
            Regex::new(r"^Thread \d+ \(Thread \d+\.(\d+) ").unwrap(),
            Regex::new(r"^#0\s+(?:0x([0-9a-f]+) in )?(\S+) \(.*\)(?: at (\S+):(\d+))?").unwrap(),
        ),
        Client::Lldb => (
            Regex::new(r"^\*? *thread #\d+, name = 'goroutine (\d+) ").unwrap(),
            Regex::new(r"frame #0: 0x([0-9a-f]+)(?: [^`\s]+`(\S+)(?: \[inlined\])?(?: \+ \d+)?(?: at (\S+?):(\d+))?)?").unwrap(),
        ),
    };
    let mut out = BTreeMap::new();
    let mut cur: Option<u64> = None;
    for l in text.lines() {
        if let Some(c) = head.captures(l) {
            let n: u64 = c[1].parse().unwrap();
            cur = match client {
                Client::Gdb => n.checked_sub(GOROUTINE_TID_BASE),
                Client::Lldb => Some(n),
            };
            continue;
        }
        if let (Some(g), Some(c)) = (cur, f0.captures(l)) {
            let top = Top {
                pc: c
                    .get(1)
                    .map(|m| u64::from_str_radix(m.as_str(), 16).unwrap()),
                func: go_func_normalise(c.get(2).map_or("", |m| m.as_str())),
                line: c.get(4).map(|m| m.as_str().parse().unwrap()),
                text: l.trim().to_string(),
            };
            out.insert(g, top);
            cur = None;
        }
    }
    out
}

/// goid -> (function, `+0x..` offset) of the first physical frame (the first with an offset;
/// inlined frames have none) of each block of a runtime dump.
fn first_frame_offsets(dump: &str) -> BTreeMap<u64, (String, u64)> {
    let header = Regex::new(r"^goroutine (\d+) ").unwrap();
    let func = Regex::new(r"^(\S.*)\(.*\)$").unwrap();
    let offset = Regex::new(r"^\t\S+:\d+ \+0x([0-9a-f]+)").unwrap();
    let mut out = BTreeMap::new();
    let (mut goid, mut last_func) = (None, String::new());
    for l in dump.lines() {
        if let Some(c) = header.captures(l) {
            goid = c[1].parse::<u64>().ok();
        } else if let Some(c) = func.captures(l) {
            last_func = go_func_normalise(&c[1]);
        } else if let (Some(g), Some(c)) = (goid, offset.captures(l)) {
            out.insert(
                g,
                (last_func.clone(), u64::from_str_radix(&c[1], 16).unwrap()),
            );
            goid = None;
        }
    }
    out
}

/// One debugger session at main.checkpoint of a build, and the runtime's dump (if it writes one).
struct Checked {
    label: String,
    client: Client,
    stripped: bool,
    load_base: u64,
    prog: std::path::PathBuf,
    dump_text: String,
    dump: Vec<GoBlock>,
    /// The dump was taken after the stop (the SIGQUIT dump after detach): a goroutine gostub
    /// showed running or runnable may be anything in it.
    dump_after_stop: bool,
    sections: BTreeMap<String, String>,
    transcript: String,
}

impl Checked {
    /// Whether goroutine `b` of the dump may differ from what gostub showed at the stop (`shown`:
    /// its state there): it was running or runnable, or — for a dump taken after the stop — it
    /// changed state in between (e.g. a GC worker that went idle after the stop's GC phase).
    /// A goroutine in the same parked state at both must match exactly.
    fn may_differ(&self, b: &GoBlock, shown: Option<&str>) -> bool {
        volatile(&b.state)
            || (self.dump_after_stop && shown.is_none_or(|s| volatile(s) || s != b.state))
    }
    fn section(&self, name: &str) -> &str {
        self.sections
            .get(name)
            .unwrap_or_else(|| panic!("{}: no section {name}\n{}", self.label, self.ctx()))
    }
    fn ctx(&self) -> String {
        format!(
            "{} ({:?})\n--- runtime dump ---\n{}\n--- transcript ---\n{}",
            self.label,
            self.client,
            self.dump_text,
            tail(&self.transcript, 20000)
        )
    }
}

/// The commands that print `monitor goroutine ID bt` for every goroutine thread.
fn bt_every_goroutine_thread(client: Client) -> String {
    match client {
        Client::Gdb => "python exec(\"for t in gdb.selected_inferior().threads():\\n  if t.ptid[1] >= 1 << 30:\\n    gdb.execute('monitor goroutine %d bt' % (t.ptid[1] - (1 << 30)))\")".to_string(),
        Client::Lldb => "script [lldb.debugger.HandleCommand('process plugin packet monitor goroutine %d bt' % (t.GetThreadID() - (1 << 30))) for t in lldb.process if t.GetThreadID() >= 1 << 30]".to_string(),
    }
}

/// The traceback policy a build is compared under.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Policy {
    /// `runtime.Stack(buf, true)`, written before the checkpoint.
    All,
    /// GOTRACEBACK=system and `monitor traceback system`; the oracle is the SIGQUIT dump of the
    /// same process, sent once the client has detached.
    System,
}

/// The SIGQUIT dump in the launched program's stderr (which is the server's): its goroutine
/// blocks from the `SIGQUIT: quit` line on, without goroutine 0 (the g0 of the M that took the
/// signal, in no goroutine list).
fn sigquit_dump(server: &Server, pid: i32, label: &str) -> String {
    kill(pid, libc::SIGQUIT);
    let gone = wait_until(Duration::from_secs(30), || !pid_alive(pid));
    let err = server.proc.stderr_text();
    assert!(gone, "{label}: still alive after SIGQUIT\n{}", server.log());
    let at = err
        .rfind("SIGQUIT: quit")
        .unwrap_or_else(|| panic!("{label}: no SIGQUIT dump\n{}", server.log()));
    let blocks: Vec<&str> = err[at..].split("\n\n").collect();
    blocks
        .into_iter()
        .filter(|b| !b.starts_with("goroutine 0 "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn run_checked(
    client: Client,
    prog_name: &str,
    version: &str,
    variant: &str,
    policy: Policy,
) -> Checked {
    let prog = go_fixture(prog_name, version, variant);
    let system = policy == Policy::System;
    let label = format!(
        "{prog_name} go{version} {variant}{}",
        if system { " (traceback system)" } else { "" }
    );
    let dir = TempDir::new("builds");
    let out = dir.path().join("stack.txt");
    let out_s = out.display().to_string();
    let mut env = vec![("FIXTURE_STACK_OUT", out_s.as_str())];
    if system {
        env.push(("GOTRACEBACK", "system"));
    }
    let server = Server::start_env(Mode::Launch(&prog, &[]), &env);
    let pid = server.inferior_pid();
    let stripped = variant.contains("stripped");
    let load_base = load_base(pid, &prog);
    let (monitor, apply, detach) = match client {
        Client::Gdb => ("monitor", "thread apply all bt 1", "detach"),
        Client::Lldb => (
            "process plugin packet monitor",
            "thread backtrace all -c 1",
            "process detach",
        ),
    };
    let mut session = Session::new(client).file(&prog).connect(&server);
    // The policy is set before the stop: the goroutine threads of a stop keep the policy in
    // force when they were first listed.
    if system {
        session = session.cmd(format!("{monitor} traceback system"));
    }
    session = if stripped {
        let at = load_base + go_func_addr(&prog, "main.checkpoint");
        match client {
            Client::Gdb => session.cmd(format!("break *{at:#x}")),
            Client::Lldb => session.cmd(format!("breakpoint set -a {at:#x}")),
        }
        .cmd("continue")
    } else {
        session.continue_to("main.checkpoint")
    };
    session = session
        .section("goroutines")
        .cmd(format!("{monitor} goroutines"))
        .section("bt")
        .cmd(bt_every_goroutine_thread(client))
        .section("apply")
        .cmd(apply)
        .section("end");
    if system {
        session = session.cmd(detach);
    }
    let run = session.timeout(Duration::from_secs(120)).run();
    run.expect_finished();
    server.assert_no_panic();
    let dump_text = if system {
        sigquit_dump(&server, pid, &label)
    } else {
        std::fs::read_to_string(&out).unwrap_or_default()
    };
    Checked {
        label,
        client,
        stripped,
        load_base,
        dump: parse_go_traceback(&dump_text),
        dump_text,
        dump_after_stop: system,
        sections: split_sections(&run.stdout),
        transcript: run.all(),
        prog,
    }
}

/// `monitor goroutines` lists the dump's goroutines, with its states and first frames (a
/// running or runnable goroutine only stays running or runnable).
fn check_list(c: &Checked) {
    let ctx = c.ctx();
    assert!(c.dump.len() >= 3, "no runtime dump\n{ctx}");
    let (lines, total) = parse_goroutines_list(c.section("goroutines"));
    // A running goroutine gostub cannot unwind (in a vDSO call) is listed without a frame.
    let got: Vec<u64> = Regex::new(r"(?m)^goroutine (\d+) \[")
        .unwrap()
        .captures_iter(c.section("goroutines"))
        .map(|m| m[1].parse().unwrap())
        .collect();
    let want: Vec<u64> = {
        let mut ids: Vec<u64> = c.dump.iter().map(|b| b.goid).collect();
        ids.sort();
        ids
    };
    assert_eq!(got, want, "goroutines differ from the runtime's\n{ctx}");
    assert!(total.is_some(), "no totals line\n{ctx}");
    for l in &lines {
        let b = c.dump.iter().find(|b| b.goid == l.goid).unwrap();
        if c.may_differ(b, Some(&l.state)) {
            assert!(
                c.dump_after_stop || volatile(&l.state),
                "goroutine {} state\n{ctx}",
                l.goid
            );
            continue;
        }
        let top = b
            .frames
            .first()
            .unwrap_or_else(|| panic!("goroutine {}: no frames in the dump\n{ctx}", l.goid));
        assert_eq!(
            (&l.state, &l.func, &l.file, l.line),
            (&b.state, &top.func, &top.file, top.line),
            "goroutine {}\n{ctx}",
            l.goid
        );
    }
}

/// Whether client frame #0 `top` is the first traceback frame of `want` (for a stripped build:
/// its pc lies at the first physical frame's function and offset `off`, or at most 7 bytes
/// before it). A client may show an
/// inlined frame as the function it is inlined into: lldb at the inlined line, gdb for
/// runtime.Gosched in main.goschedLoop at the caller's line.
fn same_frame(c: &Checked, top: &Top, want: &[GoFrame], off: Option<&(String, u64)>) -> bool {
    let Some(first) = want.first() else {
        return true;
    };
    // The known limit of goroutines_oracle.rs: a call through a runtime function inlined into
    // sync's linkname is shown at its return address, the line after.
    if first.func.starts_with("sync.runtime_")
        && top.func == first.func
        && top.line == Some(first.line + 1)
    {
        return true;
    }
    if !c.stripped {
        let inlined_shown_as_caller = !first.has_offset
            && (top.line == Some(first.line) || want.get(1).is_some_and(|f| f.func == top.func));
        return (top.func == first.func && top.line == Some(first.line)) || inlined_shown_as_caller;
    }
    let (Some(pc), Some((func, off))) = (top.pc, off) else {
        return false;
    };
    // A generic function's name is printed with `[...]` for its shapes: not looked up.
    if func.contains("[...]") {
        return true;
    }
    let ret = c.load_base + go_func_addr(&c.prog, func) + off;
    (ret.saturating_sub(7)..=ret).contains(&pc)
}

/// Frame #0 of every goroutine thread is the runtime's first shown frame: the dump's for a
/// parked goroutine, gostub's traceback's at this stop for one not on a thread; no goroutine
/// thread starts in a signal handler unless `exempt(goid, function)` (a thread whose own stop,
/// with live registers, the client was told). A running goroutine gostub cannot unwind (inside a
/// vDSO call) has no frames, as in the runtime's own dump. Returns how many goroutine threads
/// were judged.
fn check_tops(c: &Checked, exempt: &dyn Fn(u64, &str) -> bool) -> usize {
    let ctx = c.ctx();
    let tops = top_frames(c.client, c.section("apply"));
    let now = parse_go_traceback(c.section("bt"));
    let offsets = first_frame_offsets(&c.dump_text);
    let mut bad = Vec::new();
    for g in &now {
        let Some(top) = tops.get(&g.goid) else {
            bad.push(format!("goroutine {}: no frame #0", g.goid));
            continue;
        };
        if g.frames.is_empty() && !g.state.starts_with("running") {
            bad.push(format!("goroutine {}: no frames in gostub's bt", g.goid));
        }
        // Running, in a syscall, or switched to its M's system stack (e.g. `[GC mark termination]`:
        // the goroutine waits while its thread runs g0 code for it): the thread shows its live
        // registers, so frame #0 is the thread's, not the goroutine's first frame.
        let on_system_stack = g
            .frames
            .first()
            .is_some_and(|f| f.func == "runtime.systemstack_switch");
        if let Some(b) = c.dump.iter().find(|b| b.goid == g.goid) {
            let parked = !c.may_differ(b, Some(&g.state))
                && !b.state.starts_with("syscall")
                && !on_system_stack;
            let off = offsets.get(&g.goid);
            if parked && !same_frame(c, top, &b.frames, off) {
                bad.push(format!(
                    "goroutine {} [{}]: frame #0 {:?}, runtime {:?}",
                    g.goid, b.state, top.text, b.frames[0]
                ));
            }
        }
        let live =
            g.state.starts_with("running") || g.state.starts_with("syscall") || on_system_stack;
        let wrong_parked = !c.stripped && !live && !same_frame(c, top, &g.frames, None);
        if wrong_parked || (!exempt(g.goid, &top.func) && handler_frame(&top.func)) {
            bad.push(format!(
                "goroutine {} [{}]: frame #0 {:?}, gostub's {:?}",
                g.goid,
                g.state,
                top.text,
                g.frames.first()
            ));
        }
    }
    assert!(bad.is_empty(), "{}\n{ctx}", bad.join("\n"));
    now.len()
}

/// Issue 12 (gaps, item 4): every `goroutine ID bt` block at the stop is the dump's block of that
/// goroutine frame by frame (function, file, line) with the same `created by`, unless the
/// goroutine may have changed between the stop and the dump. Returns how many were compared.
fn check_bt_frames(c: &Checked) -> usize {
    let ctx = c.ctx();
    let mut compared = 0;
    let mut bad = Vec::new();
    for g in parse_go_traceback(c.section("bt")) {
        let Some(b) = c.dump.iter().find(|b| b.goid == g.goid) else {
            continue;
        };
        // The runtime's own workers (the sweeper, the scavenger, GC workers) run at the GC
        // cycles between the stop and a later dump, and may park again elsewhere in the same
        // state (bgsweep's first and loop parks are both `[GC sweep wait]`).
        let runtime_worker = b
            .created_by
            .as_deref()
            .is_some_and(|by| by.starts_with("runtime."));
        if c.may_differ(b, Some(&g.state)) || (c.dump_after_stop && runtime_worker) {
            continue;
        }
        if (frame_lines(&g.frames), &g.created_by) != (frame_lines(&b.frames), &b.created_by) {
            bad.push(format!(
                "goroutine {} [{}]:\n  gostub  {:?} {:?}\n  runtime {:?} {:?}",
                g.goid,
                g.state,
                frame_lines(&g.frames),
                g.created_by,
                frame_lines(&b.frames),
                b.created_by
            ));
        }
        compared += 1;
    }
    assert!(bad.is_empty(), "{}\n{ctx}", bad.join("\n"));
    compared
}

/// What one cell of the matrix judged: goroutine threads whose frame #0 was checked, and (under
/// `system`) goroutines compared frame by frame with the dump.
struct Judged {
    threads: usize,
    frames: Option<usize>,
}

fn check_build(client: Client, prog: &str, version: &str, variant: &str, policy: Policy) -> Judged {
    let c = run_checked(client, prog, version, variant, policy);
    check_list(&c);
    let threads = check_tops(&c, &|_, _| false);
    assert!(
        threads >= 3,
        "only {threads} goroutine threads\n{}",
        c.ctx()
    );
    let frames = (policy == Policy::System).then(|| check_bt_frames(&c));
    if let Some(compared) = frames {
        assert!(
            compared >= 3,
            "only {compared} goroutines compared frame by frame\n{}",
            c.ctx()
        );
    }
    Judged { threads, frames }
}

/// The middle Go version of the fixtures.
const GO_MIDDLE: &str = "1.24.11";

macro_rules! build_tests {
    ($($name:ident: $client:ident $prog:literal $version:ident $variant:literal $policy:ident;)*) => {$(
        #[test]
        fn $name() {
            skip_unless_gostub!();
            check_build(Client::$client, $prog, $version, $variant, Policy::$policy);
        }
    )*};
}

build_tests! {
    gdb_states_pie_go_oldest: Gdb "states" GO_OLDEST "pie" All;
    gdb_states_pie_go_newest: Gdb "states" GO_NEWEST "pie" All;
    gdb_states_pie_external_go_oldest: Gdb "states" GO_OLDEST "pie-external" All;
    gdb_states_pie_external_go_newest: Gdb "states" GO_NEWEST "pie-external" All;
    gdb_states_pie_stripped_go_oldest: Gdb "states" GO_OLDEST "pie-stripped" All;
    gdb_states_pie_stripped_go_newest: Gdb "states" GO_NEWEST "pie-stripped" All;
    gdb_states_race_go_oldest: Gdb "states" GO_OLDEST "race" All;
    gdb_states_race_go_newest: Gdb "states" GO_NEWEST "race" All;
    gdb_cgo_external_go_oldest: Gdb "cgo" GO_OLDEST "external" All;
    gdb_cgo_external_go_newest: Gdb "cgo" GO_NEWEST "external" All;
    lldb_states_pie_go_oldest: Lldb "states" GO_OLDEST "pie" All;
    lldb_states_pie_go_newest: Lldb "states" GO_NEWEST "pie" All;
    lldb_states_pie_external_go_oldest: Lldb "states" GO_OLDEST "pie-external" All;
    lldb_states_pie_external_go_newest: Lldb "states" GO_NEWEST "pie-external" All;
    lldb_states_pie_stripped_go_oldest: Lldb "states" GO_OLDEST "pie-stripped" All;
    lldb_states_pie_stripped_go_newest: Lldb "states" GO_NEWEST "pie-stripped" All;
    lldb_states_race_go_oldest: Lldb "states" GO_OLDEST "race" All;
    lldb_states_race_go_newest: Lldb "states" GO_NEWEST "race" All;
    lldb_cgo_external_go_oldest: Lldb "cgo" GO_OLDEST "external" All;
    lldb_cgo_external_go_newest: Lldb "cgo" GO_NEWEST "external" All;
    gdb_states_pie_external_system_go_newest: Gdb "states" GO_NEWEST "pie-external" System;
    gdb_cgo_external_system_go_newest: Gdb "cgo" GO_NEWEST "external" System;
    lldb_states_pie_external_system_go_newest: Lldb "states" GO_NEWEST "pie-external" System;
    lldb_cgo_external_system_go_newest: Lldb "cgo" GO_NEWEST "external" System;
    gdb_states_pie_system_go_oldest: Gdb "states" GO_OLDEST "pie" System;
    gdb_states_pie_stripped_system_go_middle: Gdb "states" GO_MIDDLE "pie-stripped" System;
    gdb_states_race_system_go_oldest: Gdb "states" GO_OLDEST "race" System;
    lldb_states_race_system_go_middle: Lldb "states" GO_MIDDLE "race" System;
}

/// The builds of the full client matrix: (program, variant).
const MATRIX_BUILDS: [(&str, &str); 5] = [
    ("states", "pie"),
    ("states", "pie-external"),
    ("states", "pie-stripped"),
    ("states", "race"),
    ("cgo", "external"),
];

/// A failed cell's message without the context it carries (runtime dump and transcript, already
/// printed by the panic hook when it failed).
fn failure_reason(payload: &(dyn std::any::Any + Send)) -> String {
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    let reason = msg.split("\n--- runtime dump ---").next().unwrap_or(msg);
    reason.chars().take(4000).collect()
}

/// Issue 12 (gaps, item 4): the full client matrix, every client × build × oldest, middle and
/// newest Go × `all` and `system`, as `check_build` judges the CI cells above. Only with
/// GOSTUB_ORACLE_FULL=1 (scripts/test-go-matrix). Prints one line per cell and fails at the end
/// with every failed cell's reason.
#[test]
fn full_client_matrix() {
    skip_unless_gostub!();
    if std::env::var_os("GOSTUB_ORACLE_FULL").is_none_or(|v| v != "1") {
        eprintln!("SKIPPED: the full client matrix runs with GOSTUB_ORACLE_FULL=1 (scripts/test-go-matrix)");
        return;
    }
    let mut summary = Vec::new();
    let mut failed = Vec::new();
    for client in [Client::Gdb, Client::Lldb] {
        for (prog, variant) in MATRIX_BUILDS {
            for version in [GO_OLDEST, GO_MIDDLE, GO_NEWEST] {
                for policy in [Policy::All, Policy::System] {
                    let cell = format!("{client:?} {prog} {variant} go{version} {policy:?}");
                    let line = match std::panic::catch_unwind(|| {
                        check_build(client, prog, version, variant, policy)
                    }) {
                        Ok(j) => format!(
                            "{cell}: {} goroutine threads, {} compared frame by frame: pass",
                            j.threads,
                            j.frames.map_or("none".to_string(), |n| n.to_string())
                        ),
                        Err(e) => {
                            failed.push(format!("{cell}: {}", failure_reason(&*e)));
                            format!("{cell}: FAIL")
                        }
                    };
                    println!("MATRIX {line}");
                    summary.push(line);
                }
            }
        }
    }
    println!("== full client matrix\n{}", summary.join("\n"));
    assert!(
        failed.is_empty(),
        "{} of {} cells failed:\n{}",
        failed.len(),
        summary.len(),
        failed.join("\n\n")
    );
}

// ---------------------------------------------------------------------------
// profiled: goroutines whose thread is inside a signal handler
// ---------------------------------------------------------------------------

/// gdb commands that stop until a goroutine running main.spin hits runtime.sigprof (its thread
/// is then inside the SIGPROF handler) while another one runs main.spin too, then, with
/// scheduler locking, step that other goroutine's thread, so that the handler's thread is one stopped by the all-stop, not the one
/// whose stop is reported. Prints `@@H <goid>` for the goroutine in the handler and `@@U <goid>`
/// for the one stepped. gdb keeps the registers of threads a locked step did not resume, read
/// when the handler's thread was the one reported: its register cache is flushed.
fn in_handler_commands() -> Vec<String> {
    let find = "python exec(\"import gdb\\nspin = lambda u: u.ptid[1] >= 1 << 30 and '[running]' in (u.name or '') and (u.name or '').endswith('main.spin')\\nfor i in range(100):\\n  gdb.execute('continue', to_string=True)\\n  t = gdb.selected_thread()\\n  others = [u for u in gdb.selected_inferior().threads() if u.ptid[1] != t.ptid[1] and spin(u)]\\n  if spin(t) and others:\\n    break\\nprint('@@H %d' % (t.ptid[1] - (1 << 30)))\\ngdb.execute('delete')\\ngdb.execute('set scheduler-locking on')\\nothers[0].switch()\\nprint('@@U %d' % (others[0].ptid[1] - (1 << 30)))\\ngdb.execute('stepi')\\ngdb.execute('maint flush register-cache')\")";
    vec!["break runtime.sigprof".to_string(), find.to_string()]
}

fn check_profiled(version: &str) {
    let prog = go_fixture("profiled", version, "pie");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let mut session = Session::new(Client::Gdb)
        .file(&prog)
        .connect(&server)
        .continue_to("main.checkpoint")
        .cmd("delete");
    for c in in_handler_commands() {
        session = session.cmd(c);
    }
    let run = session
        .section("goroutines")
        .cmd("monitor goroutines")
        .section("bt")
        .cmd(bt_every_goroutine_thread(Client::Gdb))
        .section("apply")
        .cmd("thread apply all bt 1")
        .section("end")
        .timeout(Duration::from_secs(120))
        .run();
    run.expect_finished();
    server.assert_no_panic();
    let c = Checked {
        label: format!("profiled go{version} pie"),
        client: Client::Gdb,
        stripped: false,
        load_base: 0,
        prog: prog.clone(),
        dump_text: String::new(),
        dump: Vec::new(),
        dump_after_stop: false,
        sections: split_sections(&run.stdout),
        transcript: run.all(),
    };
    let ctx = c.ctx();
    let goid: u64 = run.capture(r"@@H (\d+)").parse().unwrap();
    let stepped: u64 = run.capture(r"@@U (\d+)").parse().unwrap();
    assert_ne!(goid, stepped, "no other busy goroutine stepped\n{ctx}");
    // Threads that hit the breakpoint with it (pending hits) keep their live registers too.
    check_tops(&c, &|g, func| g == stepped || func == "runtime.sigprof");
    // The goroutine in the handler is shown where SIGPROF interrupted it: main.spin.
    let tops = top_frames(Client::Gdb, c.section("apply"));
    let top = tops
        .get(&goid)
        .unwrap_or_else(|| panic!("no frame #0 of goroutine {goid}\n{ctx}"));
    let now = parse_go_traceback(c.section("bt"));
    let first = &now.iter().find(|b| b.goid == goid).unwrap().frames[0];
    assert_eq!(
        (top.func.as_str(), top.line),
        ("main.spin", Some(first.line)),
        "goroutine {goid}: {top:?}, gostub's {first:?}\n{ctx}"
    );
    let (lines, _) = parse_goroutines_list(c.section("goroutines"));
    let listed = lines.iter().find(|l| l.goid == goid);
    assert!(
        listed.is_some_and(|l| l.func == "main.spin" && l.state == "running"),
        "goroutine {goid} in monitor goroutines\n{ctx}"
    );
}

#[test]
fn gdb_profiled_goroutine_in_signal_handler_shows_interrupted_frame_go_oldest() {
    skip_unless_gostub!();
    check_profiled(GO_OLDEST);
}

#[test]
fn gdb_profiled_goroutine_in_signal_handler_shows_interrupted_frame_go_newest() {
    skip_unless_gostub!();
    check_profiled(GO_NEWEST);
}
