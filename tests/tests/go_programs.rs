//! Go programs, built with the oldest and the newest Go we support.

use gostub_tests::*;

fn hot_20_hits(version: &str) {
    let prog = go_fixture("hot", version, "default");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("break main.hotFunction")
        .repeat(20, &["continue", "bt"])
        .cmd("info threads")
        .cmd("p main.counter")
        .run();
    run.expect_finished()
        .expect(&[r"Breakpoint 1 at 0x[0-9a-f]+: file .*fixtures/go/hot/main\.go, line \d+\."]);
    assert_eq!(
        run.count(r"Breakpoint 1, main\.hotFunction \(i=\d+"),
        20,
        "{}",
        run.all()
    );
    assert_eq!(
        run.count(r"(?m)^#1\s+0x[0-9a-f]+ in main\.worker \("),
        20,
        "{}",
        run.all()
    );
    // 8 workers on GOMAXPROCS=8, each in and out of a blocking syscall.
    let threads = run.count(r"(?m)^\*?\s+\d+\s+(Thread|goroutine|LWP) ");
    assert!(threads >= 8, "only {threads} threads listed: {}", run.all());
    // Go's preemption signal never reaches the user.
    run.expect_not(&[
        r"SIGURG",
        r"received signal",
        r"SIGTRAP",
        r"Remote connection closed",
    ]);
    server.assert_no_panic();
}

#[test]
fn hot_oldest_go() {
    skip_on_lldb_server!();
    hot_20_hits(GO_OLDEST);
}

#[test]
fn hot_newest_go() {
    skip_on_lldb_server!();
    hot_20_hits(GO_NEWEST);
}

/// The states fixture's own oracle works: runtime.Stack output is written
/// and main.checkpoint is reached under the debugger (the goroutine tests of
/// later issues build on this).
#[test]
fn states_fixture_reaches_checkpoint() {
    skip_on_lldb_server!();
    for version in [GO_OLDEST, GO_NEWEST] {
        let prog = go_fixture("states", version, "default");
        let dir = TempDir::new("states");
        let out = dir.path().join("stack.txt");
        let out_s = out.display().to_string();
        let server = Server::start_env(Mode::Launch(&prog, &[]), &[("FIXTURE_STACK_OUT", &out_s)]);
        let t = Stopped::on(server, Client::Gdb, &prog, "main.checkpoint").cmd("bt 2");
        let run = t.run();
        run.expect_finished().expect(&[
            r"Breakpoint 1, main\.checkpoint \(\)",
            r"#1\s+0x[0-9a-f]+ in main\.main \(\)",
        ]);
        let text = std::fs::read_to_string(&out).expect("runtime.Stack output written");
        for want in [
            r"\[chan send\]:\n(main\.chanSend|.*\n)",
            r"\[chan receive \(nil chan\)\]",
            r"\[select \(no cases\)\]",
            r"\[sleep\]",
            r"\[IO wait\]",
            r"\[syscall\]",
            r"\[chan receive, locked to thread\]",
            r"main\.recurse\(",
            r"main\.\(\*server\)\.serve\(",
            r"main\.genericRecv\[\.\.\.\]\(",
            r"main\.panicRecovered\.func1\(\)",
        ] {
            assert!(
                Regex::new(want).unwrap().is_match(&text),
                "go{version}: no /{want}/ in:\n{text}"
            );
        }
        assert!(
            text.matches("\ngoroutine ").count() + 1 >= 24,
            "go{version}: too few goroutines:\n{text}"
        );
    }
}
