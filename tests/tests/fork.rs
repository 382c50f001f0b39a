//! A program that forks while breakpoints are inserted: the child's copy of memory must not keep
//! the stub's int3 bytes (it would die of SIGTRAP), and the parent's session goes on. With gdb's
//! fork events (issue 10 item 5): `catch fork`, `catch vfork`, following the child, and both
//! processes on one connection with `detach-on-fork off`.

use std::time::Duration;

use gostub_tests::*;

#[test]
fn forked_child_runs_clean_of_breakpoints() {
    skip_on_lldb_server!();
    let t = stopped_at(&fixture("c_fork"), "work").cmd("continue");
    let run = t.run();
    run.expect_finished()
        .expect(&[
            r"Breakpoint 1, work \(n=0\)",
            r"\[Inferior 1 \(process \d+\) exited normally\]",
        ])
        .expect_not(&[r"child killed by signal", r"SIGTRAP"]);
    let out = t.server.proc.stdout_text() + &t.server.proc.stderr_text();
    assert!(
        out.contains("child exited with 0"),
        "the child did not run clean: {out}"
    );
}

/// The inferior's own output (the server's stdout and stderr).
fn program_output(server: &Server) -> String {
    server.proc.stdout_text() + &server.proc.stderr_text()
}

/// Issue 10 item 5: with gdb's fork events, `catch fork` stops at the fork and names the child;
/// gdb then detaches the child (following the parent), which runs clean of the breakpoint at
/// `work` that was inserted in the parent before the fork.
#[test]
fn item5_catch_fork_stops_and_the_detached_child_runs_clean() {
    catch_then_continue(
        "c_fork",
        "catch fork",
        &[
            r"Catchpoint \d+ \(forked process \d+\)",
            r"Detaching after fork from child process \d+",
            r"\[Inferior 1 \(process \d+\) exited normally\]",
        ],
        "child exited with 0",
    );
}

/// Issue 10 item 5: `catch vfork` stops at the vfork; once the child is gone, the parent hits
/// the breakpoint it shares no more with the child and ends.
#[test]
fn item5_catch_vfork_stops_and_the_parent_goes_on() {
    catch_then_continue(
        "c_vfork",
        "catch vfork",
        &[
            r"Catchpoint \d+ \(vforked process \d+\)",
            r"Breakpoint 1, work \(n=7\)",
        ],
        "vfork child exited with 7",
    );
}

/// `program` stopped at `work`, a catchpoint set, continued twice: the client shows `expect`,
/// no SIGTRAP or failure reply, and the program prints `printed`.
fn catch_then_continue(program: &str, catch: &str, expect: &[&str], printed: &str) {
    skip_on_lldb_server!();
    let t = stopped_at(&fixture(program), "work").cmds([catch, "continue", "continue"]);
    t.run_clean().expect(expect).expect_not(&[
        r"child killed by signal",
        r"SIGTRAP",
        r"Remote failure reply",
    ]);
    let out = program_output(&t.server);
    assert!(out.contains(printed), "{out}");
}

/// Issue 10 item 5: `set follow-fork-mode child` follows the child into the breakpoint it
/// inherited (`work (n=41)`); the parent is detached and runs to its end.
#[test]
fn item5_follow_fork_child_reaches_a_breakpoint_in_the_child() {
    skip_on_lldb_server!();
    stopped_at(&fixture("c_fork"), "work")
        .cmds([
            "set follow-fork-mode child",
            "continue",
            "backtrace",
            "continue",
        ])
        .run_clean()
        .expect(&[
            r"Attaching after .* fork to child",
            r"Detaching after fork from parent process \d+",
            r"Thread 2\.1 .*hit Breakpoint 1(\.\d+)?, work \(n=41\)",
            r"#1 .* in main \(\)",
            r"\[Inferior 2 \(process \d+\) exited normally\]",
        ])
        .expect_not(&[r"SIGTRAP", r"Remote failure reply"]);
}

/// Issue 10 item 5 (multiprocess): with `detach-on-fork off` both processes stay on the
/// connection: `info inferiors` shows two live processes and `info threads` a thread of each;
/// the child runs to its end while the parent is held, then the parent ends in turn.
#[test]
fn item5_detach_on_fork_off_keeps_both_processes() {
    skip_on_lldb_server!();
    let t = stopped_at(&fixture("c_fork"), "work").cmds([
        "set detach-on-fork off",
        "set follow-fork-mode child",
        "continue",
        "info inferiors",
        "info threads",
        "continue",
        "inferior 1",
        "continue",
    ]);
    let run = t.run_clean();
    run.expect(&[
        r"\[New inferior 2 \(process \d+\)\]",
        r"hit Breakpoint 1(\.\d+)?, work \(n=41\)",
        r"\[Inferior 2 \(process \d+\) exited normally\]",
        r"\[Inferior 1 \(process \d+\) exited normally\]",
    ])
    .expect_not(&[r"SIGTRAP", r"Remote failure reply"]);
    assert_eq!(
        run.count(r"(?m)^[ *] [12] +process \d+ "),
        2,
        "{}",
        run.all()
    );
    assert_eq!(
        run.count(r"(?m)^[ *] [12]\.1 +Thread \d+\.\d+ "),
        2,
        "{}",
        run.all()
    );
    let out = program_output(&t.server);
    assert!(out.contains("child exited with 0"), "{out}");
}

/// Issue 10 item 5 (never harm the debuggee): a held fork child that a client detaches without
/// taking its breakpoints out first (`D;PID`, no `z0` through the child) still holds the
/// stub's int3 in its copy of memory while held, and none once let go: it runs `work` clean
/// and the parent reports its exit status 0. (gostub only: gdbserver leaves the int3 to the
/// client's `z0`.)
#[test]
fn item5_held_child_detached_without_z0_loses_the_stubs_int3() {
    skip_unless_gostub!();
    let prog = fixture("c_fork");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let pid = server.inferior_pid();
    let work = symbol_addr(pid, &prog, "work");
    let mut rsp = Rsp::connect(&server);
    let t = Duration::from_secs(20);
    let features = rsp
        .request(
            "qSupported:multiprocess+;swbreak+;fork-events+;vfork-events+",
            t,
        )
        .unwrap();
    assert!(features.contains("fork-events+"), "{features}");
    rsp.request("?", t).unwrap();
    assert_eq!(rsp.request(&format!("Z0,{work:x},1"), t).unwrap(), "OK");
    let first = rsp.request("vCont;c", t).unwrap();
    assert!(first.contains("swbreak"), "{first}");
    // Over the breakpoint as gdb steps over one: out, one step, in again.
    assert_eq!(rsp.request(&format!("z0,{work:x},1"), t).unwrap(), "OK");
    rsp.request(&format!("vCont;s:p{pid:x}.{pid:x}"), t)
        .unwrap();
    assert_eq!(rsp.request(&format!("Z0,{work:x},1"), t).unwrap(), "OK");
    let fork = rsp.request("vCont;c", t).unwrap();
    let child = Regex::new(r"fork:p([0-9a-f]+)\.")
        .unwrap()
        .captures(&fork)
        .map(|c| i32::from_str_radix(&c[1], 16).unwrap())
        .unwrap_or_else(|| panic!("no fork stop: {fork}"));
    assert_ne!(child, pid);
    // The child is held with the parent's int3 in its copy of memory; reads hide it.
    assert_eq!(read_proc_mem(child, work, 1).unwrap(), vec![0xcc]);
    let through_child = rsp.request(&format!("Hgp{child:x}.{child:x}"), t).unwrap();
    assert_eq!(through_child, "OK");
    let shown = rsp.request(&format!("m{work:x},1"), t).unwrap();
    assert_ne!(shown, "cc", "the child's memory shows our int3");
    assert_eq!(rsp.request(&format!("D;{child:x}"), t).unwrap(), "OK");
    let end = rsp.request("vCont;c", t).unwrap();
    assert!(
        end.starts_with("W00"),
        "the parent saw the child fail: {end}"
    );
    let out = program_output(&server);
    assert!(out.contains("child exited with 0"), "{out}");
}

/// Issue 10 item 5 (a Go program; the goroutine view is gostub's): os/exec's vfork is a stop for `catch vfork`, and there the
/// goroutine view is the parent's (its four goroutines in `main.parked`, no thread of the held
/// child); the child is detached, runs `/bin/true`, and the parent goes on to `main.afterChild`
/// with its goroutines as they were.
#[test]
fn item5_go_program_vfork_keeps_the_parents_goroutine_view() {
    skip_unless_gostub!();
    let t = stopped_at(&go_fixture("forker", GO_NEWEST, "default"), "main.main").cmds([
        "catch vfork",
        "continue",
        "info threads",
        "delete 2",
        "break main.afterChild",
        "continue",
        "info threads",
        "continue",
    ]);
    let run = t.run_clean();
    run.expect(&[
        r"Catchpoint 2 \(vforked process \d+\), syscall\.rawVforkSyscall",
        r"Detaching after vfork from child process \d+",
        r"hit Breakpoint 3, main\.afterChild \(code=0",
        r"exited normally",
    ])
    .expect_not(&[r"SIGTRAP", r"Remote failure reply"]);
    // Both thread lists show the four parked goroutines, and no thread of another process.
    assert_eq!(
        run.count(r#"goroutine \d+ \[chan receive\] main\.parked""#),
        8,
        "{}",
        run.all()
    );
    let pid = t.server.inferior_pid();
    let foreign = Regex::new(r"Thread (\d+)\.").unwrap();
    for c in foreign.captures_iter(&run.all()) {
        assert_eq!(c[1].parse::<i32>().unwrap(), pid, "{}", run.all());
    }
    let out = program_output(&t.server);
    assert!(out.contains("child exited with 0"), "{out}");
}

/// Issue 10 item 5 (multiprocess, extended mode): `run` in a second inferior while the first
/// one's process is held starts a second process on the same connection (gdbserver's
/// multi-inferior); each inferior runs to its end on its own.
#[test]
fn item5_second_inferior_runs_beside_the_first() {
    skip_on_lldb_server!();
    let (first, second) = (fixture("c_vfork"), fixture("c_fork"));
    let server = Server::start(Mode::Multi);
    let run = Session::gdb()
        .file(&first)
        .cmd(format!("target extended-remote {}", server.addr()))
        .cmd(format!("set remote exec-file {}", first.display()))
        .cmds(["break work", "run", "add-inferior", "inferior 2"])
        .cmd(format!("set remote exec-file {}", second.display()))
        .cmd(format!("file {}", second.display()))
        .cmds([
            "run",
            "info inferiors",
            "continue",
            "inferior 1",
            "continue",
            "continue",
        ])
        .run();
    run.expect_finished()
        .expect(&[
            r"Thread 2\.1 .*hit Breakpoint 1(\.\d+)?, work \(n=0\)",
            r"\[Inferior 2 \(process \d+\) exited normally\]",
            r"Thread 1\.1 .*hit Breakpoint 1(\.\d+)?, work \(n=7\)",
            r"\[Inferior 1 \(process \d+\) exited normally\]",
        ])
        .expect_not(&[r"Remote failure reply", r"SIGTRAP"]);
    assert_eq!(
        run.count(r"(?m)^[ *] [12] +process \d+ "),
        2,
        "{}",
        run.all()
    );
    server.assert_no_panic();
}

/// Issue 10 item 5: following a vfork child that execs, gdb hears the child's new program
/// (`exec:` names the process that exec'd, not the first one) and stops at `catch exec` in it.
#[test]
fn item5_follow_vfork_child_into_its_exec() {
    skip_on_lldb_server!();
    let prog = fixture("c_vfork");
    let server = Server::start(Mode::Launch(&prog, &["/bin/true"]));
    Stopped::on(server, Client::Gdb, &prog, "work")
        .cmds([
            "set follow-fork-mode child",
            "catch exec",
            "continue",
            "info inferiors",
        ])
        .run_clean()
        .expect(&[
            r"Detaching vfork parent process \d+ after child exec",
            r"process \d+ is executing new program: /(usr/)?bin/true",
            r"Catchpoint \d+ \(exec'd /(usr/)?bin/true\)",
        ])
        .expect_not(&[r"new program: \S*c_vfork", r"Remote failure reply"]);
}
