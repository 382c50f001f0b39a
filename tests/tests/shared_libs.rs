//! Shared libraries (qXfer:libraries-svr4), exec file and host I/O.

use gostub_tests::*;

#[test]
fn sharedlibrary_lists_libfixture_and_libc() {
    skip_on_lldb_server!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("set breakpoint pending on")
        .continue_to("lib_compute")
        .cmd("bt 2")
        .cmd("info sharedlibrary")
        .cmd("p lib_calls")
        .run();
    run.expect_finished().expect(&[
        r"hit Breakpoint 1, lib_compute \(x=\d+\) at .*fixture_lib\.c:\d+",
        r"#1\s+0x[0-9a-f]+ in worker \(arg=",
        r"(?m)^0x[0-9a-f]+\s+0x[0-9a-f]+\s+Yes\s+.*/libfixture\.so$",
        r"(?m)^0x[0-9a-f]+\s+0x[0-9a-f]+\s+Yes( \(\*\))?\s+.*/libc\.so\.6$",
        r"(?m)^0x[0-9a-f]+\s+0x[0-9a-f]+\s+Yes( \(\*\))?\s+.*/ld-linux-x86-64\.so\.2$",
        r"\$1 = \d+",
    ]);
}

/// No local file: gdb learns the executable from the stub (exec-file) and
/// reads it over host I/O (vFile) with the default `sysroot target:`.
#[test]
fn exec_file_and_host_io() {
    skip_on_lldb_server!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let run = Session::gdb()
        .connect(&server)
        .continue_to("hot_function")
        .cmd("info inferiors")
        .run();
    run.expect_finished().expect(&[
        &format!(
            r"Reading {} from remote target",
            regex::escape(&prog.display().to_string())
        ),
        r"Reading symbols from target:.*threads_lib",
        r"hit Breakpoint 1, hot_function \(i=\d+\) at .*threads_lib\.c",
        r"(?m)^\*\s+1\s+process \d+\s+.*target:.*threads_lib",
    ]);
}
