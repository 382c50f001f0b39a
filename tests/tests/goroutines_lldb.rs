//! Goroutines through lldb-19: `thread list` shows the runtime's goroutines
//! as threads `2^30 + goid` with their labels (lldb reads a thread's name
//! from jThreadsInfo and the stop reply, not qThreadExtraInfo), and
//! `monitor goroutines` works through `process plugin packet monitor`.

use gostub_tests::*;
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------
// h. lldb
// ---------------------------------------------------------------------------

fn lldb_states_session(version: &str) -> (Run, Vec<GoBlock>) {
    let prog = go_fixture("states", version, "default");
    let dir = TempDir::new("lldb-states");
    let out = dir.path().join("stack.txt");
    let out_s = out.display().to_string();
    let server = Server::start_env(Mode::Launch(&prog, &[]), &[("FIXTURE_STACK_OUT", &out_s)]);
    let t = Stopped::on(server, Client::Lldb, &prog, "main.checkpoint").cmds([
        "thread list",
        "bt",
        "process plugin packet monitor goroutines",
    ]);
    let run = t.run();
    run.expect_finished();
    t.server.assert_no_panic();
    let dump = parse_go_traceback(
        &std::fs::read_to_string(&out)
            .unwrap_or_else(|e| panic!("go{version}: no runtime dump: {e}\n{}", run.all())),
    );
    (run, dump)
}

#[test]
fn lldb_thread_list_tids_bt_and_monitor_goroutines_match_runtime_dump() {
    skip_unless_gostub!();
    let tid_re = Regex::new(r"thread #\d+: tid = (\d+)").unwrap();
    for version in [GO_OLDEST, GO_NEWEST] {
        let (run, dump) = lldb_states_session(version);
        let ctx = run.all();
        run.expect(&[
            r"stop reason = breakpoint 1\.1",
            r"frame #0: 0x[0-9a-f]+ \S+`main\.checkpoint",
            r"frame #1: 0x[0-9a-f]+ \S+`main\.main",
            r"goroutine 1 \[running\]: main\.checkpoint \S+main\.go:\d+",
            r"\d+ goroutines shown of \d+ \(traceback all\)",
        ]);
        // thread list: the dump's goroutines, as 2^30 + goid tids.
        let tids: BTreeSet<u64> = tid_re
            .captures_iter(&ctx)
            .map(|c| c[1].parse::<u64>().unwrap())
            .filter(|&t| t >= GOROUTINE_TID_BASE)
            .map(|t| t - GOROUTINE_TID_BASE)
            .collect();
        let ids: BTreeSet<u64> = dump.iter().map(|b| b.goid).collect();
        assert_eq!(tids, ids, "go{version}: lldb's goroutine threads\n{ctx}");
        // The stopped goroutine is goroutine 1.
        assert!(
            ctx.contains(&format!("tid = {}, ", GOROUTINE_TID_BASE + 1)),
            "go{version}: goroutine 1 is not a thread\n{ctx}"
        );
        let (lines, _) = parse_goroutines_list(&ctx);
        let listed: BTreeSet<u64> = lines.iter().map(|l| l.goid).collect();
        assert_eq!(
            listed, ids,
            "go{version}: monitor goroutines through lldb\n{ctx}"
        );
        // A parked goroutine's frame #0 is its user function (pc, not label).
        run.expect(&[r"tid = \d+, 0x[0-9a-f]+ \S+`main\.chanRecv at main\.go:\d+"]);
    }
}

/// lldb does not send qThreadExtraInfo: it shows a thread's `name` from
/// jThreadsInfo / the stop reply (`name:`/`hexname:` keys).
#[test]
fn lldb_thread_list_shows_goroutine_labels() {
    skip_unless_gostub!();
    for version in [GO_OLDEST, GO_NEWEST] {
        let (run, _) = lldb_states_session(version);
        run.expect(&[
            r"thread #\d+: tid = \d+.*goroutine \d+ \[chan receive\] main\.chanRecv",
            r"thread #\d+: tid = \d+.*idle thread \(no goroutine\)",
        ]);
    }
}
