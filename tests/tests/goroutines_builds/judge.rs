//! How one build is judged: frame #0 of every goroutine thread a client printed against the
//! runtime's dump and gostub's own `goroutine ID bt`, the `monitor goroutines` list against the
//! dump, and under `system` every goroutine frame by frame (see main.rs for the rules).

use gostub_tests::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// Running or runnable: may change between the dump and the checkpoint.
pub(crate) fn volatile(state: &str) -> bool {
    state.starts_with("running") || state.starts_with("runnable")
}

/// Frames of a signal handler: never a goroutine's frame #0.
pub(crate) fn handler_frame(func: &str) -> bool {
    let Some(f) = func.strip_prefix("runtime.") else {
        return false;
    };
    f.starts_with("sig") || f == "cgoSigtramp" || f == "badsignal" || f.starts_with("sighandler")
}

/// Frame #0 of a goroutine thread as a client printed it.
#[derive(Debug)]
pub(crate) struct Top {
    pub(crate) pc: Option<u64>,
    pub(crate) func: String,
    pub(crate) line: Option<u32>,
    pub(crate) text: String,
}

/// goid -> frame #0, from gdb's `thread apply all bt 1` or lldb's `thread backtrace all -c 1`.
pub(crate) fn top_frames(client: Client, text: &str) -> BTreeMap<u64, Top> {
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
pub(crate) fn first_frame_offsets(dump: &str) -> BTreeMap<u64, (String, u64)> {
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
pub(crate) struct Checked {
    pub(crate) label: String,
    pub(crate) client: Client,
    pub(crate) stripped: bool,
    pub(crate) load_base: u64,
    pub(crate) prog: std::path::PathBuf,
    pub(crate) dump_text: String,
    pub(crate) dump: Vec<GoBlock>,
    /// The dump was taken after the stop (the SIGQUIT dump after detach): a goroutine gostub
    /// showed running or runnable may be anything in it.
    pub(crate) dump_after_stop: bool,
    pub(crate) sections: BTreeMap<String, String>,
    pub(crate) transcript: String,
}

impl Checked {
    /// Whether goroutine `b` of the dump may differ from what gostub showed at the stop (`shown`:
    /// its state there): it was running or runnable, or — for a dump taken after the stop — it
    /// changed state in between (e.g. a GC worker that went idle after the stop's GC phase).
    /// A goroutine in the same parked state at both must match exactly.
    pub(crate) fn may_differ(&self, b: &GoBlock, shown: Option<&str>) -> bool {
        volatile(&b.state)
            || (self.dump_after_stop && shown.is_none_or(|s| volatile(s) || s != b.state))
    }
    pub(crate) fn section(&self, name: &str) -> &str {
        self.sections
            .get(name)
            .unwrap_or_else(|| panic!("{}: no section {name}\n{}", self.label, self.ctx()))
    }
    pub(crate) fn ctx(&self) -> String {
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
pub(crate) fn bt_every_goroutine_thread(client: Client) -> String {
    match client {
        Client::Gdb => "python exec(\"for t in gdb.selected_inferior().threads():\\n  if t.ptid[1] >= 1 << 30:\\n    gdb.execute('monitor goroutine %d bt' % (t.ptid[1] - (1 << 30)))\")".to_string(),
        Client::Lldb => "script [lldb.debugger.HandleCommand('process plugin packet monitor goroutine %d bt' % (t.GetThreadID() - (1 << 30))) for t in lldb.process if t.GetThreadID() >= 1 << 30]".to_string(),
    }
}

/// The traceback policy a build is compared under.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Policy {
    /// `runtime.Stack(buf, true)`, written before the checkpoint.
    All,
    /// GOTRACEBACK=system and `monitor traceback system`; the oracle is the SIGQUIT dump of the
    /// same process, sent once the client has detached.
    System,
}

/// The SIGQUIT dump in the launched program's stderr (which is the server's): its goroutine
/// blocks from the `SIGQUIT: quit` line on, without goroutine 0 (the g0 of the M that took the
/// signal, in no goroutine list).
pub(crate) fn sigquit_dump(server: &Server, pid: i32, label: &str) -> String {
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

pub(crate) fn run_checked(
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
pub(crate) fn check_list(c: &Checked) {
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
pub(crate) fn same_frame(
    c: &Checked,
    top: &Top,
    want: &[GoFrame],
    off: Option<&(String, u64)>,
) -> bool {
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
pub(crate) fn check_tops(c: &Checked, exempt: &dyn Fn(u64, &str) -> bool) -> usize {
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
pub(crate) fn check_bt_frames(c: &Checked) -> usize {
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
pub(crate) struct Judged {
    pub(crate) threads: usize,
    pub(crate) frames: Option<usize>,
}

pub(crate) fn check_build(
    client: Client,
    prog: &str,
    version: &str,
    variant: &str,
    policy: Policy,
) -> Judged {
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
