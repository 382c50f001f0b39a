//! The helper commands: `source scripts/gdbinit` in gdb and
//! `command script import scripts/gostub_lldb.py` in lldb, against the
//! `states` fixture stopped at main.checkpoint.
//!
//! One session per client runs every helper (connecting with
//! `gostub-connect`), its output split in sections by `@@S name` markers;
//! each test checks one section.

use gostub_tests::*;
use std::collections::BTreeMap;
use std::sync::OnceLock;

fn gdbinit() -> String {
    workspace_root()
        .join("scripts/gdbinit")
        .display()
        .to_string()
}

fn lldb_module() -> String {
    workspace_root()
        .join("scripts/gostub_lldb.py")
        .display()
        .to_string()
}

struct Transcript {
    all: String,
    sections: BTreeMap<String, String>,
}

impl Transcript {
    fn sec(&self, name: &str) -> &str {
        self.sections
            .get(name)
            .unwrap_or_else(|| panic!("no section {name} in:\n{}", self.all))
    }
    /// Asserts that section `name` matches every regex.
    fn expect(&self, name: &str, res: &[&str]) {
        let s = self.sec(name);
        for re in res {
            assert!(
                Regex::new(re).unwrap().is_match(s),
                "section {name}: no /{re}/ in {s:?}\n--- transcript ---\n{}",
                self.all
            );
        }
    }
    fn expect_not(&self, name: &str, res: &[&str]) {
        let s = self.sec(name);
        for re in res {
            if let Some(m) = Regex::new(re).unwrap().find(s) {
                panic!(
                    "section {name}: unexpected /{re}/ ({:?}) in {s:?}\n--- transcript ---\n{}",
                    m.as_str(),
                    self.all
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// gdb
// ---------------------------------------------------------------------------

fn gdb_session() -> &'static Transcript {
    static T: OnceLock<Transcript> = OnceLock::new();
    T.get_or_init(|| {
        let prog = go_fixture("states", GO_NEWEST, "default");
        let server = Server::start(Mode::Launch(&prog, &[]));
        let run = Session::gdb()
            .file(&prog)
            .cmd(format!("source {}", gdbinit()))
            .section("connect")
            .cmd(format!("gostub-connect {}", server.port))
            .continue_to("main.checkpoint")
            .section("goroutines-n2")
            .cmd("goroutines -n 2")
            .section("goroutines-filter")
            .cmd("goroutines -w select")
            .section("goroutine-bt")
            .cmd("goroutine 1 bt")
            .section("gtraceback")
            .cmd("gtraceback system")
            .cmd("gtraceback")
            .cmd("goroutines -n 100")
            .cmd("gtraceback all")
            .section("gstats")
            .cmd("gstats")
            .section("gthreads-os")
            .cmd("gthreads os")
            .section("os-info-threads")
            .cmd("info threads")
            .section("trim")
            // A thread in the os view stopped in runtime code (the raw
            // syscall) with user frames further up.
            .cmd("python ts=[t for t in gdb.selected_inferior().threads() if (t.switch() or True) and 'Syscall6' in (gdb.newest_frame().name() or '')]; ts[0].switch(); gdb.execute('frame')")
            .cmd("go-trim-stack")
            .cmd("python print('selected: %s' % gdb.selected_frame().name())")
            .section("gthreads-goroutines")
            .cmd("gthreads goroutines")
            .cmd("gthreads")
            .section("goroutines-info-threads")
            .cmd("info threads")
            .section("help")
            .cmds(
                [
                    "goroutines",
                    "goroutine",
                    "gtraceback",
                    "gthreads",
                    "gstats",
                    "go-trim-stack",
                    "gostub-connect",
                ]
                .map(|c| format!("help {c}")),
            )
            .section("end")
            .timeout(std::time::Duration::from_secs(90))
            .run();
        run.expect_finished();
        server.assert_no_panic();
        Transcript {
            all: run.all(),
            sections: split_sections(&run.all()),
        }
    })
}

#[test]
fn gdb_gostub_connect_port_connects() {
    skip_unless_gostub!();
    let t = gdb_session();
    // Connected: gdb shows where the launched program waits.
    t.expect("connect", &[r"(?m)^_rt0_amd64_linux \(\) at "]);
    t.expect_not(
        "connect",
        &[r"usage: gostub-connect", r"Connection refused"],
    );
    assert!(
        t.all.contains("hit Breakpoint 1, main.checkpoint"),
        "not at the checkpoint after gostub-connect:\n{}",
        t.all
    );
}

#[test]
fn gdb_goroutines_n_2_prints_two_lines_and_totals() {
    skip_unless_gostub!();
    let t = gdb_session();
    let s = t.sec("goroutines-n2");
    let n = Regex::new(r"(?m)^goroutine \d+ \[[^\]]+\]: \S+ \S+:\d+$")
        .unwrap()
        .find_iter(s)
        .count();
    assert_eq!(n, 2, "goroutines -n 2 printed {n} goroutine lines: {s:?}");
    t.expect(
        "goroutines-n2",
        &[
            r"(?m)^goroutine 1 \[running\]: main\.checkpoint ",
            r"(?m)^\d+ goroutines shown of \d+ \(traceback all\)$",
        ],
    );
}

#[test]
fn gdb_goroutines_filter_by_wait_reason() {
    skip_unless_gostub!();
    let t = gdb_session();
    t.expect(
        "goroutines-filter",
        &[
            r"(?m)^goroutine \d+ \[select\]: main\.selectTwo ",
            r"(?m)^goroutine \d+ \[select \(no cases\)\]: main\.selectEmpty ",
            r"(?m)^2 goroutines shown of \d+",
        ],
    );
    t.expect_not("goroutines-filter", &[r"\[chan receive\]", r"\[running\]"]);
}

#[test]
fn gdb_goroutine_id_bt_prints_runtime_block() {
    skip_unless_gostub!();
    let t = gdb_session();
    let blocks = parse_go_traceback(t.sec("goroutine-bt"));
    assert_eq!(blocks.len(), 1, "{}", t.sec("goroutine-bt"));
    let b = &blocks[0];
    assert_eq!((b.goid, b.state.as_str()), (1, "running"));
    let funcs: Vec<&str> = b.frames.iter().map(|f| f.func.as_str()).collect();
    assert_eq!(
        funcs,
        ["main.checkpoint", "main.main"],
        "{}",
        t.sec("goroutine-bt")
    );
}

#[test]
fn gdb_gtraceback_sets_and_shows_policy() {
    skip_unless_gostub!();
    let t = gdb_session();
    let s = t.sec("gtraceback");
    assert_eq!(
        Regex::new(r"(?m)^traceback system$")
            .unwrap()
            .find_iter(s)
            .count(),
        2,
        "`gtraceback system` and `gtraceback` should both print `traceback system`: {s:?}"
    );
    t.expect(
        "gtraceback",
        &[
            r"(?m)^\d+ goroutines shown of \d+ \(traceback system\)$",
            r"(?m)^goroutine \d+ \[[^\]]+\]: runtime\.", // system goroutines, runtime frames
            r"(?m)^traceback all$",
        ],
    );
}

#[test]
fn gdb_gstats_prints_last_stop_and_total() {
    skip_unless_gostub!();
    let t = gdb_session();
    t.expect(
        "gstats",
        &[
            r"(?m)^last stop: \d+ hits, \d+ misses",
            r"(?m)^total: +\d+ hits",
            r"(?m)^syscalls: ",
        ],
    );
}

#[test]
fn gdb_gthreads_os_switches_to_os_threads() {
    skip_unless_gostub!();
    let t = gdb_session();
    t.expect("gthreads-os", &[r"(?m)^threads os$"]);
    let s = t.sec("os-info-threads");
    let lwps: Vec<u64> = Regex::new(r"(?m)^\*?\s+\d+\s+Thread \d+\.(\d+)")
        .unwrap()
        .captures_iter(s)
        .map(|c| c[1].parse().unwrap())
        .collect();
    assert!(lwps.len() >= 3, "os view: {s:?}\n{}", t.all);
    assert!(
        lwps.iter().all(|&l| l < GOROUTINE_TID_BASE),
        "goroutine threads in the os view: {s:?}"
    );
}

#[test]
fn gdb_gthreads_os_prints_no_error() {
    skip_unless_gostub!();
    let t = gdb_session();
    t.expect_not(
        "gthreads-os",
        &[
            r"Python Exception",
            r"Error occurred in Python",
            r"remote failure reply",
        ],
    );
}

#[test]
fn gdb_gthreads_goroutines_switches_back() {
    skip_unless_gostub!();
    let t = gdb_session();
    let s = t.sec("gthreads-goroutines");
    assert_eq!(
        Regex::new(r"(?m)^threads goroutines$")
            .unwrap()
            .find_iter(s)
            .count(),
        2,
        "`gthreads goroutines` then `gthreads`: {s:?}"
    );
    let g = t.sec("goroutines-info-threads");
    assert!(
        Regex::new(&format!(r"Thread \d+\.{}\b", GOROUTINE_TID_BASE + 1))
            .unwrap()
            .is_match(g),
        "goroutine 1 is not a thread after `gthreads goroutines`: {g:?}\n{}",
        t.all
    );
}

#[test]
fn gdb_go_trim_stack_selects_first_user_frame_in_os_view() {
    skip_unless_gostub!();
    let t = gdb_session();
    t.expect("trim", &[r"(?m)^#0\s+.*Syscall6 \("]);
    let s = t.sec("trim");
    let sel = Regex::new(r"(?m)^selected: (\S+)$")
        .unwrap()
        .captures(s)
        .unwrap_or_else(|| panic!("no selected frame: {s:?}\n{}", t.all))[1]
        .to_string();
    assert!(
        !sel.starts_with("runtime.") && !sel.starts_with("internal/runtime/") && !sel.is_empty(),
        "go-trim-stack selected {sel:?}: {s:?}"
    );
    t.expect("trim", &[r"(?m)^#[1-9]\d*\s+0x[0-9a-f]+ in syscall\."]);
}

#[test]
fn gdb_help_shows_helper_help_texts() {
    skip_unless_gostub!();
    let t = gdb_session();
    t.expect(
        "help",
        &[
            r"List goroutines: goroutines \[-s STATUS\] \[-w WAITREASON\] \[-f FUNC\] \[-l KEY=VALUE\] \[-new\] \[-group top\|start\|go\|wait\] \[-n LIMIT\]",
            r"-new keeps only the goroutines created since the previous stop's listing",
            r"Show one goroutine: goroutine ID \[bt\]",
            r"Show or set the traceback policy: gtraceback",
            r"Show or set what gdb sees as threads: gthreads",
            r"Show gostub's memory figures: gstats",
            r"Select the first user frame: go-trim-stack",
            r"Connect to a gostub: gostub-connect PORT",
        ],
    );
    t.expect_not("help", &[r#"Undefined command"#]);
}

// ---------------------------------------------------------------------------
// lldb
// ---------------------------------------------------------------------------

fn lldb_session() -> &'static Transcript {
    static T: OnceLock<Transcript> = OnceLock::new();
    T.get_or_init(|| {
        let prog = go_fixture("states", GO_NEWEST, "default");
        let server = Server::start(Mode::Launch(&prog, &[]));
        let run = Session::lldb()
            .file(&prog)
            .cmd(format!("command script import {}", lldb_module()))
            .section("connect")
            .cmd(format!("gostub-connect {}", server.port))
            .continue_to("main.checkpoint")
            .section("goroutines-n2")
            .cmd("goroutines -n 2")
            .section("goroutine-bt")
            .cmd("goroutine 1 bt")
            .section("gtraceback")
            .cmd("gtraceback system")
            .cmd("gtraceback")
            .cmd("goroutines -n 100")
            .cmd("gtraceback all")
            .section("gstats")
            .cmd("gstats")
            .section("gthreads")
            .cmd("gthreads os")
            .cmd("gthreads")
            .cmd("gthreads goroutines")
            .section("help")
            .cmds(
                [
                    "goroutines",
                    "goroutine",
                    "gtraceback",
                    "gthreads",
                    "gstats",
                    "go-trim-stack",
                    "gostub-connect",
                ]
                .map(|c| format!("help {c}")),
            )
            .section("end")
            .timeout(std::time::Duration::from_secs(90))
            .run();
        run.expect_finished();
        server.assert_no_panic();
        Transcript {
            all: run.all(),
            sections: split_sections(&run.all()),
        }
    })
}

#[test]
fn lldb_gostub_connect_port_connects() {
    skip_unless_gostub!();
    let t = lldb_session();
    t.expect("connect", &[r"Process \d+ stopped"]);
    assert!(
        t.all.contains("stop reason = breakpoint 1.1"),
        "not at the checkpoint after gostub-connect:\n{}",
        t.all
    );
}

#[test]
fn lldb_goroutines_n_2_prints_two_lines_and_totals() {
    skip_unless_gostub!();
    let t = lldb_session();
    let s = t.sec("goroutines-n2");
    let n = Regex::new(r"(?m)^goroutine \d+ \[[^\]]+\]: \S+ \S+:\d+$")
        .unwrap()
        .find_iter(s)
        .count();
    assert_eq!(n, 2, "goroutines -n 2 printed {n} goroutine lines: {s:?}");
    t.expect(
        "goroutines-n2",
        &[r"(?m)^\d+ goroutines shown of \d+ \(traceback all\)$"],
    );
    t.expect_not("goroutines-n2", &[r"packet:", r"response:", r"error"]);
}

#[test]
fn lldb_goroutine_id_bt_prints_runtime_block() {
    skip_unless_gostub!();
    let t = lldb_session();
    let blocks = parse_go_traceback(t.sec("goroutine-bt"));
    assert_eq!(blocks.len(), 1, "{}", t.sec("goroutine-bt"));
    let funcs: Vec<&str> = blocks[0].frames.iter().map(|f| f.func.as_str()).collect();
    assert_eq!(
        funcs,
        ["main.checkpoint", "main.main"],
        "{}",
        t.sec("goroutine-bt")
    );
}

#[test]
fn lldb_gtraceback_sets_and_shows_policy() {
    skip_unless_gostub!();
    let t = lldb_session();
    let s = t.sec("gtraceback");
    assert_eq!(
        Regex::new(r"(?m)^traceback system$")
            .unwrap()
            .find_iter(s)
            .count(),
        2,
        "{s:?}"
    );
    t.expect(
        "gtraceback",
        &[
            r"(?m)^\d+ goroutines shown of \d+ \(traceback system\)$",
            r"(?m)^traceback all$",
        ],
    );
}

#[test]
fn lldb_gstats_prints_last_stop() {
    skip_unless_gostub!();
    let t = lldb_session();
    t.expect(
        "gstats",
        &[r"(?m)^last stop: \d+ hits", r"(?m)^total: +\d+ hits"],
    );
}

#[test]
fn lldb_gthreads_prints_view() {
    skip_unless_gostub!();
    let t = lldb_session();
    let s = t.sec("gthreads");
    let os = Regex::new(r"(?m)^threads os$")
        .unwrap()
        .find_iter(s)
        .count();
    let g = Regex::new(r"(?m)^threads goroutines$")
        .unwrap()
        .find_iter(s)
        .count();
    assert_eq!(
        (os, g),
        (2, 1),
        "gthreads os / gthreads / gthreads goroutines: {s:?}"
    );
}

/// lldb keeps its thread list until the next stop: after `gthreads os` and
/// one more stop, `thread list` shows the OS threads.
#[test]
fn lldb_gthreads_os_then_thread_list_shows_os_threads() {
    skip_unless_gostub!();
    let prog = go_fixture("hot", GO_NEWEST, "default");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let run = Session::lldb()
        .file(&prog)
        .cmd(format!("command script import {}", lldb_module()))
        .connect(&server)
        .continue_to("main.hotFunction")
        .cmd("gthreads os")
        .cmd("continue")
        .cmd("thread list")
        .run();
    run.expect_finished();
    let ctx = run.all();
    let tids: Vec<u64> = Regex::new(r"thread #\d+: tid = (\d+)")
        .unwrap()
        .captures_iter(&ctx)
        .map(|c| c[1].parse().unwrap())
        .collect();
    assert!(!tids.is_empty(), "{ctx}");
    assert!(
        tids.iter().all(|&t| t < GOROUTINE_TID_BASE),
        "goroutine tids after gthreads os: {tids:?}\n{ctx}"
    );
}

/// In the os view a thread stopped in the raw syscall (runtime code) has
/// user frames further up: go-trim-stack selects the first one.
#[test]
fn lldb_go_trim_stack_selects_first_user_frame_in_os_view() {
    skip_unless_gostub!();
    let prog = go_fixture("states", GO_NEWEST, "default");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let run = Session::lldb()
        .file(&prog)
        .cmd(format!("command script import {}", lldb_module()))
        .connect(&server)
        .cmd("process plugin packet monitor threads os")
        .continue_to("main.checkpoint")
        .cmd("script [lldb.process.SetSelectedThread(t) for t in lldb.process if 'Syscall6' in (t.GetFrameAtIndex(0).GetFunctionName() or '')]")
        .cmd("script print('top: %s' % lldb.process.GetSelectedThread().GetFrameAtIndex(0).GetFunctionName())")
        .cmd("go-trim-stack")
        .cmd("script print('selected: %s' % lldb.process.GetSelectedThread().GetSelectedFrame().GetFunctionName())")
        .run();
    run.expect_finished();
    server.assert_no_panic();
    run.expect(&[r"top: \S*Syscall6", r"(?m)^frame #[1-9]\d*: syscall\."]);
    let sel = run.capture(r"(?m)^selected: (\S+)");
    assert!(
        !sel.starts_with("runtime.") && !sel.starts_with("internal/runtime/") && sel != "None",
        "go-trim-stack selected {sel:?}\n{}",
        run.all()
    );
}

#[test]
fn lldb_help_shows_helper_help_texts() {
    skip_unless_gostub!();
    let t = lldb_session();
    t.expect(
        "help",
        &[
            r"goroutines\s+\[-s\s+STATUS\]\s+\[-w\s+WAITREASON\]\s+\[-f\s+FUNC\]\s+\[-l\s+KEY=VALUE\]\s+\[-new\]\s+\[-group\s+top\|start\|go\|wait\]\s+\[-n\s+LIMIT\]:\s+list\s+goroutines\s+\(-new:\s+only\s+those\s+created\s+since",
            r"goroutine ID \[bt\]: the Go runtime's traceback of one goroutine",
            r"gtraceback \[none\|single\|all\|system\|crash\]: show or set the traceback\s+policy",
            r"gthreads \[goroutines\|os\]: show or set what lldb sees as threads",
            r"gstats: gostub's memory cache and syscall figures",
            r"go-trim-stack: select the first frame of user code, past Go runtime\s+frames",
            r"gostub-connect PORT \(or HOST:PORT\): connect to a gostub",
        ],
    );
}
