//! gdbserver's command line and monitor commands, as GDB's testsuite boards use them (issue 10,
//! items 11 and 6): each option is accepted with gdbserver's meaning or as a documented no-op.

use gostub_tests::*;
use std::time::Duration;

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

/// Issue 10 item 10 (gdb.base/interrupt.exp): on a terminal, the launched program's process
/// group is the terminal's foreground group, as gdbserver makes it, so the program reads the
/// terminal instead of stopping with SIGTTIN. The server runs on a pty (`script`).
#[test]
fn item10_launched_program_gets_the_terminal() {
    skip_on_lldb_server!();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let check = "set -- $(cat /proc/$$/stat); \
                 if [ \"$5\" = \"$8\" ]; then echo FOREGROUND; else echo BACKGROUND; fi";
    let sh = std::path::Path::new("/bin/sh");
    let (prog, args) = server_command(&Mode::Launch(sh, &["-c", check]), &format!(":{port}"));
    let quoted: Vec<String> = std::iter::once(prog.display().to_string())
        .chain(args)
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let dir = TempDir::new("pty");
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &quoted.join(" "), "/dev/null"])
        .stdin(std::process::Stdio::piped());
    let mut pty = Proc::spawn(script, dir.path(), "script", Duration::from_secs(60));
    assert!(
        wait_until(Duration::from_secs(20), || pty
            .stdout_text()
            .contains("Listening on port")),
        "server did not start: {}",
        pty.stdout_text()
    );
    let run = Session::gdb()
        .cmd(format!("target remote 127.0.0.1:{port}"))
        .cmd("continue")
        .run();
    run.expect_finished().expect(&[r"exited normally"]);
    let _ = pty.wait_exit(Duration::from_secs(10));
    let out = pty.stdout_text();
    assert!(out.contains("FOREGROUND"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
}
