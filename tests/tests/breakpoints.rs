//! Software and hardware breakpoints, watchpoints.

use gostub_tests::*;
use std::time::Duration;

#[test]
fn sw_breakpoint_20_hits_with_bt() {
    skip_on_lldb_server!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("break hot_function")
        .repeat(20, &["continue", "bt"])
        .cmd("p counter")
        .run();
    run.expect_finished();
    assert_eq!(
        run.count(r"hit Breakpoint 1, hot_function \(i=\d+\)"),
        20,
        "{}",
        run.all()
    );
    assert_eq!(
        run.count(r"(?m)^#1\s+0x[0-9a-f]+ in worker \(arg=0x[0-3]\)"),
        20,
        "{}",
        run.all()
    );
    // The program ran between the stops: hot_function's counter moved. (Hits
    // of several threads at once are reported one by one, so it may be < 20.)
    let counter: u64 = run.capture(r"\$1 = (\d+)").parse().unwrap();
    assert!(
        (5..=60).contains(&counter),
        "counter {counter} after 20 stops: {}",
        run.all()
    );
    run.expect_not(&[
        r"SIGTRAP",
        r"Remote connection closed",
        r"Cannot insert breakpoint",
    ]);
    server.assert_no_panic();
}

#[test]
fn detach_leaves_no_int3() {
    skip_on_lldb_server!();
    let prog = fixture("threads_lib");
    let mut fx = Fixture::start(&prog, &[], true);
    let pid = fx.pid();
    let server = Server::start(Mode::Attach(pid));
    let hot = symbol_addr(pid, &prog, "hot_function");
    let lib = symbol_addr(pid, &prog, "on_usr1");
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("break hot_function")
        .cmd("break on_usr1")
        .cmd("hbreak all_started")
        .repeat(3, &["continue"])
        .cmd("printf \"BP=%#lx\\n\", $pc")
        .cmd("detach")
        .run();
    run.expect_finished()
        .expect(&[r"hit Breakpoint 1, hot_function", r"detached\]"]);
    let bp = run.capture_hex(r"BP=(0x[0-9a-f]+)");
    assert!(bp > hot && bp < hot + 32);
    assert!(
        wait_until(Duration::from_secs(5), || tracer_pid(pid) == Some(0)),
        "still traced"
    );
    assert!(fx.proc.running());
    assert_text_clean(pid, bp, 16);
    assert_text_clean(pid, hot, 64);
    assert_text_clean(pid, lib, 32);
    // The program keeps running normally: it still works after detach.
    std::thread::sleep(Duration::from_millis(200));
    assert!(fx.proc.running(), "program died after detach (int3 left?)");
}

#[test]
fn hardware_breakpoint_in_threads_created_later() {
    skip_on_lldb_server!();
    let prog = fixture("threads_lib");
    // Launched: no worker thread exists yet when hbreak is set.
    let server = Server::start(Mode::Launch(&prog, &[]));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("hbreak hot_function")
        .repeat(4, &["continue"])
        .cmd("info breakpoints")
        .run();
    run.expect_finished().expect(&[
        r"Hardware assisted breakpoint 1 at 0x[0-9a-f]+: file .*threads_lib\.c",
        r"(?m)^1\s+hw breakpoint\s+keep y\s+0x[0-9a-f]+ in hot_function .*\n\s+breakpoint already hit 4 times",
    ]);
    assert_eq!(
        run.count(r"hit Breakpoint 1, hot_function"),
        4,
        "{}",
        run.all()
    );
    run.expect_not(&[r"SIGTRAP"]);
}

#[test]
fn watchpoints_write_read_access_in_new_threads() {
    skip_on_lldb_server!();
    // setup_done runs before any thread exists; writer and reader are
    // created after the watchpoints are set.
    let t = stopped_at(&fixture("c_watch"), "setup_done")
        .cmd("delete")
        .cmd("watch watched")
        .cmd("continue")
        .cmd("continue")
        .cmd("bt 1")
        .cmd("delete")
        .cmd("echo ==RWATCH==\\n")
        .cmd("rwatch read_me")
        .cmd("continue")
        .cmd("bt 1")
        .cmd("delete")
        .cmd("echo ==AWATCH==\\n")
        .cmd("awatch watched")
        .cmd("continue");
    let run = t.run();
    run.expect_finished().expect(&[
        r"Hardware watchpoint 2: watched",
        r"(?s)hit Hardware watchpoint 2: watched\s+Old value = 0\s+New value = 1",
        r"(?s)hit Hardware watchpoint 2: watched\s+Old value = 1\s+New value = 2",
        r"#0\s+writer_step \(i=2\)",
        r"(?s)==RWATCH==.*Hardware read watchpoint 3: read_me.*hit Hardware read watchpoint 3: read_me\s+Value = 42",
        r"(?s)==RWATCH==.*#0\s+(0x[0-9a-f]+ in )?reader \(arg=",
        r"(?s)==AWATCH==.*hit Hardware access \(read/write\) watchpoint 4: watched\s+(Value|Old value) = \d+",
    ]);
    run.expect_not(&[r"Software watchpoint", r"SIGTRAP"]);
    t.server.assert_no_panic();
}

/// gdb's `x` through the stub never shows the breakpoint's int3, with
/// breakpoints kept inserted while stopped.
#[test]
fn memory_reads_hide_inserted_breakpoints() {
    skip_on_lldb_server!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let pid = server.inferior_pid();
    let hot = symbol_addr(pid, &prog, "hot_function");
    let want = file_bytes_at(pid, hot, 16);
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("set breakpoint always-inserted on")
        .continue_to("hot_function")
        .cmd(format!("x/16xb {hot:#x}"))
        .run();
    run.expect_finished()
        .expect(&[r"hit Breakpoint 1, hot_function"]);
    let shown: Vec<u8> = Regex::new(r"0x([0-9a-f]{2})\b")
        .unwrap()
        .captures_iter(&run.capture(&format!(r"(?m)^0x0*{:x} <hot_function>:\s*(.*\n.*)", hot)))
        .map(|c| u8::from_str_radix(&c[1], 16).unwrap())
        .collect();
    assert_eq!(
        shown,
        want,
        "gdb shows bytes that differ from the file: {}",
        run.all()
    );
}
