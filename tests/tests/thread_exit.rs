//! Threads that exit while gdb holds the others (issue 10 items 7 and 10), and a thread-group
//! leader that exits before its process, with gdb 13 as GDB's testsuite drives it
//! (gdb.threads/schedlock-thread-exit.exp, no-unwaited-for-left.exp, leader-exit.exp).

use gostub_tests::*;

/// Item 7: under scheduler locking the one resumed thread exits; gdbserver answers `N` and gdb
/// says so (the stub used to send nothing, and gdb hung). The thread held stays.
#[test]
fn item7_only_resumed_thread_exits_under_scheduler_locking() {
    skip_on_lldb_server!();
    let run = stopped_at(&fixture("c_thread_exit"), "worker_started")
        .cmd("set scheduler-locking on")
        .cmd("continue")
        .cmd("echo ==THREADS==\\n")
        .cmd("info threads")
        .cmd("thread 1")
        .cmd("bt 1")
        .run_clean();
    run.expect(&[
        r"No unwaited-for children left\.",
        r"(?s)==THREADS==.*\n\s+1\s+Thread [^\n]*\n.*has terminated",
        r"(?s)==THREADS==.*#0\s+\S",
    ]);
    run.expect_not(&[r"(?s)==THREADS==.*\n\*?\s+2\s+Thread"]);
}

/// Item 7, for a client that does not read `N` (gdb with `no-resumed-stop-reply-packet off`
/// sends no `no-resumed+`): the no-resumed stop is gdbserver's error reply, which gdb warns of
/// and takes as a stop, instead of an `N` it cannot parse. The thread held stays.
#[test]
fn item7_no_resumed_is_an_error_reply_without_no_resumed_offer() {
    skip_on_lldb_server!();
    let program = fixture("c_thread_exit");
    let server = Server::start(Mode::Launch(&program, &[]));
    let run = Session::new(Client::Gdb)
        .pre("set remote no-resumed-stop-reply-packet off")
        .file(&program)
        .connect(&server)
        .continue_to("worker_started")
        .cmd("set scheduler-locking on")
        .cmd("continue")
        .cmd("echo ==THREADS==\\n")
        .cmd("info threads")
        .cmd("thread 1")
        .cmd("bt 1")
        .run();
    run.expect_finished();
    server.assert_no_panic();
    run.expect(&[
        r"warning: Remote failure reply: E\.No unwaited-for children left\.",
        r"(?s)==THREADS==.*\n\s+1\s+Thread [^\n]*\n.*has terminated",
        r"(?s)==THREADS==.*#0\s+\S",
    ]);
    run.expect_not(&[r"(?s)==THREADS==.*\n\*?\s+2\s+Thread"]);
}

/// Item 7 with item 10: the leader, the one thread resumed, leaves with pthread_exit while the
/// survivor is held. A lone leader's exit gives the tracer no wait status; the stub finds the
/// zombie and answers `N`.
#[test]
fn item7_leader_exits_alone_under_scheduler_locking() {
    skip_on_lldb_server!();
    let run = stopped_at(&fixture("c_thread_exit"), "leader_exits")
        .cmd("set scheduler-locking on")
        .cmd("continue")
        .cmd("echo ==THREADS==\\n")
        .cmd("info threads")
        .cmd("thread 2")
        .cmd("bt")
        .run_clean();
    run.expect(&[
        r"No unwaited-for children left\.",
        r"(?s)==THREADS==.*\n\s+2\s+Thread [^\n]*\n.*The current thread <Thread ID 1> has terminated",
        // Its frame is read through its own /proc entry (just created, it may still be in clone3).
        r"\[Switching to thread 2 [^\n]*\]\n#0\s+\S",
    ]);
    run.expect_not(&[r"Cannot access memory"]);
}

/// Item 10: after the leader's pthread_exit, the survivor's breakpoint is reported (stopping
/// every thread used to wait for the zombie leader for good), the leader is gone from the
/// thread list, and the process still ends with its status.
#[test]
fn item10_leader_exit_leaves_one_thread() {
    skip_on_lldb_server!();
    let run = stopped_at(&fixture("c_thread_exit"), "after_leader_exit")
        .cmd("echo ==THREADS==\\n")
        .cmd("info threads")
        .cmd("continue")
        .run_clean();
    run.expect(&[
        r"(?s)==THREADS==.*\n\*\s+2\s+Thread [^\n]* after_leader_exit",
        r"exited normally",
    ]);
    run.expect_not(&[r"(?s)==THREADS==.*\n\s+1\s+Thread"]);
}

/// Issue 10 (gdb.threads/multi-create.exp): short-lived threads whose first stop (and exit)
/// come before their creator's clone event. Such a thread, gone by the time the clone event is
/// read, is not added back: stopping every thread used to wait for it for good, and gdb hung
/// after a few breakpoint hits.
#[test]
fn issue10_threads_gone_before_their_clone_event_do_not_hang_stops() {
    skip_on_lldb_server!();
    let run = stopped_at(&fixture("c_thread_churn"), "churned")
        .repeat(40, &["continue"])
        .run_clean();
    // The hits seen depend on how the threads race; the run must end with the program's exit.
    run.expect(&[r"Breakpoint 1, churned \(round=1\)", r"exited normally"]);
}
