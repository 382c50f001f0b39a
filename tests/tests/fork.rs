//! A program that forks while breakpoints are inserted: the child's copy of memory must not keep
//! the stub's int3 bytes (it would die of SIGTRAP), and the parent's session goes on.

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
