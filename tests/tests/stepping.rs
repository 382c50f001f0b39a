//! stepi, next (range stepping), scheduler locking.

use gostub_tests::*;

#[test]
fn stepi_moves_one_instruction() {
    skip_on_lldb_server!();
    let run = stopped_at(&fixture("threads_lib"), "hot_function")
        .cmd("delete")
        .cmd("x/2i $pc")
        .cmd("stepi")
        .cmd("printf \"PC2=%#lx\\n\", $pc")
        .cmd("stepi")
        .cmd("printf \"PC3=%#lx\\n\", $pc")
        .run();
    run.expect_finished();
    let next = run.capture_hex(
        r"=> 0x[0-9a-f]+ <hot_function\+\d+>:.*\n\s+(0x[0-9a-f]+) <hot_function\+\d+>:",
    );
    let pc2 = run.capture_hex(r"PC2=(0x[0-9a-f]+)");
    let pc3 = run.capture_hex(r"PC3=(0x[0-9a-f]+)");
    assert_eq!(
        pc2,
        next,
        "stepi did not land on the next instruction: {}",
        run.all()
    );
    assert!(
        pc3 > pc2 && pc3 < pc2 + 16,
        "second stepi: {pc2:#x} -> {pc3:#x}"
    );
    run.expect_not(&[r"SIGTRAP"]);
}

#[test]
fn next_steps_by_line_and_finish_returns() {
    skip_on_lldb_server!();
    let run = stopped_at(&fixture("threads_lib"), "hot_function")
        .cmd("delete")
        .cmd("next")
        .cmd("next")
        .cmd("finish")
        .cmd("next")
        .run();
    run.expect_finished().expect(&[
        r"(?m)^30\s+counter\+\+;",
        r"(?m)^31\s+return i \+ 1;",
        r"(?m)^32\s+\}",
        // the call's result is unused: the return address starts line 46
        r"(?m)^(Run till exit.*\n)?(0x[0-9a-f]+ in )?worker \(arg=0x\d\) at .*threads_lib\.c:46",
        r"Value returned is \$1 = \d+",
        r"(?m)^46\s+lib_compute\(i\);\n(.*\n)*?47\s+usleep\(2000\);",
    ]);
    run.expect_not(&[r"SIGTRAP"]);
}

/// With scheduler-locking on, `next` and `continue` move only the selected
/// thread, which needs gdb's lone `vCont;s:THREAD` (step over breakpoint).
#[test]
fn scheduler_locking_keeps_to_one_thread() {
    skip_on_lldb_server!();
    let run = stopped_at(&fixture("threads_lib"), "all_started")
        .cmd("break hot_function")
        .cmd("continue")
        .cmd("set scheduler-locking on")
        .cmd("printf \"T1=%d I1=%d\\n\", $_thread, i")
        .cmd("next")
        .cmd("next")
        .cmd("continue")
        .cmd("printf \"T2=%d I2=%d\\n\", $_thread, i")
        .cmd("continue")
        .cmd("printf \"T3=%d I3=%d\\n\", $_thread, i")
        .run();
    run.expect_finished();
    let t1: i64 = run.capture(r"T1=(\d+)").parse().unwrap();
    let t2: i64 = run.capture(r"T2=(\d+)").parse().unwrap();
    let t3: i64 = run.capture(r"T3=(\d+)").parse().unwrap();
    let i1: i64 = run.capture(r"I1=(\d+)").parse().unwrap();
    let i2: i64 = run.capture(r"I2=(\d+)").parse().unwrap();
    let i3: i64 = run.capture(r"I3=(\d+)").parse().unwrap();
    assert_eq!(
        (t1, t1),
        (t2, t3),
        "thread changed under scheduler-locking: {}",
        run.all()
    );
    assert_eq!(
        (i2, i3),
        (i1 + 1, i1 + 2),
        "the locked thread's loop index: {}",
        run.all()
    );
}

/// Continue from a breakpoint many times while 4 threads hit it: gdb steps
/// over the breakpoint each time; no stop is lost or reported twice.
#[test]
fn step_over_breakpoint_with_several_threads() {
    skip_on_lldb_server!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("break hot_function")
        .repeat(12, &["continue"])
        .cmd("info breakpoints")
        .run();
    run.expect_finished()
        .expect(&[r"breakpoint already hit 12 times"]);
    assert_eq!(
        run.count(r"hit Breakpoint 1, hot_function"),
        12,
        "{}",
        run.all()
    );
    // hits come from more than one thread
    let threads: std::collections::BTreeSet<String> =
        Regex::new(r#"Thread (\d+)(?: "[^"]*")? hit Breakpoint 1"#)
            .unwrap()
            .captures_iter(&run.all())
            .map(|c| c[1].to_string())
            .collect();
    assert!(
        threads.len() >= 2,
        "all 12 hits in one thread: {}",
        run.all()
    );
    run.expect_not(&[r"SIGTRAP"]);
}
