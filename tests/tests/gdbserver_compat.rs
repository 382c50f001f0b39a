//! gdbserver's command line and monitor commands, as GDB's testsuite boards use them (issue 10,
//! items 11 and 6): each option is accepted with gdbserver's meaning or as a documented no-op.

use gostub_tests::*;

/// Item 11: `--wrapper WRAPPER --` starts the program through the wrapper, and the stop gdb sees
/// is the program's, not the wrapper's.
#[test]
fn item11_wrapper_starts_the_program_through_it() {
    skip_on_lldb_server!();
    let prog = fixture("c_exit");
    let server = Server::start_with(
        &["--wrapper", "env", "GOSTUB_WRAPPED=yes", "--"],
        Mode::Launch(&prog, &[]),
    );
    let pid = server.inferior_pid();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    assert!(
        String::from_utf8_lossy(&environ).contains("GOSTUB_WRAPPED=yes"),
        "the wrapper did not set the environment"
    );
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("exe");
    assert_eq!(exe, prog.canonicalize().unwrap(), "stopped in the wrapper");
    Session::gdb()
        .file(&prog)
        .connect(&server)
        .continue_to("before_exit")
        .cmd("continue")
        .run()
        .expect_finished()
        .expect(&[r"Breakpoint 1, .*before_exit", r"exited with code 07"]);
    server.assert_no_panic();
}

/// Item 11: gdbserver's debug, packet and startup options are accepted; `--remote-debug` with
/// `--debug-file` logs the packets to the file.
#[test]
fn item11_gdbserver_options_are_accepted() {
    skip_unless_gostub!();
    let prog = fixture("c_exit");
    let dir = TempDir::new("debug-file");
    let log = dir.path().join("debug.log");
    let log_opt = format!("--debug-file={}", log.display());
    let server = Server::start_with(
        &[
            "--disable-packet=qC,threads",
            "--debug",
            "--remote-debug",
            "--event-loop-debug",
            "--debug-format=all",
            &log_opt,
            "--no-startup-with-shell",
            "--disable-randomization",
        ],
        Mode::Launch(&prog, &[]),
    );
    Session::gdb()
        .file(&prog)
        .connect(&server)
        .continue_to("before_exit")
        .cmd("continue")
        .run()
        .expect_finished()
        .expect(&[r"exited with code 07"]);
    let text = std::fs::read_to_string(&log).expect("debug file");
    assert!(
        text.contains("qSupported"),
        "no packets in the debug file:\n{text}"
    );
}

/// Item 11: `--selftest` needs no COMM and prints gdbserver's summary line.
#[test]
fn item11_selftest_prints_the_summary() {
    skip_unless_gostub!();
    let (bin, _) = server_command(&Mode::Multi, ":1");
    let out = std::process::Command::new(bin)
        .arg("--selftest")
        .output()
        .expect("run gostub --selftest");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Ran 0 unit tests, 0 failed"));
}

/// Item 6: gdbserver's monitor commands, in gdbserver's words, and `help` listing both sets.
#[test]
fn item6_gdbserver_monitor_commands() {
    skip_on_lldb_server!();
    stopped_at(&fixture("c_exit"), "before_exit")
        .cmds([
            "monitor help",
            "monitor set debug 1",
            "monitor set debug 0",
            "monitor set remote-debug 1",
            "monitor set debug-format all",
            "monitor set debug-format none",
            "monitor set libthread-db-search-path /nowhere",
            "monitor",
            "monitor no-such-command",
            "monitor exit",
        ])
        .run()
        .expect(&[
            // gdb.server/server-mon.exp: an unknown or empty command, as gdbserver answers it.
            r"(?s)Unknown monitor command\..*Protocol error with Rcmd.*Unknown monitor command\..*Protocol error with Rcmd",
            r"The following monitor commands are supported:",
            r"exit",
            r"Debug output enabled\.",
            r"Debug output disabled\.",
            r"Protocol debug output enabled\.",
            r"All extra debug format options enabled\.",
            r"All extra debug format options disabled\.",
        ]);
}
