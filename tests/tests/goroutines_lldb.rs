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

// ---------------------------------------------------------------------------
// i. lldb's stop path: few packets per stop, registers by thread suffix
// ---------------------------------------------------------------------------

/// `many` with 300 parked goroutines (128 goroutine threads under the default cap) stopped at
/// main.checkpoint through lldb, with lldb's packet log in `log`, then `cmds`.
fn lldb_many_session(log: &std::path::Path, cmds: &[&str]) -> (Run, Server) {
    let prog = go_fixture("many", GO_NEWEST, "default");
    let server = Server::start(Mode::Launch(&prog, &["300"]));
    let run = Session::lldb()
        .file(&prog)
        .cmd(format!(
            "log enable -f {} gdb-remote packets",
            log.display()
        ))
        .connect(&server)
        .continue_to("main.checkpoint")
        .cmds(cmds.iter().copied())
        .run();
    run.expect_finished();
    server.assert_no_panic();
    (run, server)
}

/// The packets lldb sent, in order (payloads).
fn sent_packets(log: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).expect("lldb packet log");
    let re = Regex::new(r"send packet: \$([^#]*)#").unwrap();
    re.captures_iter(&text).map(|c| c[1].to_string()).collect()
}

/// A stop with 128 goroutine threads costs lldb at most 15 packets (continue, the step off the
/// breakpoint and `bt` included): stop replies carry `threads:`, `thread-pcs:`, `jstopinfo:`
/// and stack memory, so lldb sends no `Hg`, no per-thread `p` or `qThreadStopInfo`.
#[test]
fn lldb_stop_with_128_goroutine_threads_costs_at_most_15_packets() {
    skip_unless_gostub!();
    let dir = TempDir::new("lldb-packets");
    let log = dir.path().join("packets.log");
    let mut cmds = vec!["breakpoint set -n main.tick"];
    cmds.extend(["continue", "bt"].repeat(4));
    cmds.push("thread list");
    let (run, _server) = lldb_many_session(&log, &cmds);
    run.expect(&[
        r"frame #0: 0x[0-9a-f]+ \S+`main\.tick",
        r"frame #1: 0x[0-9a-f]+ \S+`main\.main",
    ]);
    let packets = sent_packets(&log);
    let goroutine_threads = Regex::new(r"thread #\d+: tid = (\d+),")
        .unwrap()
        .captures_iter(&run.all())
        .filter(|c| c[1].parse::<u64>().unwrap() >= GOROUTINE_TID_BASE)
        .count();
    assert_eq!(goroutine_threads, 128, "goroutine threads\n{}", run.all());
    // A stop: from one `vCont;c` to the next (the first two continues reach main.tick).
    let starts: Vec<usize> = (0..packets.len())
        .filter(|&i| packets[i].starts_with("vCont;c"))
        .collect();
    assert!(starts.len() >= 5, "continues: {starts:?}\n{}", run.all());
    for w in starts[2..].windows(2) {
        let stop = &packets[w[0]..w[1]];
        assert!(
            stop.len() <= 15,
            "a stop cost {} packets: {stop:?}",
            stop.len()
        );
    }
    assert!(
        !packets
            .iter()
            .any(|p| p.starts_with("Hg") || p.starts_with("qThreadStopInfo")),
        "lldb still selects threads or asks per thread: {packets:?}"
    );
}

/// With the thread suffix lldb names the thread in each register packet: `bt`, `finish`,
/// `next` and `step` work on a goroutine thread without any `Hg`.
#[test]
fn lldb_bt_finish_next_step_with_thread_suffix() {
    skip_unless_gostub!();
    let dir = TempDir::new("lldb-suffix");
    let log = dir.path().join("packets.log");
    let (run, _server) = lldb_many_session(&log, &["bt", "finish", "next", "step", "bt"]);
    run.expect(&[
        r"frame #0: 0x[0-9a-f]+ \S+`main\.checkpoint",
        r"stop reason = step out",
        r"main\.main at main\.go:43",
        r"stop reason = step over",
        r"stop reason = step in",
    ]);
    let packets = sent_packets(&log);
    assert!(
        packets
            .iter()
            .any(|p| p.starts_with('p') && p.contains(";thread:")),
        "no suffixed register read: {packets:?}"
    );
    assert!(
        !packets.iter().any(|p| p.starts_with("Hg")),
        "Hg sent: {packets:?}"
    );
}

/// Issue 9 item 6: `thread list` and `bt all` over 128 goroutine threads cost lldb at most
/// two packets a thread: `jThreadsInfo` names every thread but gives registers and stack only
/// to the threads that stopped (see the next test), so `thread list` reads another thread's
/// registers (suffixed `g`/`p`) and its first frames (one `x`) when it shows it; `bt all`
/// walks the rest of the stacks from lldb's cache lines. Every parked goroutine's backtrace
/// still reaches `runtime.goexit`.
#[test]
fn lldb_thread_list_and_bt_all_over_128_goroutine_threads_cost_at_most_two_packets_a_thread() {
    skip_unless_gostub!();
    let dir = TempDir::new("lldb-thread-list");
    let log = dir.path().join("packets.log");
    let listing = dir.path().join("listing.log");
    let enable = format!("log enable -f {} gdb-remote packets", listing.display());
    let (run, _server) = lldb_many_session(
        &log,
        &[
            "log disable gdb-remote packets",
            &enable,
            "thread list",
            "bt all",
        ],
    );
    let ctx = run.all();
    let frame0 = Regex::new(r"(?m)^\s*thread #\d+: tid = (\d+), 0x[0-9a-f]+ \S+`(\S+)").unwrap();
    let shown = frame0.captures_iter(&ctx).count(); // `thread list`'s rows
    let parked = frame0
        .captures_iter(&ctx)
        .filter(|c| c[1].parse::<u64>().unwrap() >= GOROUTINE_TID_BASE)
        .filter(|c| &c[2] == "main.parked")
        .count();
    assert!(
        parked >= 120,
        "{parked} goroutine threads in main.parked\n{ctx}"
    );
    let goexits = ctx.matches("`runtime.goexit").count();
    assert!(
        goexits >= parked,
        "{goexits} backtraces reach runtime.goexit\n{ctx}"
    );
    let packets = sent_packets(&listing);
    let reads = packets.iter().filter(|p| p.starts_with('x')).count();
    assert!(
        packets.len() <= 2 * shown + 12 && reads <= shown + 8,
        "thread list + bt all over {shown} threads cost {} packets ({reads} reads): {packets:?}",
        packets.len()
    );
}

/// The `jThreadsInfo` replies lldb received (payloads, binary escapes left in).
fn threads_info_replies(log: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).expect("lldb packet log");
    let re = Regex::new(r"send packet: \$jThreadsInfo#..\s*\n.*read packet: \$(.*)#").unwrap();
    re.captures_iter(&text).map(|c| c[1].to_string()).collect()
}

/// Issue 9: lldb parses all of `jThreadsInfo` at every stop it shows, and registers and two
/// frame-pointer pairs for each of 131 threads cost it 2.5-3 ms of CPU a stop (half of it).
/// So every thread gets its tid and name, and only the threads that stopped (those with a
/// `reason`) get registers and stack memory. `bt` on the stopped goroutine still costs no
/// register or memory packet.
#[test]
fn lldb_threads_info_gives_registers_and_stack_only_to_stopped_threads_issue_9() {
    skip_unless_gostub!();
    let dir = TempDir::new("lldb-threads-info");
    let log = dir.path().join("packets.log");
    let (run, _server) =
        lldb_many_session(&log, &["breakpoint set -n main.tick", "continue", "bt"]);
    run.expect(&[
        r"frame #0: 0x[0-9a-f]+ \S+`main\.tick",
        r"frame #1: 0x[0-9a-f]+ \S+`main\.main",
    ]);
    let replies = threads_info_replies(&log);
    let last = replies
        .last()
        .unwrap_or_else(|| panic!("no jThreadsInfo\n{}", run.all()));
    let count = |key: &str| last.matches(&format!("\"{key}\":")).count();
    assert!(
        count("tid") >= 128 && count("name") == count("tid"),
        "{last}"
    );
    assert!(count("reason") >= 1, "no stopped thread: {last}");
    assert_eq!(count("registers"), count("reason"), "{last}");
    assert_eq!(count("memory"), count("reason"), "{last}");
    let packets = sent_packets(&log);
    let after_stop = packets
        .iter()
        .rev()
        .take_while(|p| !p.starts_with("vCont;c"));
    let fetched: Vec<&String> = after_stop
        .filter(|p| p.starts_with('x') || p.starts_with('p') || p.starts_with('g'))
        .collect();
    assert!(fetched.is_empty(), "bt fetched {fetched:?}");
}

/// Issue 9: in the os view a stop names each OS thread after the goroutine it runs, found from
/// the threads' TLS: lldb asks for the names at every stop (the step off a breakpoint too), and
/// a full listing of every goroutine for them cost a stop of the os view 0.4 ms (1,000
/// goroutines), 3x lldb-server's stop. Only `monitor goroutines` or the goroutines view list.
#[test]
fn lldb_os_view_names_threads_without_listing_every_goroutine_issue_9() {
    skip_unless_gostub!();
    let prog = go_fixture("many", GO_NEWEST, "default");
    let server = Server::start_full(
        &["--threads", "os"],
        Mode::Launch(&prog, &["300"]),
        &[("RUST_LOG", "gostub=debug,goruntime=debug")],
    );
    let mut cmds = vec!["breakpoint set -n main.tick"];
    cmds.extend(["continue", "bt"].repeat(3));
    cmds.push("thread list");
    let run = Session::lldb()
        .file(&prog)
        .connect(&server)
        .continue_to("main.checkpoint")
        .cmds(cmds)
        .run();
    run.expect_finished();
    server.assert_no_panic();
    run.expect(&[
        r"frame #0: 0x[0-9a-f]+ \S+`main\.tick",
        r"thread #\d+: tid = \d+, .*name = 'goroutine 1 \[running\] main\.tick'",
    ]);
    let listings = server.stderr().matches("] listed ").count();
    assert!(
        listings == 0,
        "{listings} goroutine listings\n{}",
        server.log()
    );
}
