//! Launch, --attach, stdio, disconnect semantics and --multi (extended-remote).

use gostub_tests::*;
use std::time::Duration;

fn threads_lib() -> std::path::PathBuf {
    fixture("threads_lib")
}

#[test]
fn launch_stops_at_first_instruction_then_breaks() {
    skip_on_lldb_server!();
    let prog = threads_lib();
    let server = Server::start(Mode::Launch(&prog, &[]));
    let pid = server.inferior_pid();
    // Stopped at the first instruction: traced, stopped, only one thread.
    assert_eq!(
        thread_count(pid),
        1,
        "launched program should not have run yet"
    );
    assert!(
        matches!(proc_state(pid), Some('t') | Some('T')),
        "launched program is not stopped: {:?}",
        proc_state(pid)
    );
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("printf \"PC0=%#lx\\n\", $pc")
        .cmd("info auxv")
        .continue_to("hot_function")
        .cmd("bt")
        .run();
    run.expect_finished().expect(&[
        r"in _start \(\) from .*ld-linux-x86-64\.so\.2",
        r"AT_ENTRY\s+Entry point of program\s+0x[0-9a-f]+",
        r"Breakpoint 1 at 0x[0-9a-f]+: file .*threads_lib\.c",
        r"hit Breakpoint 1, hot_function \(i=\d+\) at .*threads_lib\.c:\d+",
        r"#1\s+0x[0-9a-f]+ in worker \(arg=",
    ]);
    // The first pc is ld.so's entry, which is what AT_BASE + e_entry(ld.so) is;
    // at least it must not be the program's entry.
    let pc0 = run.capture_hex(r"PC0=(0x[0-9a-f]+)");
    let entry = run.capture_hex(r"AT_ENTRY\s+Entry point of program\s+(0x[0-9a-f]+)");
    assert_ne!(
        pc0, entry,
        "dynamically linked program should start in ld.so"
    );
    server.assert_no_panic();
}

#[test]
fn launch_accepts_dash_dash_and_program_args() {
    skip_on_lldb_server!();
    let prog = fixture("c_exit");
    let server = Server::start(Mode::LaunchDashDash(&prog, &[]));
    Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("continue")
        .run()
        .expect_finished()
        .expect(&[r"exited with code 07"]);
}

#[test]
fn launch_passes_arguments() {
    skip_on_lldb_server!();
    // threads_lib 1 exits 0 after one second: the argument must reach it.
    let prog = threads_lib();
    let server = Server::start(Mode::Launch(&prog, &["1"]));
    Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("continue")
        .run()
        .expect_finished()
        .expect(&[r"\[Inferior 1 \(process \d+\) exited normally\]"]);
}

#[test]
fn attach_breaks_and_detach_leaves_process_running_and_clean() {
    skip_on_lldb_server!();
    let prog = threads_lib();
    let mut fx = Fixture::start(&prog, &[], true);
    let pid = fx.pid();
    let server = Server::start(Mode::Attach(pid));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("info threads")
        .continue_to("hot_function")
        .cmd("printf \"BP=%#lx\\n\", $pc")
        .cmd("bt")
        .cmd("detach")
        .run();
    run.expect_finished().expect(&[
        r"hit Breakpoint 1, hot_function",
        r"#1\s+0x[0-9a-f]+ in worker",
        &format!(r"\[Inferior 1 \(process {pid}\) detached\]"),
    ]);
    let bp = run.capture_hex(r"BP=(0x[0-9a-f]+)");
    let func = symbol_addr(pid, &prog, "hot_function");
    assert!(
        bp >= func && bp < func + 32,
        "breakpoint pc {bp:#x} not in hot_function at {func:#x}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || tracer_pid(pid) == Some(0)),
        "still traced after detach"
    );
    assert!(fx.proc.running(), "attached process died");
    // Running again: counter moves (the state is not a stop).
    assert!(wait_until(Duration::from_secs(5), || matches!(
        proc_state(pid),
        Some('S') | Some('R')
    )));
    assert_text_clean(pid, bp, 16);
}

#[test]
fn stdio_pipe_transport() {
    skip_on_lldb_server!();
    let prog = threads_lib();
    let (server_prog, args) = server_command(&Mode::Launch(&prog, &[]), "-");
    let pipe = format!(
        "target remote | {} {}",
        server_prog.display(),
        args.join(" ")
    );
    Session::gdb()
        .file(&prog)
        .cmd(pipe)
        .continue_to("hot_function")
        .cmd("bt 2")
        .cmd("info threads")
        .run()
        .expect_finished()
        .expect(&[
            r"hit Breakpoint 1, hot_function",
            r"#1\s+0x[0-9a-f]+ in worker",
        ]);
}

#[test]
fn disconnect_kills_launched_process() {
    skip_on_lldb_server!();
    let prog = threads_lib();
    let mut t = stopped_at(&prog, "hot_function");
    let pid = t.server.inferior_pid();
    // gdb's quit at the end of a batch run disconnects.
    t.run()
        .expect_finished()
        .expect(&[r"hit Breakpoint 1, hot_function"]);
    assert!(
        wait_until(Duration::from_secs(10), || !pid_alive(pid)),
        "launched process {pid} survived the client's disconnect\n{}",
        t.server.log()
    );
    assert!(
        t.server.proc.wait_exit(Duration::from_secs(10)).is_some(),
        "server (not --multi) should exit after its client disconnects\n{}",
        t.server.log()
    );
    t.server.assert_no_panic();
}

#[test]
fn disconnect_detaches_attached_process() {
    skip_on_lldb_server!();
    let prog = threads_lib();
    let mut fx = Fixture::start(&prog, &[], true);
    let pid = fx.pid();
    let server = Server::start(Mode::Attach(pid));
    let mut t =
        Stopped::on(server, Client::Gdb, &prog, "hot_function").cmd("printf \"BP=%#lx\\n\", $pc");
    let run = t.run();
    run.expect_finished()
        .expect(&[r"hit Breakpoint 1, hot_function"]);
    let bp = run.capture_hex(r"BP=(0x[0-9a-f]+)");
    assert!(
        wait_until(Duration::from_secs(10), || tracer_pid(pid) == Some(0)),
        "attached process still traced after the client left\n{}",
        t.server.log()
    );
    assert!(
        fx.proc.running(),
        "attached process was killed on disconnect"
    );
    assert_text_clean(pid, bp, 16);
    assert!(
        t.server.proc.wait_exit(Duration::from_secs(10)).is_some(),
        "server should exit"
    );
}

#[test]
fn multi_run_kill_run_again_and_attach() {
    skip_on_lldb_server!();
    let prog = threads_lib();
    let mut server = Server::start(Mode::Multi);
    let mut fx = Fixture::start(&prog, &[], true);
    let pid = fx.pid();
    let run = Session::gdb()
        .file(&prog)
        .cmd(format!("target extended-remote {}", server.addr()))
        .cmd(format!("set remote exec-file {}", prog.display()))
        .cmd("break hot_function")
        .cmd("run")
        .cmd("bt 2")
        .cmd("info inferiors")
        .cmd("kill")
        .cmd("echo KILLED-1\\n")
        .cmd("run")
        .cmd("echo RUN-2\\n")
        .cmd("kill")
        .cmd("echo KILLED-2\\n")
        .cmd("delete")
        .cmd(format!("attach {pid}"))
        .cmd("info threads")
        .cmd("detach")
        .run();
    run.expect_finished().expect(&[
        r"(?s)hit Breakpoint 1, hot_function.*#1\s+0x[0-9a-f]+ in worker.*KILLED-1.*hit Breakpoint 1, hot_function.*RUN-2.*KILLED-2",
        &format!(r"(?m)^\*\s+\d+\s+Thread {pid}\.{pid} "),
        &format!(r"\[Inferior 1 \(process {pid}\) detached\]"),
    ]);
    assert_eq!(
        run.count(r"hit Breakpoint 1, hot_function"),
        2,
        "{}",
        run.all()
    );
    assert_eq!(
        run.count(&format!(r"(?m)^\*?\s+\d+\s+Thread {pid}\.\d+ ")),
        5,
        "{}",
        run.all()
    );
    assert!(fx.proc.running(), "attached process died");
    assert!(wait_until(Duration::from_secs(5), || tracer_pid(pid) == Some(0)));
    // --multi keeps serving after the client leaves: a second session works.
    assert!(
        server.running(),
        "--multi server exited after a client left\n{}",
        server.log()
    );
    Session::gdb()
        .file(&prog)
        .cmd(format!("target extended-remote {}", server.addr()))
        .cmd(format!("set remote exec-file {}", prog.display()))
        .cmd("break hot_function")
        .cmd("run")
        .cmd("kill")
        .run()
        .expect_finished()
        .expect(&[r"hit Breakpoint 1, hot_function"])
        .expect_not(&[r"Connection refused"]);
    server.assert_no_panic();
}

/// gdb in extended mode on `server`, `prog` the remote exec-file, run to `main` with `run`.
fn extended_run_to_main(prog: &std::path::Path, server: &Server, run: &str) -> Session {
    Session::gdb()
        .file(prog)
        .cmd(format!("target extended-remote {}", server.addr()))
        .cmd(format!("set remote exec-file {}", prog.display()))
        .cmd("break main")
        .cmd(run)
}

/// Item 9 (issue 10): `R` (gdb's `run` without vRun) restarts the program in extended mode with
/// the same arguments, and has no reply, so the session goes on in step.
#[test]
fn restart_packet_runs_the_program_again_with_its_arguments() {
    skip_on_lldb_server!();
    let prog = threads_lib();
    let server = Server::start(Mode::Multi);
    let run = extended_run_to_main(&prog, &server, "run 0 usr1")
        .cmd("print argc")
        .cmd("set remote run-packet off")
        .cmd("set remote exec-file")
        .cmd("set args")
        .cmd("run")
        .cmd("print argc")
        .cmd("kill")
        .run();
    run.expect_finished()
        .expect(&[r"(?s)Breakpoint 1, main .*\$1 = 3.*Breakpoint 1, main .*\$2 = 3"]);
    assert_eq!(run.count(r"Breakpoint 1, main "), 2, "{}", run.all());
    run.expect_not(&[r"Remote replied unexpectedly", r"Ignoring packet error"]);
    server.assert_no_panic();
}

/// Item 10 (issue 10): `vRun` keeps empty arguments (`run '' x` is three words of argv).
#[test]
fn vrun_keeps_empty_arguments() {
    skip_on_lldb_server!();
    let prog = threads_lib();
    let server = Server::start(Mode::Multi);
    let run = extended_run_to_main(&prog, &server, "run '' x")
        .cmd("print argc")
        .cmd("print argv[1][0]")
        .cmd("print argv[2]")
        .cmd("kill")
        .run();
    run.expect_finished()
        .expect(&[r"\$1 = 3", r"\$2 = 0 '\\000'", r#"\$3 = 0x[0-9a-f]+ "x""#]);
    server.assert_no_panic();
}

/// Item 10 (issue 10): in extended mode the connection outlives the process, also when the
/// stub was started with a program rather than `--multi`: `run` works after the exit.
#[test]
fn extended_mode_connection_survives_the_exit() {
    skip_on_lldb_server!();
    let prog = fixture("c_exit");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let run = Session::gdb()
        .file(&prog)
        .cmd(format!("target extended-remote {}", server.addr()))
        .cmd(format!("set remote exec-file {}", prog.display()))
        .cmd("continue")
        .cmd("run")
        .run();
    run.expect_finished()
        .expect_not(&[r"Remote connection closed"]);
    assert_eq!(run.count(r"exited with code 07\]"), 2, "{}", run.all());
    server.assert_no_panic();
}

/// Item 10 (issue 10): attaching to the process already held fails, as with gdbserver, and the
/// first attach stays intact.
#[test]
fn attach_twice_to_the_same_pid_fails() {
    skip_on_lldb_server!();
    let prog = threads_lib();
    let server = Server::start(Mode::Multi);
    let mut fx = Fixture::start(&prog, &[], true);
    let pid = fx.pid();
    let run = Session::gdb()
        .file(&prog)
        .cmd(format!("target extended-remote {}", server.addr()))
        .cmd(format!("attach {pid}"))
        .cmd("add-inferior")
        .cmd("inferior 2")
        .cmd(format!("attach {pid}"))
        .cmd("info inferiors")
        .cmd("inferior 1")
        .cmd("detach")
        .run();
    run.expect_finished().expect(&[
        &format!(r"Attaching to process {pid} failed"),
        &format!(r"(?m)^\s+1\s+process {pid} "),
        &format!(r"\[Inferior 1 \(process {pid}\) detached\]"),
    ]);
    assert!(fx.proc.running(), "attached process died");
    server.assert_no_panic();
}

/// Issue 10 (gdb.base/attach.exp, extended board): after one attached process exited, `attach`
/// to another with no program file loaded. gdb takes the thread the attach reply names as selected and
/// reads its registers without an `H`; they used to be asked of a thread of the process before
/// ("Could not read registers; remote failure reply 'E03'").
#[test]
fn issue10_attach_after_another_process_reads_the_new_threads_registers() {
    skip_on_lldb_server!();
    let prog = threads_lib();
    let server = Server::start(Mode::Multi);
    // The first exits by itself after a second.
    let first = Fixture::start(&prog, &["1"], true);
    let second = Fixture::start(&prog, &[], true);
    let (a, b) = (first.pid(), second.pid());
    let run = Session::gdb()
        .cmd(format!("target extended-remote {}", server.addr()))
        .cmd(format!("attach {a}"))
        .cmd("continue")
        .cmd("symbol-file")
        .cmd("exec")
        .cmd(format!("attach {b}"))
        .cmd("p/x $pc")
        .cmd("detach")
        .run();
    run.expect_finished()
        .expect(&[
            r"\$1 = 0x[0-9a-f]+",
            &format!(r"\[Inferior 1 \(process {b}\) detached\]"),
        ])
        .expect_not(&[r"Could not read registers"]);
    server.assert_no_panic();
}
