//! lldb-19 through the stub, and the scenarios both clients share.

use gostub_tests::*;
use std::time::Duration;

/// One scenario, written once for both clients: the commands and the
/// regexes each client's output must match.
struct Row {
    client: Client,
    cmds: &'static [&'static str],
    expect: &'static [&'static str],
}

fn run_rows(prog: &std::path::Path, rows: &[Row]) {
    for row in rows {
        if row.client == Client::Lldb && server_kind() == ServerKind::Gdbserver {
            eprintln!("SKIPPED lldb row: lldb 19 cannot use gdbserver 13");
            continue;
        }
        if row.client == Client::Gdb && server_kind() == ServerKind::LldbServer {
            eprintln!("SKIPPED gdb row: gdb 13 cannot use lldb-server");
            continue;
        }
        let server = Server::start(Mode::Launch(prog, &[]));
        let run = Session::new(row.client)
            .file(prog)
            .connect(&server)
            .cmds(row.cmds.iter().copied())
            .run();
        run.expect_finished().expect(row.expect);
        server.assert_no_panic();
    }
}

#[test]
fn both_clients_break_bt_registers_threads() {
    let prog = fixture("threads_lib");
    run_rows(
        &prog,
        &[
            Row {
                client: Client::Gdb,
                cmds: &[
                    "break all_started",
                    "continue",
                    "break hot_function",
                    "continue",
                    "bt",
                    "info registers rip fs_base",
                    "p/x $xmm0.uint128",
                    "x/1xw &marker",
                    "info threads",
                ],
                expect: &[
                    r"hit Breakpoint 2, hot_function \(i=\d+\)",
                    r"#1\s+0x[0-9a-f]+ in worker",
                    r"(?m)^rip\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <hot_function\+\d+>",
                    r"(?m)^fs_base\s+0x[1-9a-f][0-9a-f]+",
                    r"\$1 = 0x[0-9a-f]+",
                    r"<marker>:\s+0x12345678",
                    r"(?s)(\s+\d+\s+Thread .*){5}",
                ],
            },
            Row {
                client: Client::Lldb,
                cmds: &[
                    "breakpoint set -n all_started",
                    "continue",
                    "breakpoint set -n hot_function",
                    "continue",
                    "bt",
                    "register read rip fs_base xmm0",
                    "memory read --size 4 --format x --count 1 &marker",
                    "thread list",
                ],
                expect: &[
                    r"stop reason = breakpoint 2\.1",
                    r"frame #0: 0x[0-9a-f]+ threads_lib`hot_function\(i=\d+\) at threads_lib\.c:30",
                    r"frame #1: 0x[0-9a-f]+ threads_lib`worker\(arg=",
                    r"rip = 0x[0-9a-f]+\s+threads_lib`hot_function \+ \d+",
                    r"fs_base = 0x0*[1-9a-f][0-9a-f]*",
                    r"xmm0 = \{(0x[0-9a-f]{2} ?){16}\}",
                    r"0x[0-9a-f]+: 0x12345678",
                    r"(?s)(thread #\d+: tid = \d+.*){5}",
                ],
            },
        ],
    );
}

#[test]
fn both_clients_step_next_and_exit_code() {
    let prog = fixture("c_exit");
    run_rows(
        &prog,
        &[
            Row {
                client: Client::Gdb,
                cmds: &["break before_exit", "continue", "next", "stepi", "continue"],
                expect: &[
                    r"Breakpoint 1, before_exit \(code=7\)",
                    r"(?m)^8\s+fflush\(stdout\);",
                    r"exited with code 07",
                ],
            },
            Row {
                client: Client::Lldb,
                cmds: &[
                    "breakpoint set -n before_exit",
                    "continue",
                    "next",
                    "thread step-inst",
                    "continue",
                ],
                expect: &[
                    r"stop reason = breakpoint 1\.1",
                    r"c_exit`before_exit\(code=7\) at c_exit\.c:7",
                    r"stop reason = step over",
                    r"c_exit`before_exit\(code=7\) at c_exit\.c:8",
                    r"stop reason = instruction step into",
                    r"exited with status = 7",
                ],
            },
        ],
    );
}

#[test]
fn lldb_step_into_and_finish() {
    skip_on_gdbserver!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let run = Stopped::on(server, Client::Lldb, &prog, "all_started")
        .cmds([
            "breakpoint delete",
            "breakpoint set -n hot_function",
            "continue",
            "breakpoint delete",
            "step",
            "step",
            "finish",
            "register read rax",
        ])
        .run();
    run.expect_finished().expect(&[
        r"stop reason = breakpoint 2\.1",
        r"threads_lib`hot_function\(i=\d+\) at threads_lib\.c:31",
        r"stop reason = step out",
        r"threads_lib`worker\(arg=0x[0-9a-f]+\) at threads_lib\.c:4[56]",
        r"rax = 0x[0-9a-f]+",
    ]);
}

#[test]
fn lldb_attach_detach_leaves_clean_text() {
    skip_on_gdbserver!();
    let prog = fixture("threads_lib");
    let mut fx = Fixture::start(&prog, &[], true);
    let pid = fx.pid();
    let server = Server::start(Mode::Attach(pid));
    let hot = symbol_addr(pid, &prog, "hot_function");
    let t =
        Stopped::on(server, Client::Lldb, &prog, "hot_function").cmds(["bt 2", "process detach"]);
    let run = t.run();
    run.expect_finished().expect(&[
        r"stop reason = breakpoint 1\.1",
        r"frame #1: 0x[0-9a-f]+ threads_lib`worker",
        &format!(r"Process {pid} detached"),
    ]);
    assert!(
        wait_until(Duration::from_secs(10), || tracer_pid(pid) == Some(0)),
        "still traced"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        fx.proc.running(),
        "program died after lldb detached (pc left mid-instruction or int3?)"
    );
    assert_text_clean(pid, hot, 32);
}

#[test]
fn lldb_process_kill() {
    skip_on_gdbserver!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let pid = server.inferior_pid();
    let mut t = Stopped::on(server, Client::Lldb, &prog, "hot_function").cmd("process kill");
    let run = t.run();
    run.expect_finished().expect(&[
        r"stop reason = breakpoint 1\.1",
        r"Process \d+ exited with status = \d+ \(0x[0-9a-f]+\)|exited with status = -1",
    ]);
    assert!(
        wait_until(Duration::from_secs(10), || !pid_alive(pid)),
        "process kill left {pid} alive"
    );
    let _ = t.server.proc.wait_exit(Duration::from_secs(10));
    t.server.assert_no_panic();
}

/// qHostInfo / qProcessInfo: lldb learns the triple and the real pid.
#[test]
fn lldb_process_info() {
    skip_on_gdbserver!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let pid = server.inferior_pid();
    let run = Session::lldb()
        .connect(&server)
        .cmds(["process status", "target list", "image list"])
        .run();
    run.expect_finished().expect(&[
        &format!(r"Process {pid} stopped"),
        r"arch=x86_64-.*-linux",
        r"threads_lib",
        r"ld-linux-x86-64\.so\.2",
    ]);
}

#[test]
fn lldb_monitor_help() {
    skip_unless_gostub!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let run = Session::lldb()
        .file(&prog)
        .connect(&server)
        .cmd("process plugin packet monitor help")
        .run();
    run.expect_finished()
        .expect(&[r"(?i)goroutines", r"(?i)help"]);
}

#[test]
fn gdb_monitor_help() {
    skip_unless_gostub!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("monitor help")
        .run();
    run.expect_finished()
        .expect(&[r"(?i)goroutines", r"(?i)help"])
        .expect_not(&[r"not supported|Unknown monitor"]);
}

/// Issue 10 item 5 (exec events, lldb): after an exec the stop reply carries `reason:exec;`, as
/// lldb-server's does, so lldb stops with "stop reason = exec", reloads the program, resolves
/// its breakpoint in the new image and runs to its end (it used to take the stop for a SIGTRAP
/// at `_start`).
#[test]
fn item5_lldb_follows_an_exec() {
    skip_on_gdbserver!();
    let prog = fixture("c_exec");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let run = Stopped::on(server, Client::Lldb, &prog, "before_exec")
        .cmds([
            "breakpoint delete",
            "breakpoint set -n after_exec",
            "continue",
            "continue",
            "bt 2",
            "breakpoint delete",
            "continue",
        ])
        .run_clean();
    run.expect(&[
        r"stop reason = exec",
        r"(?s)stop reason = exec.*stop reason = breakpoint 2\.1",
        r"frame #0: 0x[0-9a-f]+ c_exec`after_exec\(n=21\) at c_exec\.c:16",
        r"frame #1: 0x[0-9a-f]+ c_exec`main\(argc=2,",
        r"exited with status = 0 ",
    ]);
    run.expect_not(&[r"SIGTRAP"]);
}
