//! Detach and outside kills never harm the debuggee or leave the client uninformed (issue 11,
//! items 1, 2 and 5). Real gdb in batch mode; the fixtures are attached to (or launched) and
//! must end as they would without a debugger: exit code 0 after their run time (a few seconds,
//! so that gdb is done before the program's own end even on a loaded machine).

use gostub_tests::*;
use std::time::Duration;

/// Attaches to `prog` (run for `seconds`, once it printed `ready` if it does), runs gdb's `cmds` then `detach`, and checks that the
/// program is no longer traced and exits 0 (not killed by a SIGTRAP left behind).
fn detach_then_exit_normally(prog: &str, seconds: &str, cmds: &[&str], what: &str) {
    let prog = fixture(prog);
    let mut fx = Fixture::start(&prog, &[seconds], prints_ready(&prog));
    let pid = fx.pid();
    let server = Server::start(Mode::Attach(pid));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmds(cmds.iter().copied())
        .cmd("detach")
        .run();
    run.expect_finished().expect(&[r"detached\]"]);
    server.assert_no_panic();
    assert!(
        wait_until(Duration::from_secs(5), || tracer_pid(pid)
            .is_none_or(|t| t == 0)),
        "{what}: still traced after detach"
    );
    let status = fx
        .proc
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{what}: program did not exit"));
    assert_eq!(
        status.code(),
        Some(0),
        "{what}: program ended with {status:?} after detach\n{}\n{}",
        run.all(),
        server.log()
    );
}

fn prints_ready(prog: &std::path::Path) -> bool {
    prog.ends_with("threads_lib")
}

/// Item 1: a hardware breakpoint or watchpoint that was hit and then deleted is disarmed on
/// every thread at detach; the program runs to its normal end.
#[test]
fn item1_removed_hw_breakpoint_is_disarmed_at_detach() {
    skip_on_lldb_server!();
    for (arm, what) in [
        ("hbreak writer_step", "hbreak"),
        ("watch -l watched", "watch -l"),
        ("awatch watched", "awatch"),
    ] {
        detach_then_exit_normally(
            "c_watch",
            "5",
            &[arm, "continue", "delete"],
            &format!("{what}, hit, deleted"),
        );
    }
}

/// Item 2: a hardware breakpoint hit on a 5-thread program, then `detach` without deleting it:
/// no debug register stays armed and no debug trap already queued for a thread reaches the
/// program. Ten runs, every one must end normally.
#[test]
fn item2_hw_breakpoint_hit_then_detach_on_five_threads() {
    skip_on_lldb_server!();
    for i in 0..10 {
        detach_then_exit_normally(
            "threads_lib",
            "4",
            &["hbreak hot_function", "continue"],
            &format!("run {i}"),
        );
    }
}

/// Item 5: a program SIGKILLed from outside while gdb holds it stopped: the next `continue`
/// reports it terminated with SIGKILL (`X09`), with no register errors on the way.
#[test]
fn item5_outside_kill_while_stopped_is_reported() {
    skip_on_lldb_server!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let pid = server.inferior_pid();
    let t = Stopped::on(server, Client::Gdb, &prog, "all_started")
        .cmd(format!("shell kill -9 {pid}"))
        .cmd("shell sleep 0.5")
        .cmd("continue")
        .cmd("info registers rip");
    let run = t.run_clean();
    run.expect(&[r"Program terminated with signal SIGKILL"]);
    run.expect_not(&[r"E05", r"Could not read registers", r"Remote failure"]);
}
