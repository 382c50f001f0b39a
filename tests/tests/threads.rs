//! Thread listing and per-thread state.

use gostub_tests::*;

#[test]
fn info_threads_lists_main_and_four_workers() {
    skip_on_lldb_server!();
    let t = stopped_at(&fixture("threads_lib"), "all_started")
        .cmd("info threads")
        .cmd("thread apply all bt")
        .cmd("thread 3")
        .cmd("bt");
    let pid = t.server.inferior_pid();
    let run = t.run();
    run.expect_finished().expect(&[
        r"Breakpoint 1, all_started \(\)",
        r"\[Switching to thread 3 ",
    ]);
    let listed = run.count(&format!(r"(?m)^\*?\s+\d+\s+Thread {pid}\.\d+ "));
    assert_eq!(listed, 5, "{}", run.all());
    assert_eq!(
        run.count(r"in worker \(arg=0x[0-3]\)"),
        4 + 1,
        "{}",
        run.all()
    );
    run.expect(&[r"(?m)^\*\s+1\s+Thread \d+\.\d+ .*all_started \(\)"]);
}

/// Threads that exit are dropped from the list; new ones are added.
#[test]
fn thread_exit_and_creation_tracked() {
    skip_on_lldb_server!();
    let t = stopped_at(&fixture("c_watch"), "setup_done")
        .cmd("info threads")
        .cmd("echo ==LATER==\\n")
        .cmd("break reader")
        .cmd("continue")
        .cmd("info threads");
    let pid = t.server.inferior_pid();
    let run = t.run();
    run.expect_finished().expect(&[r"hit Breakpoint 2, reader"]);
    let all = run.all();
    let (before, after) = all.split_once("==LATER==").unwrap();
    let re = format!(r"(?m)^\*?\s+\d+\s+Thread {pid}\.\d+ ");
    let n = |s: &str| Regex::new(&re).unwrap().find_iter(s).count();
    assert_eq!(n(before), 1, "{all}");
    assert_eq!(n(after), 3, "{all}");
}
