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
