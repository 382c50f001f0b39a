//! Registers: general, fs_base, SSE/AVX, orig_rax, writes.

use gostub_tests::*;

fn has_avx() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.contains(" avx "))
        .unwrap_or(false)
}

#[test]
fn register_reads() {
    skip_on_lldb_server!();
    let mut s = stopped_at(&fixture("threads_lib"), "hot_function")
        .cmd("info registers rip")
        .cmd("info registers fs_base gs_base")
        .cmd("info registers")
        .cmd("p $xmm0")
        .cmd("p $orig_rax")
        .cmd("p $mxcsr")
        .cmd("p $st0")
        .cmd("p $_siginfo.si_signo");
    if has_avx() {
        s = s.cmd("p $ymm0.v8_int32");
    }
    let run = s.run();
    run.expect_finished().expect(&[
        r"(?m)^rip\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <hot_function\+\d+>",
        r"(?m)^fs_base\s+0x[0-9a-f]{6,}\s+\d+",
        r"(?m)^gs_base\s+0x[0-9a-f]+\s+\d+",
        r"(?m)^rax\s+0x",
        r"(?m)^r15\s+0x",
        r"(?m)^eflags\s+0x[0-9a-f]+\s+\[ .* \]",
        r"(?m)^cs\s+0x33\s+51",
        r"(?m)^ss\s+0x2b\s+43",
        r"v4_float = \{",
        r"v2_int64 = \{",
        // not stopped in a syscall
        r"\$\d+ = -1\n",
        r"\$\d+ = \[ (IM DM ZM OM UM PM|.*IM.*) \]",
    ]);
    let fs_base = run.capture_hex(r"(?m)^fs_base\s+(0x[0-9a-f]+)");
    assert_ne!(fs_base, 0, "fs_base is 0 in a threaded program");
    if has_avx() {
        run.expect(&[r"\$\d+ = \{-?\d+, -?\d+, -?\d+, -?\d+, -?\d+, -?\d+, -?\d+, -?\d+\}"]);
    }
}

/// Each thread has its own fs_base (its TLS block).
#[test]
fn fs_base_differs_per_thread() {
    skip_on_lldb_server!();
    let run = stopped_at(&fixture("threads_lib"), "all_started")
        .cmd("thread apply all printf \"FS=%#lx\\n\", $fs_base")
        .run();
    run.expect_finished();
    let all: std::collections::BTreeSet<String> = Regex::new(r"FS=(0x[0-9a-f]+)")
        .unwrap()
        .captures_iter(&run.all())
        .map(|c| c[1].to_string())
        .collect();
    assert_eq!(
        all.len(),
        5,
        "expected 5 distinct fs_base values: {}",
        run.all()
    );
}

#[test]
fn register_writes_reach_the_target() {
    skip_on_lldb_server!();
    // Write, then stepi (gdb drops its register cache on resume) and read back
    // from the target. hot_function does not use r12-r15 or xmm7 at -O0.
    let run = stopped_at(&fixture("threads_lib"), "hot_function")
        .cmd("delete")
        .cmd("set scheduler-locking on")
        .cmd("set $r12 = 0x1122334455667788")
        .cmd("set $r13 = -5")
        .cmd("set $xmm7.v2_int64[0] = 0x0102030405060708")
        .cmd("set $xmm7.v2_int64[1] = 0x7fffffff")
        .cmd("stepi")
        .cmd("p/x $r12")
        .cmd("p $r13")
        .cmd("p/x $xmm7.v2_int64")
        .cmd("p/x $rip")
        .cmd("set var $rdi = 41")
        .cmd("p $rdi")
        .run();
    run.expect_finished().expect(&[
        r"\$1 = 0x1122334455667788",
        r"\$2 = -5",
        r"\$3 = \{0x102030405060708, 0x7fffffff\}",
        r"\$5 = 41",
    ]);
}
