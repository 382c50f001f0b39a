//! Goroutines through gostub, checked against the Go runtime itself: the
//! `states` fixture writes `runtime.Stack(buf, true)` to $FIXTURE_STACK_OUT
//! and then calls main.checkpoint, where one gdb session per build (the
//! oracle session) runs gostub's monitor commands and gdb's thread view; the
//! tests compare its sections with that text.
//!
//! Goroutines that are running or runnable may change between the dump and
//! the checkpoint: their state is only checked to be running/runnable still,
//! and their frames are not compared. Goroutine 1 (which runs main) is one
//! of them.

use gostub_tests::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

// ---------------------------------------------------------------------------
// The oracle session
// ---------------------------------------------------------------------------

/// Everything one gdb session at main.checkpoint printed, by section, and
/// the runtime's own dump.
struct Oracle {
    label: String,
    dump_text: String,
    dump: Vec<GoBlock>,
    sections: BTreeMap<String, String>,
    transcript: String,
}

impl Oracle {
    fn section(&self, name: &str) -> &str {
        self.sections
            .get(name)
            .unwrap_or_else(|| panic!("{}: no section {name} in:\n{}", self.label, self.transcript))
    }
    fn dump_ids(&self) -> BTreeSet<u64> {
        self.dump.iter().map(|b| b.goid).collect()
    }
    fn dump_block(&self, goid: u64) -> &GoBlock {
        self.dump.iter().find(|b| b.goid == goid).unwrap()
    }
    fn context(&self) -> String {
        format!(
            "{}\n--- runtime dump ---\n{}\n--- gdb transcript ---\n{}",
            self.label,
            self.dump_text,
            tail(&self.transcript, 20000)
        )
    }
}

/// Running or runnable: may change between the dump and the checkpoint.
fn volatile(state: &str) -> bool {
    state.starts_with("running") || state.starts_with("runnable")
}

/// A parked goroutine's state without the `(scan)` mark: the GC may be scanning it at the
/// checkpoint although it was not at the dump (seen in CI: `chan receive (scan)` against the
/// dump's `chan receive`). The state itself must still be the runtime's.
fn settled(state: &str) -> &str {
    state.strip_suffix(" (scan)").unwrap_or(state)
}

/// Where to break: a stripped binary has no symbols, gdb breaks at the
/// address from its pclntab.
fn checkpoint(prog: &std::path::Path, variant: &str) -> String {
    if variant == "stripped" {
        format!("*{:#x}", go_func_addr(prog, "main.checkpoint"))
    } else {
        "main.checkpoint".to_string()
    }
}

fn run_oracle(version: &str, variant: &str) -> Oracle {
    let prog = go_fixture("states", version, variant);
    let dir = TempDir::new("oracle");
    let out = dir.path().join("stack.txt");
    let out_s = out.display().to_string();
    let server = Server::start_env(Mode::Launch(&prog, &[]), &[("FIXTURE_STACK_OUT", &out_s)]);
    // `monitor goroutine ID bt` for every goroutine of the runtime's dump
    // (written before main.checkpoint is called).
    let py_bt = format!(
        "python exec(\"import re\\nfor g in re.findall(r'(?m)^goroutine (\\\\d+) ', open('{out_s}').read()):\\n  try:\\n    gdb.execute('monitor goroutine %s bt' % g)\\n  except gdb.error as e:\\n    print('ERROR goroutine %s: %s' % (g, e))\")"
    );
    let t = Stopped::on(server, Client::Gdb, &prog, &checkpoint(&prog, variant))
        .section("goroutines")
        .cmd("monitor goroutines")
        .section("bt")
        .cmd(py_bt)
        .section("info-threads")
        .cmd("info threads")
        .section("apply")
        .cmd("thread apply all bt 3")
        .section("end")
        .timeout(std::time::Duration::from_secs(90));
    let run = t.run();
    run.expect_finished();
    t.server.assert_no_panic();
    let label = format!("states go{version} {variant}");
    let dump_text = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("{label}: no runtime dump at {out_s}: {e}\n{}", run.all()));
    let dump = parse_go_traceback(&dump_text);
    assert!(
        dump.len() >= 20,
        "{label}: runtime dump has only {} goroutines:\n{dump_text}",
        dump.len()
    );
    let transcript = run.all();
    assert!(
        Regex::new(r"(?m)^(Thread \d+ hit )?Breakpoint 1, (0x[0-9a-f]+ in )?main\.checkpoint|Breakpoint 1, 0x[0-9a-f]+ in \?\? \(\)|hit Breakpoint 1, ")
            .unwrap()
            .is_match(&transcript),
        "{label}: checkpoint not reached:\n{transcript}"
    );
    Oracle {
        sections: split_sections(&run.stdout),
        label,
        dump_text,
        dump,
        transcript,
    }
}

static O_OLDEST: OnceLock<Oracle> = OnceLock::new();
static O_NEWEST: OnceLock<Oracle> = OnceLock::new();
static O_NEWEST_STRIPPED: OnceLock<Oracle> = OnceLock::new();

/// The oracle session of one build, run once per test binary.
fn oracle(version: &str, variant: &str) -> &'static Oracle {
    let cell = match (version, variant) {
        (GO_OLDEST, "default") => &O_OLDEST,
        (GO_NEWEST, "default") => &O_NEWEST,
        (GO_NEWEST, "stripped") => &O_NEWEST_STRIPPED,
        _ => panic!("no oracle cell for {version} {variant}"),
    };
    cell.get_or_init(|| run_oracle(version, variant))
}

// ---------------------------------------------------------------------------
// a. monitor goroutines: the same set, state text and top frame
// ---------------------------------------------------------------------------

fn check_goroutines_list(o: &Oracle) {
    let ctx = o.context();
    let (lines, total) = parse_goroutines_list(o.section("goroutines"));
    let got: BTreeSet<u64> = lines.iter().map(|l| l.goid).collect();
    assert_eq!(
        got,
        o.dump_ids(),
        "goroutine ids differ from the runtime's\n{ctx}"
    );
    let ids: Vec<u64> = lines.iter().map(|l| l.goid).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "goroutines not in goid order\n{ctx}");
    let (shown, of, policy) = total.unwrap_or_else(|| panic!("no totals line\n{ctx}"));
    assert_eq!(
        shown,
        lines.len(),
        "totals line disagrees with the lines\n{ctx}"
    );
    assert!(of >= shown, "{of} < {shown}\n{ctx}");
    assert_eq!(policy, "all");
    for l in &lines {
        let b = o.dump_block(l.goid);
        if volatile(&b.state) {
            assert!(
                volatile(&l.state),
                "goroutine {}: runtime said [{}], gostub [{}]\n{ctx}",
                l.goid,
                b.state,
                l.state
            );
            continue;
        }
        assert_eq!(
            settled(&l.state),
            b.state,
            "goroutine {} state\n{ctx}",
            l.goid
        );
        let top = &b.frames[0];
        assert_eq!(
            (&l.func, &l.file, l.line),
            (&top.func, &top.file, top.line),
            "goroutine {} top frame\n{ctx}",
            l.goid
        );
    }
}

#[test]
fn monitor_goroutines_lists_runtime_dump_ids_states_top_frames_go_oldest() {
    skip_unless_gostub!();
    check_goroutines_list(oracle(GO_OLDEST, "default"));
}

#[test]
fn monitor_goroutines_lists_runtime_dump_ids_states_top_frames_go_newest() {
    skip_unless_gostub!();
    check_goroutines_list(oracle(GO_NEWEST, "default"));
}

#[test]
fn monitor_goroutines_lists_runtime_dump_ids_states_top_frames_go_newest_stripped() {
    skip_unless_gostub!();
    check_goroutines_list(oracle(GO_NEWEST, "stripped"));
}

// ---------------------------------------------------------------------------
// b. monitor goroutine ID bt: the runtime's frames
// ---------------------------------------------------------------------------

fn check_goroutine_bt(o: &Oracle) {
    let ctx = o.context();
    let sec = o.section("bt");
    assert!(
        !sec.contains("ERROR goroutine"),
        "monitor goroutine ID bt failed\n{ctx}"
    );
    let got = parse_go_traceback(sec);
    let mut compared = 0;
    for want in &o.dump {
        let g = got
            .iter()
            .find(|b| b.goid == want.goid)
            .unwrap_or_else(|| panic!("no `goroutine {} bt` block\n{ctx}", want.goid));
        if volatile(&want.state) || volatile(&g.state) {
            continue;
        }
        assert_eq!(
            settled(&g.state),
            want.state,
            "goroutine {} state\n{ctx}",
            want.goid
        );
        assert_eq!(
            frame_lines(&g.frames),
            frame_lines(&want.frames),
            "goroutine {} frames differ from the runtime's\n{ctx}",
            want.goid
        );
        assert_eq!(
            g.created_by, want.created_by,
            "goroutine {} created by\n{ctx}",
            want.goid
        );
        compared += 1;
    }
    assert!(
        compared >= 18,
        "only {compared} parked goroutines compared\n{ctx}"
    );
}

#[test]
fn monitor_goroutine_bt_frames_equal_runtime_dump_go_oldest() {
    skip_unless_gostub!();
    check_goroutine_bt(oracle(GO_OLDEST, "default"));
}

#[test]
fn monitor_goroutine_bt_frames_equal_runtime_dump_go_newest() {
    skip_unless_gostub!();
    check_goroutine_bt(oracle(GO_NEWEST, "default"));
}

#[test]
fn monitor_goroutine_bt_frames_equal_runtime_dump_go_newest_stripped() {
    skip_unless_gostub!();
    check_goroutine_bt(oracle(GO_NEWEST, "stripped"));
}

// ---------------------------------------------------------------------------
// c. info threads: exactly the dump's goroutines, plus labelled other threads
// ---------------------------------------------------------------------------

fn check_info_threads(o: &Oracle) {
    let ctx = o.context();
    let (gs, others) = goroutine_threads(o.section("info-threads"), &ctx, true);
    let ids = o.dump_ids();
    assert_eq!(
        gs, ids,
        "goroutine threads differ from the runtime's goroutines\n{ctx}"
    );
    let hidden = Regex::new(r"^thread running hidden goroutine (\d+)").unwrap();
    for (lwp, label) in &others {
        if label.starts_with("idle thread (no goroutine)") {
            continue;
        }
        if let Some(c) = hidden.captures(label) {
            let g: u64 = c[1].parse().unwrap();
            assert!(
                !ids.contains(&g),
                "thread {lwp} hides shown goroutine {g}\n{ctx}"
            );
            continue;
        }
        panic!("OS thread {lwp} has label {label:?}, not an idle/hidden label\n{ctx}");
    }
}

#[test]
fn info_threads_lists_exactly_dump_goroutines_plus_labelled_threads_go_oldest() {
    skip_unless_gostub!();
    check_info_threads(oracle(GO_OLDEST, "default"));
}

#[test]
fn info_threads_lists_exactly_dump_goroutines_plus_labelled_threads_go_newest() {
    skip_unless_gostub!();
    check_info_threads(oracle(GO_NEWEST, "default"));
}

#[test]
fn info_threads_lists_exactly_dump_goroutines_plus_labelled_threads_go_newest_stripped() {
    skip_unless_gostub!();
    check_info_threads(oracle(GO_NEWEST, "stripped"));
}

// ---------------------------------------------------------------------------
// d. thread apply all bt: parked goroutines start at the runtime's first frame
// ---------------------------------------------------------------------------

/// goid -> (function, line) of frame #0, from `thread apply all bt`.
fn apply_all_top_frames(text: &str) -> BTreeMap<u64, (String, u32, String)> {
    let head = Regex::new(r"^Thread \d+ \(Thread \d+\.(\d+) ").unwrap();
    let f0 = Regex::new(r"^#0\s+(?:0x[0-9a-f]+ in )?(.+?) \(.*\) at (\S+):(\d+)\s*$").unwrap();
    let mut out = BTreeMap::new();
    let mut cur: Option<u64> = None;
    for l in text.lines() {
        if let Some(c) = head.captures(l) {
            let lwp: u64 = c[1].parse().unwrap();
            cur = lwp.checked_sub(GOROUTINE_TID_BASE);
            continue;
        }
        if let (Some(g), Some(c)) = (cur, f0.captures(l)) {
            out.insert(
                g,
                (
                    go_func_normalise(&c[1]),
                    c[3].parse().unwrap(),
                    l.to_string(),
                ),
            );
            cur = None;
        }
    }
    out
}

/// Parked goroutines (not running, runnable or in a syscall, which run on
/// their thread's live registers), whose first frame is not inlined.
fn parked(o: &Oracle, with_inlined: bool) -> Vec<&GoBlock> {
    o.dump
        .iter()
        .filter(|b| !volatile(&b.state) && !b.state.starts_with("syscall"))
        .filter(|b| with_inlined || b.frames[0].has_offset)
        .collect()
}

fn check_apply_all_top_functions(o: &Oracle) {
    let ctx = o.context();
    let tops = apply_all_top_frames(o.section("apply"));
    let parked = parked(o, false);
    assert!(
        parked.len() >= 15,
        "only {} parked goroutines\n{ctx}",
        parked.len()
    );
    for b in parked {
        let (func, _, line) = tops
            .get(&b.goid)
            .unwrap_or_else(|| panic!("no bt for goroutine {}\n{ctx}", b.goid));
        assert_eq!(
            func, &b.frames[0].func,
            "goroutine {} [{}]: gdb's frame #0 is {line:?}, the runtime's first frame {:?}\n{ctx}",
            b.goid, b.state, b.frames[0]
        );
    }
}

/// The same for every parked goroutine, inlined first frames included, and
/// with line numbers: gdb looks up frame #0 at the pc itself, so a parked
/// goroutine's pc must be its call instruction (not the return address) for
/// gdb to show the line the runtime shows (the runtime looks up pc-1).
fn check_apply_all_top_lines(o: &Oracle) {
    let ctx = o.context();
    let tops = apply_all_top_frames(o.section("apply"));
    let mut bad = Vec::new();
    for b in parked(o, true) {
        let (func, line, text) = tops
            .get(&b.goid)
            .unwrap_or_else(|| panic!("no bt for goroutine {}\n{ctx}", b.goid));
        let want = &b.frames[0];
        // Known limit: when the first shown frame called into the runtime through a runtime
        // function inlined into it (sync.runtime_notifyListWait, a runtime function linked into
        // package sync, inlines goparkunlock), the call instruction lies inside the inlined body,
        // where gdb's DWARF inline expansion would show the hidden runtime function. The stub
        // then reports the return address instead: the right function, on the line after.
        if func == &want.func && want.func.starts_with("sync.runtime_") && *line == want.line + 1 {
            continue;
        }
        if func != &want.func || *line != want.line {
            bad.push(format!(
                "goroutine {}: gdb {text:?}, runtime {} line {}",
                b.goid, want.func, want.line
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "frame #0 differs from the runtime's first frame:\n{}\n{ctx}",
        bad.join("\n")
    );
}

#[test]
fn thread_apply_all_bt_parked_goroutines_start_at_runtime_first_frame_go_oldest() {
    skip_unless_gostub!();
    check_apply_all_top_functions(oracle(GO_OLDEST, "default"));
}

#[test]
fn thread_apply_all_bt_parked_goroutines_start_at_runtime_first_frame_go_newest() {
    skip_unless_gostub!();
    check_apply_all_top_functions(oracle(GO_NEWEST, "default"));
}

#[test]
fn thread_apply_all_bt_parked_frame0_line_and_inlined_function_match_runtime_go_oldest() {
    skip_unless_gostub!();
    check_apply_all_top_lines(oracle(GO_OLDEST, "default"));
}

#[test]
fn thread_apply_all_bt_parked_frame0_line_and_inlined_function_match_runtime_go_newest() {
    skip_unless_gostub!();
    check_apply_all_top_lines(oracle(GO_NEWEST, "default"));
}
