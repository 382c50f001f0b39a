//! Running and changing goroutines through gdb: `next` stays on the goroutine
//! that hit the breakpoint (also in a PIE binary), and a parked goroutine (one not on a thread) can
//! neither have its registers written nor be stepped alone; each is an
//! error, and the session goes on.

use gostub_tests::*;

// ---------------------------------------------------------------------------
// f. next stays on the goroutine that hit the breakpoint
// ---------------------------------------------------------------------------

fn next_stays_on_goroutine(version: &str, variant: &str) {
    let t = stopped_at(&go_fixture("hot", version, variant), "main.hotFunction")
        .cmd("delete")
        .cmd("thread")
        .repeat(3, &["next", "thread"]);
    let run = t.run();
    run.expect_finished();
    t.server.assert_no_panic();
    let ctx = run.all();
    let cur: Vec<u64> = Regex::new(r"\[Current thread is \d+ \(Thread \d+\.(\d+)")
        .unwrap()
        .captures_iter(&ctx)
        .map(|c| c[1].parse().unwrap())
        .collect();
    assert_eq!(cur.len(), 4, "expected 4 `thread` replies\n{ctx}");
    assert!(
        cur[0] > GOROUTINE_TID_BASE,
        "stopped thread {} is not a goroutine\n{ctx}",
        cur[0]
    );
    assert!(
        cur.iter().all(|&t| t == cur[0]),
        "next moved between threads: {cur:?}\n{ctx}"
    );
    let after = ctx
        .split("[Current thread is")
        .skip(1)
        .collect::<Vec<_>>()
        .join("");
    assert!(
        !after.contains("[Switching to Thread"),
        "gdb switched threads during next\n{ctx}"
    );
    // It did step: the lines after hotFunction's first one.
    run.expect_count_at_least(r"(?m)^\d+\s+\S", 3);
}

#[test]
fn next_stays_on_breakpoint_goroutine_go_oldest() {
    skip_unless_gostub!();
    next_stays_on_goroutine(GO_OLDEST, "default");
}

#[test]
fn next_stays_on_breakpoint_goroutine_go_newest() {
    skip_unless_gostub!();
    next_stays_on_goroutine(GO_NEWEST, "default");
}

#[test]
fn next_stays_on_breakpoint_goroutine_pie_go_oldest() {
    skip_unless_gostub!();
    next_stays_on_goroutine(GO_OLDEST, "pie");
}

#[test]
fn next_stays_on_breakpoint_goroutine_pie_go_newest() {
    skip_unless_gostub!();
    next_stays_on_goroutine(GO_NEWEST, "pie");
}

// ---------------------------------------------------------------------------
// g. a parked goroutine's registers cannot be written
// ---------------------------------------------------------------------------

/// gdb commands that select the thread of the goroutine parked in `func`.
fn select_goroutine_in(func: &str) -> String {
    format!(
        "python [t.switch() for t in gdb.selected_inferior().threads() if (t.details or t.name or '').endswith('{func}')]"
    )
}

/// The `states` fixture stopped at its checkpoint, with gdb on the goroutine parked in
/// `main.chanRecv`.
fn parked_chan_recv_selected() -> Stopped {
    stopped_at(
        &go_fixture("states", GO_NEWEST, "default"),
        "main.checkpoint",
    )
    .cmd("info threads")
    .cmd(select_goroutine_in("main.chanRecv"))
}

#[test]
fn writing_parked_goroutine_register_is_an_error_and_session_continues() {
    skip_unless_gostub!();
    let t = parked_chan_recv_selected()
        .cmd("thread")
        .cmd("p/x $rax")
        .cmd("set $rax = 0x1234")
        .cmd("echo @@after\\n")
        .cmd("p/x $rax")
        .cmd("p 40+2")
        .cmd("bt 1")
        .cmd("thread 1")
        .cmd("p/x $pc");
    let run = t.run();
    run.expect_finished();
    t.server.assert_no_panic();
    run.expect(&[
        r"\[Current thread is \d+ \(Thread \d+\.10737\d+",
        r"(?i)(could not write register|cannot|error).*",
        r"\$\d+ = 42",
        r"(?m)^#0\s+.*main\.chanRecv",
    ]);
    let ctx = run.all();
    let after = ctx.split("@@after").nth(1).unwrap_or("");
    assert!(
        !after.contains("0x1234"),
        "the write took effect on a parked goroutine\n{ctx}"
    );
    let before = ctx.split("@@after").next().unwrap();
    assert!(
        Regex::new(r#"(?i)(Could not write register "rax"|cannot write|parked)"#)
            .unwrap()
            .is_match(before),
        "no error for the register write\n{ctx}"
    );
    run.expect_not(&[r"Remote connection closed", r"Remote communication error"]);
}

#[test]
fn stepping_parked_goroutine_alone_is_an_error() {
    skip_unless_gostub!();
    let t = parked_chan_recv_selected()
        .cmd("set scheduler-locking on")
        .cmd(r#"printf "pc before %#lx\n", $pc"#)
        .cmd("echo @@step\\n")
        .cmd("stepi")
        .cmd("echo @@after\\n")
        .cmd(r#"printf "pc after %#lx\n", $pc"#)
        .cmd("p 40+2")
        .cmd("thread");
    let run = t.run();
    run.expect_finished();
    t.server.assert_no_panic();
    let ctx = run.all();
    let step = ctx
        .split("@@step")
        .nth(1)
        .and_then(|s| s.split("@@after").next())
        .unwrap_or("");
    assert!(
        !step.trim().is_empty()
            && !Regex::new(r"(?m)^0x[0-9a-f]+\s+\d+\s")
                .unwrap()
                .is_match(step)
            && Regex::new(r"(?i)error|cannot|parked|E\d\d")
                .unwrap()
                .is_match(step),
        "stepi of a parked goroutine alone did not give an error: {step:?}\n{ctx}"
    );
    run.expect(&[r"\$\d+ = 42"]);
    run.expect_not(&[r"Remote connection closed"]);
    let before = run.capture(r"pc before (0x[0-9a-f]+)");
    let after = run.capture(r"pc after (0x[0-9a-f]+)");
    assert_eq!(before, after, "the parked goroutine moved\n{ctx}");
}
