//! Thread listing and per-thread state.

use gostub_tests::*;

#[test]
fn info_threads_lists_main_and_four_workers() {
    skip_on_lldb_server!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let pid = server.inferior_pid();
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("break all_started")
        .cmd("continue")
        .cmd("info threads")
        .cmd("thread apply all bt")
        .cmd("thread 3")
        .cmd("bt")
        .run();
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
    let prog = fixture("c_watch");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let pid = server.inferior_pid();
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("break setup_done")
        .cmd("continue")
        .cmd("info threads")
        .cmd("echo ==LATER==\\n")
        .cmd("break reader")
        .cmd("continue")
        .cmd("info threads")
        .run();
    run.expect_finished().expect(&[r"hit Breakpoint 2, reader"]);
    let all = run.all();
    let (before, after) = all.split_once("==LATER==").unwrap();
    let re = format!(r"(?m)^\*?\s+\d+\s+Thread {pid}\.\d+ ");
    let n = |s: &str| Regex::new(&re).unwrap().find_iter(s).count();
    assert_eq!(n(before), 1, "{all}");
    assert_eq!(n(after), 3, "{all}");
}
