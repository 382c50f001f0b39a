//! Protocol features of gdbserver that GDB's own testsuite relies on (issue 10): thread-local
//! variables (item 3), `info os` (item 10), gdbserver's launch-failure lines (item 10) and
//! fork/exec events (item 5), each checked through real gdb as the testsuite uses it.

use gostub_tests::*;

/// Item 3: `qGetTLSAddr` gives each thread its own copy of a `__thread` variable in the program
/// (initialised and zero-initialised), in a library linked at startup (static TLS) and in a
/// dlopened library (dynamic TLS, through the thread's dtv).
#[test]
fn item3_tls_variables_of_each_thread() {
    skip_on_lldb_server!();
    let vars = ["main_tls", "main_tls_bss", "lib_tls", "dl_tls"];
    let mut cmds: Vec<String> = vars.iter().map(|v| format!("print {v}")).collect();
    cmds.push("thread 2".into());
    cmds.extend(vars.iter().map(|v| format!("print {v}")));
    let run = stopped_at(&fixture("c_tls"), "tls_ready")
        .cmds(cmds)
        .run_clean();
    let values: Vec<String> = Regex::new(r"(?m)^\$\d+ = (\d+)$")
        .unwrap()
        .captures_iter(&run.all())
        .map(|c| c[1].to_string())
        .collect();
    assert_eq!(
        values,
        ["11", "1", "2", "3", "101", "201", "301", "401"],
        "{}",
        run.all()
    );
}

/// Item 3 in a statically linked program (gdb.threads/staticthreads.exp): gdb names the
/// program's TLS with link map 0, since it has none; each thread's copy is its dtv's module 1,
/// as gdbserver's libthread_db gives it.
#[test]
fn item3_tls_of_a_static_program() {
    skip_on_lldb_server!();
    let run = stopped_at(&fixture("c_tls_static"), "tls_ready")
        .cmds(["print static_tls", "thread 2", "print static_tls"])
        .run_clean();
    run.expect(&[r"\$1 = 22\n", r"\$2 = 101\n"]);
}

/// Item 10 (`qXfer:osdata`): `info os` lists gdbserver's table types, and the process, thread
/// and file tables show the program, as GDB's gdb.base/info-os.exp reads them.
#[test]
fn item10_info_os_lists_the_program() {
    skip_on_lldb_server!();
    let run = stopped_at(&fixture("c_tls"), "tls_ready")
        .cmds([
            "info os",
            "info os processes",
            "info os threads",
            "info os files",
            "info os procgroups",
            "info os unknown_entry",
        ])
        .run_clean();
    run.expect(&[
        r"(?m)^Type +Description",
        r"(?m)^processes +Listing of all processes",
        r"(?m)^sockets +Listing of all internet-domain sockets",
        r"(?m)^\d+ +\S+ +\S*/c_tls +[0-9,]+",
        // The program leads its own process group, as under gdbserver.
        r"(?m)^\d+ +c_tls +\d+ +\S*/c_tls ",
        r"Wrong osdata type\?",
        r"Can not fetch data now\.",
    ]);
    // Both threads of the program, and its standard input among its open files.
    assert!(
        run.count(r"(?m)^\d+ +c_tls +\d+ +\d+") >= 2,
        "{}",
        run.all()
    );
    assert!(run.count(r"(?m)^\d+ +c_tls +0 +\S+") >= 1, "{}", run.all());
}

/// Item 3, as gdb.server/no-thread-db.exp checks it: while `libthread-db-search-path` finds no
/// libthread_db, TLS variables are refused (gdbserver cannot read them then); the default path
/// gives them back. gostub only: gdbserver keeps a libthread_db it loaded before the path was
/// set (here, at the thread library's load), where gostub applies the path at once.
#[test]
fn item3_tls_refused_while_no_libthread_db_is_found() {
    skip_unless_gostub!();
    stopped_at(&fixture("c_tls"), "tls_ready")
        .cmds([
            "monitor set libthread-db-search-path /foo/bar",
            "print main_tls",
            "monitor set libthread-db-search-path",
            "print main_tls",
        ])
        .run_clean()
        .expect(&[
            r"libthread-db-search-path set to `/foo/bar'",
            r"Cannot find thread-local storage for Thread [^,]+, executable file \S*c_tls:\s+Remote target failed to process qGetTLSAddr request",
            r"libthread-db-search-path set to `\$sdir:\$pdir'",
            r"(?m)^\$1 = 11$",
        ]);
}

/// The server's stderr and exit status when it is started on `program` over stdio in `dir`, as
/// gdb.server/non-existing-program.exp starts it.
fn start_failure(dir: &TempDir, program: &str) -> (String, Option<i32>) {
    let (bin, args) = server_command(&Mode::Launch(std::path::Path::new(program), &[]), "stdio");
    let out = std::process::Command::new(bin)
        .args(args)
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the server");
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

/// Item 10 (the exec-failure message): a program that cannot be executed gets gdbserver's lines
/// (its default startup-with-shell form: the shell's words, then "During startup program exited
/// with code N." and "Exiting"), with execvp's errno carried back from the child, and the
/// server exits with status 1.
#[test]
fn item10_exec_failure_message_is_gdbservers() {
    skip_on_lldb_server!();
    let dir = TempDir::new("execfail");
    let (err, code) = start_failure(&dir, "non-existing-program");
    assert_eq!(code, Some(1), "{err}");
    let missing = Regex::new(
        r"(?s)^stdin/stdout redirected\n.*exec: non-existing-program: not found\nDuring startup program exited with code 127\.\nExiting\n$",
    )
    .unwrap();
    assert!(missing.is_match(&err), "{err}");
    let text = dir.path().join("notexec");
    std::fs::write(&text, "not a program\n").unwrap();
    let (err, code) = start_failure(&dir, &text.display().to_string());
    assert_eq!(code, Some(1), "{err}");
    let denied = Regex::new(
        r"(?s)exec: \S*notexec: cannot execute: Permission denied\nDuring startup program exited with code 126\.\nExiting\n$",
    )
    .unwrap();
    assert!(denied.is_match(&err), "{err}");
}

/// Item 5 (exec events): an exec is reported as gdbserver reports it to a client that offered
/// `exec-events+` (`T05exec:…`), so `catch exec` stops there, gdb loads the new program and its
/// breakpoints are planted in the new image (none of the old image's is left in it), and the
/// program runs to its end.
#[test]
fn item5_exec_event_follows_the_new_program() {
    skip_on_lldb_server!();
    stopped_at(&fixture("c_exec"), "before_exec")
        .cmds([
            "catch exec",
            "break after_exec",
            "continue",
            "info threads",
            "continue",
            "backtrace",
            "delete",
            "continue",
        ])
        .run_clean()
        .expect(&[
            r"process \d+ is executing new program: \S*c_exec",
            r"Catchpoint \d+ \(exec'd \S*c_exec\)",
            r"hit Breakpoint \d+, after_exec \(n=21\)",
            r"#1 .* in main \(argc=2,",
            r"exited normally",
        ])
        .expect_not(&[r"Remote failure reply", r"SIGTRAP"]);
}
