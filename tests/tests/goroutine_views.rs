//! gostub's thread view and traceback policy switched in the middle of a gdb or lldb
//! session (`monitor threads os|goroutines`, `monitor traceback`), on the
//! `states` fixture stopped at main.checkpoint. A policy change reaches the
//! goroutine threads at the next stop (both clients keep a stop's registers).
//! gdb stops asking qThreadExtraInfo once one reply is empty, which the os view
//! must not give.

use gostub_tests::*;
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------
// e. switching the view and the policy in the middle of a session
// ---------------------------------------------------------------------------

fn shown_total(text: &str, ctx: &str) -> (usize, usize, String) {
    parse_goroutines_list(text)
        .1
        .unwrap_or_else(|| panic!("no totals line in {text:?}\n{ctx}"))
}

#[test]
fn switching_thread_view_and_traceback_policy_mid_session() {
    skip_unless_gostub!();
    let t = stopped_at(
        &go_fixture("states", GO_NEWEST, "default"),
        "main.checkpoint",
    )
    .cmds([
        "echo @@S g1\\n",
        "info threads",
        "echo @@S os\\n",
        "monitor threads os",
        "info threads",
        "echo @@S g2\\n",
        "monitor threads goroutines",
        "info threads",
        "echo @@S all\\n",
        "monitor goroutines",
        "echo @@S system\\n",
        "monitor traceback system",
        "monitor goroutines",
        "echo @@S system-threads\\n",
        "info threads",
        "echo @@S system-next-stop\\n",
        // The view switches above renumbered gdb's threads: goroutine 1 is selected again.
        "python [t.switch() for t in gdb.selected_inferior().threads() if t.ptid[1] == (1 << 30) + 1]",
        "stepi",
        "info threads",
        "echo @@S back\\n",
        "monitor traceback all",
        "monitor traceback",
        "monitor goroutines",
        "echo @@S end\\n",
    ]);
    let run = t.run();
    run.expect_finished();
    t.server.assert_no_panic();
    let ctx = run.all();
    let s = split_sections(&run.stdout);
    let pid = t.server.inferior_pid() as u64;

    let (g1, _) = goroutine_threads(&s["g1"], &ctx, true);
    assert!(g1.contains(&1), "goroutine 1 not a thread\n{ctx}");

    assert!(
        s["os"].contains("threads os"),
        "no `threads os` reply\n{ctx}"
    );
    // In the os view a thread's label names the goroutine its M runs (in any state: a goroutine
    // caught while parking is still the M's), else the thread's own name; never empty.
    let os_rows = info_threads_rows(&s["os"]);
    assert!(
        !os_rows.is_empty() && os_rows.iter().all(|(_, l)| !l.trim().is_empty()),
        "an OS thread without a label: {os_rows:?}\n{ctx}"
    );
    let os_lwps: Vec<u64> = Regex::new(r"(?m)^\*?\s+\d+\s+Thread \d+\.(\d+)")
        .unwrap()
        .captures_iter(&s["os"])
        .map(|c| c[1].parse().unwrap())
        .collect();
    assert!(os_lwps.len() >= 3, "too few OS threads: {os_lwps:?}\n{ctx}");
    assert!(
        os_lwps.iter().all(|&l| l < GOROUTINE_TID_BASE),
        "goroutine ids in the os view: {os_lwps:?}\n{ctx}"
    );
    assert!(
        os_lwps.contains(&pid),
        "main thread {pid} missing: {os_lwps:?}\n{ctx}"
    );

    let (g2, _) = goroutine_threads(&s["g2"], &ctx, false);
    assert_eq!(
        g2, g1,
        "goroutine threads differ after os -> goroutines\n{ctx}"
    );

    let (all_shown, all_of, p) = shown_total(&s["all"], &ctx);
    assert_eq!(p, "all");
    assert!(
        s["system"].contains("traceback system"),
        "no `traceback system` reply\n{ctx}"
    );
    let (sys_shown, sys_of, p) = shown_total(&s["system"], &ctx);
    assert_eq!(p, "system");
    assert_eq!(sys_of, all_of, "total changed with the policy\n{ctx}");
    assert!(
        sys_shown > all_shown,
        "system shows {sys_shown}, all {all_shown}: no system goroutines\n{ctx}"
    );
    // Issue 12 (gaps, item 2): the thread view of a stop keeps the policy it was built under
    // (gdb keeps the registers it read, lldb its threads and registers, until the next stop),
    // and says so; the next stop shows the new one.
    assert!(
        s["system"].contains("goroutine threads keep traceback all until the next stop"),
        "the policy change does not say when the threads follow\n{ctx}"
    );
    let (same_stop, _) = goroutine_threads(&s["system-threads"], &ctx, false);
    assert_eq!(
        same_stop, g1,
        "the goroutine threads changed at the stop of the policy change\n{ctx}"
    );
    let (gsys, _) = goroutine_threads(&s["system-next-stop"], &ctx, false);
    assert!(
        gsys.len() > g1.len() && gsys.is_superset(&g1),
        "under system the goroutine threads are {gsys:?}, under all {g1:?}\n{ctx}"
    );
    let (back, _, p) = shown_total(&s["back"], &ctx);
    assert_eq!((back, p.as_str()), (all_shown, "all"), "back to all\n{ctx}");
}

/// gdb stops asking qThreadExtraInfo for the whole session once one reply is
/// empty (it falls back to qP): the os view must not answer it with an empty
/// packet, or the goroutine labels are gone after switching back.
#[test]
fn goroutine_labels_survive_os_view_round_trip() {
    skip_unless_gostub!();
    let states = go_fixture("states", GO_NEWEST, "default");
    let t = stopped_at(&states, "main.checkpoint")
        .cmds([
            "monitor threads os",
            "info threads",
            "monitor threads goroutines",
        ])
        .section("back")
        .cmd("info threads")
        .section("end");
    let run = t.run_clean();
    let (gs, _) = goroutine_threads(&split_sections(&run.stdout)["back"], &run.all(), true);
    assert!(
        gs.contains(&1),
        "goroutine 1 not a thread after the round trip\n{}",
        run.all()
    );
}

/// Issue 12 (gaps, item 2): lldb keeps the threads and registers of a stop, so a `monitor
/// traceback system` at a stop leaves that stop's goroutine threads as they were (lldb and the
/// stub agree: one policy per stop) and the next stop (a `thread step-inst`) shows them under
/// `system`: more goroutine threads, and parked ones starting at `runtime.gopark`.
#[test]
fn lldb_traceback_change_reaches_goroutine_threads_at_the_next_stop() {
    skip_unless_gostub!();
    let prog = go_fixture("states", GO_NEWEST, "default");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let t = Stopped::on(server, Client::Lldb, &prog, "main.checkpoint")
        .section("all")
        .cmd("thread backtrace all -c 1")
        .section("change")
        .cmd("process plugin packet monitor traceback system")
        .section("same-stop")
        .cmd("thread backtrace all -c 1")
        .section("next-stop")
        .cmd("thread step-inst")
        .cmd("thread backtrace all -c 1")
        .section("end");
    let run = t.run();
    run.expect_finished();
    t.server.assert_no_panic();
    let ctx = run.all();
    let s = split_sections(&run.stdout);
    // goid -> function of frame #0, for each goroutine thread of a `thread backtrace all -c 1`.
    let tops = |name: &str| -> Vec<(u64, String)> {
        Regex::new(r"(?m)^\*? *thread #\d+, name = 'goroutine (\d+) .*\n\s*\*? *frame #0: 0x[0-9a-f]+ \S+`(\S+)")
            .unwrap()
            .captures_iter(&s[name])
            .map(|c| (c[1].parse().unwrap(), c[2].to_string()))
            .collect()
    };
    let goroutines =
        |tops: &[(u64, String)]| -> BTreeSet<u64> { tops.iter().map(|(g, _)| *g).collect() };
    let gopark =
        |tops: &[(u64, String)]| tops.iter().filter(|(_, f)| f == "runtime.gopark").count();
    let (all, same, next) = (tops("all"), tops("same-stop"), tops("next-stop"));
    assert!(
        s["change"].contains("goroutine threads keep traceback all until the next stop"),
        "the policy change does not say when the threads follow\n{ctx}"
    );
    assert!(
        goroutines(&all).contains(&1),
        "goroutine 1 not a thread\n{ctx}"
    );
    assert_eq!(gopark(&all), 0, "runtime.gopark shown under all\n{ctx}");
    assert_eq!(
        (goroutines(&same), gopark(&same)),
        (goroutines(&all), 0),
        "the stop of the policy change\n{ctx}"
    );
    let (gall, gnext) = (goroutines(&all), goroutines(&next));
    assert!(
        gnext.len() > gall.len() && gnext.is_superset(&gall),
        "after the next stop the goroutine threads are {gnext:?}, under all {gall:?}\n{ctx}"
    );
    assert!(
        gopark(&next) > 0,
        "no parked goroutine starts at runtime.gopark under system\n{ctx}"
    );
}
