//! Hardware watchpoints as gdb's testsuite exercises them (issue 10 item 2): a hit during a
//! single step or a range step, read watchpoints on x86, and ranges longer than one debug
//! register.

use gostub_tests::*;

/// Item 2: a watched write made by the instruction gdb single-steps (`stepi`), or inside the
/// line it range-steps (`next`), is reported as the watchpoint, with its old and new value.
/// The stop used to be a plain T05, which gdb takes as the end of the step.
#[test]
fn item2_watch_hit_during_step_and_range_step_is_reported() {
    skip_on_lldb_server!();
    // Stopped at writer_step(1) after its prologue: the store to `watched` is the second
    // instruction; then breakpoint 1 stops writer_step(2) before its store.
    let t = stopped_at(&fixture("c_watch"), "writer_step")
        .cmd("watch watched")
        .cmd("echo ==STEPI==\\n")
        .repeat(4, &["stepi"])
        .cmd("continue")
        .cmd("echo ==NEXT==\\n")
        .cmd("next");
    let run = t.run();
    run.expect_finished().expect(&[
        r"(?s)==STEPI==.*Hardware watchpoint 2: watched\s+Old value = 0\s+New value = 1.*==NEXT==",
        r"(?s)Breakpoint 1, writer_step \(i=2\).*==NEXT==",
        r"(?s)==NEXT==.*Hardware watchpoint 2: watched\s+Old value = 1\s+New value = 2",
    ]);
    run.expect_not(&[r"SIGTRAP"]);
    t.server.assert_no_panic();
}

/// Item 2: x86 cannot watch reads alone, and `Z3` is unsupported, as with gdbserver: gdb then
/// sets an access watchpoint (`Z4`) for `rwatch` and still reports the read.
#[test]
fn item2_read_watchpoint_is_refused_and_set_as_access() {
    skip_on_lldb_server!();
    let t = stopped_at(&fixture("c_watch"), "setup_done")
        .cmd("rwatch read_me")
        .cmd("continue")
        .cmd("show remote read-watchpoint-packet")
        .cmd("show remote access-watchpoint-packet");
    let run = t.run();
    run.expect_finished().expect(&[
        r"hit Hardware read watchpoint 2: read_me\s+Value = 42",
        r"Support for the .Z3' packet is auto-detected, currently disabled",
        r"Support for the .Z4' packet is auto-detected, currently enabled",
    ]);
    t.server.assert_no_panic();
}

/// Item 2: a 16-byte watched range takes two debug registers (aligned pieces); gdb sends it as
/// one `Z2` and used to hear an error.
#[test]
fn item2_sixteen_byte_watch_spans_two_registers() {
    skip_on_lldb_server!();
    let t = stopped_at(&fixture("c_watch"), "setup_done")
        .cmd("watch *(char (*)[16])&watched")
        .cmd("continue");
    let run = t.run();
    run.expect_finished().expect(&[
        r"Hardware watchpoint 2: \*\(char \(\*\)\[16\]\)&watched",
        r"hit Hardware watchpoint 2: \*\(char \(\*\)\[16\]\)&watched",
        r"writer_step \(i=1\)",
    ]);
    run.expect_not(&[r"Could not insert", r"SIGTRAP"]);
    t.server.assert_no_panic();
}
