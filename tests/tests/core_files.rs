//! Post-mortem: core files served by `gostub --core`, through gdb and lldb.
//!
//! The oracle for Go is the runtime itself: under GOTRACEBACK=crash the `crash` fixture's panic
//! prints every goroutine, runtime frames and exact fp/sp/pc included, before the SIGABRT that
//! leaves the kernel's core. `monitor goroutines` and `monitor goroutine ID bt` under the
//! `crash` policy must say the same of the core. The goroutine that panicked is running: the
//! runtime prints it from the panic on, while the core holds its thread deeper, in the abort:
//! the runtime's frames must end gostub's, and it must be the stop thread.
//!
//! C: a kernel core of `c_segv`, a kernel core of `threads_lib` killed by SIGSEGV with its
//! library gone, and cores `gcore` writes of a running `threads_lib`, natively and through
//! gostub. Bad input: truncated, not a core, a core of another program.

use gostub_tests::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The `crash` fixture's kernel core, its stderr (the runtime's dump) in `dump.txt` beside it.
fn go_crash(version: &str, variant: &str) -> Option<(std::path::PathBuf, Crashed, Vec<GoBlock>)> {
    let prog = go_fixture("crash", version, variant);
    let crashed = kernel_core(&prog, &[("GOTRACEBACK", "crash")])?;
    assert_eq!(crashed.signal, libc::SIGABRT, "{}", crashed.stderr);
    std::fs::write(crashed.dir.path().join("dump.txt"), &crashed.stderr).unwrap();
    let dump = parse_go_traceback(&without_positions(&crashed.stderr));
    assert!(dump.len() >= 15, "runtime dump:\n{}", crashed.stderr);
    Some((prog, crashed, dump))
}

macro_rules! core_or_skip {
    ($e:expr) => {
        match $e {
            Some(x) => x,
            None => {
                eprintln!("SKIPPED: /proc/sys/kernel/core_pattern pipes cores to a handler");
                return;
            }
        }
    };
}

fn check_go_core_through_gdb(version: &str, variant: &str) {
    let (prog, crashed, dump) = core_or_skip!(go_crash(version, variant));
    let dump_path = crashed.dir.path().join("dump.txt");
    let py_bt = format!(
        "python exec(\"import re\\nfor g in re.findall(r'(?m)^goroutine (\\\\d+) ', open('{}').read()):\\n  gdb.execute('monitor goroutine %s bt' % g)\")",
        dump_path.display()
    );
    // The default PROGRAM (the executable the core names) for the default build.
    let program = (variant != "default").then_some(prog.as_path());
    let server = Server::start(Mode::Core(&crashed.core, program));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("monitor traceback crash")
        .section("goroutines")
        .cmd("monitor goroutines")
        .section("bt")
        .cmd(py_bt)
        .section("threads")
        .cmd("info threads")
        .cmd("monitor traceback all")
        // gdb keeps the registers it read under `crash` until told they changed.
        .cmd("maint flush register-cache")
        .section("apply")
        .cmd("thread apply all bt 1")
        .section("end")
        .timeout(Duration::from_secs(90))
        .run();
    run.expect_finished();
    server.assert_no_panic();
    let ctx = format!(
        "go{version} {variant}\n--- runtime dump ---\n{}\n--- gdb ---\n{}\n{}",
        crashed.stderr,
        tail(&run.all(), 20000),
        server.log()
    );
    let sections = split_sections(&run.stdout);
    let crashed_g = &dump[0];
    assert_eq!(crashed_g.state, "running", "{ctx}");

    // monitor goroutines: every goroutine, with the runtime's state and top frame.
    let (lines, _) = parse_goroutines_list(&sections["goroutines"]);
    let ids = |v: Vec<u64>| v.into_iter().collect::<std::collections::BTreeSet<_>>();
    assert_eq!(
        ids(lines.iter().map(|l| l.goid).collect()),
        ids(dump.iter().map(|b| b.goid).collect()),
        "goroutine ids\n{ctx}"
    );
    for l in &lines {
        let b = dump.iter().find(|b| b.goid == l.goid).unwrap();
        assert_eq!(l.state, b.state, "goroutine {} state\n{ctx}", l.goid);
        if b.goid != crashed_g.goid {
            let top = &b.frames[0];
            assert_eq!(
                (&l.func, &l.file, l.line),
                (&top.func, &top.file, top.line),
                "goroutine {} top frame\n{ctx}",
                l.goid
            );
        }
    }

    // monitor goroutine ID bt: the runtime's frames, to the byte of fp/sp/pc.
    let got = parse_go_traceback(&without_positions(&sections["bt"]));
    let got_pos = frame_positions(&sections["bt"]);
    let want_pos = frame_positions(&crashed.stderr);
    let mut compared = 0;
    for want in dump.iter().filter(|b| b.goid != crashed_g.goid) {
        let g = got
            .iter()
            .find(|b| b.goid == want.goid)
            .unwrap_or_else(|| panic!("no bt of goroutine {}\n{ctx}", want.goid));
        let names = |v: &[GoFrame]| v.iter().map(|f| f.func.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&g.frames),
            names(&want.frames),
            "goroutine {}\n{ctx}",
            want.goid
        );
        assert_eq!(
            g.created_by, want.created_by,
            "goroutine {}\n{ctx}",
            want.goid
        );
        assert_eq!(
            got_pos.get(&want.goid),
            want_pos.get(&want.goid),
            "goroutine {} frame positions\n{ctx}",
            want.goid
        );
        compared += 1;
    }
    assert!(compared >= 14, "only {compared} compared\n{ctx}");
    // The goroutine that panicked: its thread is deeper (in the abort, through the signal
    // frame); the runtime's frames, from the panic on, end gostub's.
    let tail_of = |v: &[String], n: usize| v[v.len().saturating_sub(n)..].to_vec();
    let want = &want_pos[&crashed_g.goid];
    let have = got_pos
        .get(&crashed_g.goid)
        .unwrap_or_else(|| panic!("no bt of the crashed goroutine\n{ctx}"));
    assert_eq!(
        tail_of(have, want.len()),
        *want,
        "the crashed goroutine's frames do not end with the runtime's\n{ctx}"
    );

    // The goroutine that panicked is the stop thread.
    let star = Regex::new(r"(?m)^\*\s+\d+\s+Thread \d+\.(\d+)").unwrap();
    let lwp: u64 = star
        .captures(&sections["threads"])
        .unwrap_or_else(|| panic!("no current thread\n{ctx}"))[1]
        .parse()
        .unwrap();
    assert_eq!(
        lwp,
        GOROUTINE_TID_BASE + crashed_g.goid,
        "the stop thread is not the goroutine that panicked\n{ctx}"
    );

    // bt of a parked goroutine starts at its first shown frame (traceback all).
    if variant == "default" {
        let head = Regex::new(r"^Thread \d+ \(Thread \d+\.(\d+) ").unwrap();
        let f0 = Regex::new(r"^#0\s+(?:0x[0-9a-f]+ in )?(\S+) \(").unwrap();
        let mut cur = None;
        let mut checked = 0;
        for l in sections["apply"].lines() {
            if let Some(c) = head.captures(l) {
                cur = c[1].parse::<u64>().unwrap().checked_sub(GOROUTINE_TID_BASE);
            } else if let (Some(goid), Some(c)) = (cur.take(), f0.captures(l)) {
                let Some(b) = dump
                    .iter()
                    .find(|b| b.goid == goid && b.goid != crashed_g.goid)
                else {
                    continue;
                };
                let Some(first) = b.frames.iter().find(|f| !f.func.starts_with("runtime.")) else {
                    continue;
                };
                assert_eq!(
                    go_func_normalise(&c[1]),
                    first.func,
                    "goroutine {goid}: frame #0 {l:?}\n{ctx}"
                );
                checked += 1;
            }
        }
        assert!(
            checked >= 10,
            "only {checked} parked goroutines checked\n{ctx}"
        );
    }
}

#[test]
fn go_kernel_core_gdb_matches_crash_dump_go_oldest() {
    skip_unless_gostub!();
    check_go_core_through_gdb(GO_OLDEST, "default");
}

#[test]
fn go_kernel_core_gdb_matches_crash_dump_go_oldest_stripped() {
    skip_unless_gostub!();
    check_go_core_through_gdb(GO_OLDEST, "stripped");
}

#[test]
fn go_kernel_core_gdb_matches_crash_dump_go1_24() {
    skip_unless_gostub!();
    check_go_core_through_gdb("1.24.11", "default");
}

#[test]
fn go_kernel_core_gdb_matches_crash_dump_go_newest() {
    skip_unless_gostub!();
    check_go_core_through_gdb(GO_NEWEST, "default");
}

#[test]
fn go_kernel_core_gdb_matches_crash_dump_go_newest_pie() {
    skip_unless_gostub!();
    check_go_core_through_gdb(GO_NEWEST, "pie");
}

#[test]
fn go_kernel_core_gdb_matches_crash_dump_go_newest_stripped() {
    skip_unless_gostub!();
    check_go_core_through_gdb(GO_NEWEST, "stripped");
}

fn check_go_core_through_lldb(version: &str, variant: &str) {
    let (prog, crashed, dump) = core_or_skip!(go_crash(version, variant));
    let server = Server::start(Mode::Core(&crashed.core, Some(&prog)));
    let run = Session::lldb()
        .file(&prog)
        .connect(&server)
        .cmd("thread list")
        .cmd("process plugin packet monitor traceback crash")
        .section("goroutines")
        .cmd("process plugin packet monitor goroutines")
        .section("end")
        .cmd("register write rax 1")
        .run();
    server.assert_no_panic();
    let ctx = format!("go{version} {variant}\n{}\n{}", run.all(), server.log());
    let crashed_g = dump[0].goid;
    run.expect(&[&format!(
        r"\* thread #\d+: tid = {}, .*stop reason = signal SIGABRT",
        GOROUTINE_TID_BASE + crashed_g
    )]);
    let sections = split_sections(&run.stdout);
    let (lines, _) = parse_goroutines_list(&sections["goroutines"]);
    assert_eq!(lines.len(), dump.len(), "{ctx}");
    for b in dump.iter().filter(|b| b.goid != crashed_g) {
        let l = lines.iter().find(|l| l.goid == b.goid).unwrap();
        assert_eq!((&l.state, &l.func), (&b.state, &b.frames[0].func), "{ctx}");
    }
    run.expect(&[r"Failed to write register"]);
    assert!(server.log().contains("the program is not running"), "{ctx}");
}

#[test]
fn go_kernel_core_lldb_stops_on_crashed_goroutine_go_oldest() {
    skip_unless_gostub!();
    check_go_core_through_lldb(GO_OLDEST, "default");
}

#[test]
fn go_kernel_core_lldb_stops_on_crashed_goroutine_go_newest_stripped() {
    skip_unless_gostub!();
    check_go_core_through_lldb(GO_NEWEST, "stripped");
}

// ---------------------------------------------------------------------------
// C programs
// ---------------------------------------------------------------------------

#[test]
fn c_segv_kernel_core_gdb_frame_signal_libraries_and_read_only() {
    skip_unless_gostub!();
    let crashed = core_or_skip!(kernel_core(&fixture("c_segv"), &[]));
    assert_eq!(crashed.signal, libc::SIGSEGV);
    let server = Server::start(Mode::Core(&crashed.core, None));
    let run = Session::gdb()
        .connect(&server)
        .cmds([
            "info program",
            "bt",
            "info sharedlibrary",
            "p/x $fs_base",
            "p $_siginfo.si_signo",
            "set var null_ptr = (int *) 8",
            "set var $rax = 1",
            "continue",
            "stepi",
            "p about_to_crash",
        ])
        .run();
    run.expect_finished();
    server.assert_no_panic();
    run.expect(&[
        r"signal SIGSEGV",
        r"#0\s+main \(\) at .*c_segv\.c:15",
        r"Yes\s+.*libc\.so\.6",
        r"\$1 = 0x[1-9a-f]",
        // Issue 10 (`qXfer:siginfo`): the core's NT_SIGINFO.
        r"\$2 = 11\n",
        r"Remote failure reply: E01",
        r"\{void \(void\)\} 0x[0-9a-f]+ <about_to_crash>",
    ]);
    assert!(
        server.log().contains("core: cannot resume")
            || server.log().contains("the program is not running"),
        "{}",
        server.log()
    );
}

#[test]
fn c_segv_kernel_core_lldb_stop_reason_frame_and_memory_regions() {
    skip_unless_gostub!();
    let crashed = core_or_skip!(kernel_core(&fixture("c_segv"), &[]));
    let prog = fixture("c_segv");
    let server = Server::start(Mode::Core(&crashed.core, Some(&prog)));
    let run = Session::lldb()
        .file(&prog)
        .connect(&server)
        .cmds(["bt", "memory region main", "image list"])
        .run();
    run.expect_finished();
    server.assert_no_panic();
    run.expect(&[
        r"stop reason = signal SIGSEGV",
        r"frame #0: .*c_segv`main at c_segv\.c:15",
        r"\[0x[0-9a-f]+-0x[0-9a-f]+\) r-x .*c_segv",
    ]);
}

/// Issue 14 leftovers: lldb loads a core's libraries (it finds `r_debug` through
/// `qShlibInfoAddr`; with only gdb's `main-lm` it read the load bias as `r_debug` and listed the
/// executable and the vdso alone), and `monitor stats` counts the bytes a core served.
#[test]
fn threads_lib_kernel_core_lldb_lists_libraries_and_stats_count_reads() {
    skip_unless_gostub!();
    let prog = fixture("threads_lib");
    let crashed = core_or_skip!(kernel_core_killed(&prog, &[], Some(libc::SIGSEGV)));
    let server = Server::start(Mode::Core(&crashed.core, Some(&prog)));
    let run = Session::lldb()
        .file(&prog)
        .connect(&server)
        .cmds(["image list", "bt", "process plugin packet monitor stats"])
        .run();
    run.expect_finished();
    server.assert_no_panic();
    run.expect(&[
        r"\[\s*\d+\] .* 0x[0-9a-f]+ \S*libfixture\.so",
        r"\[\s*\d+\] .* 0x[0-9a-f]+ \S*libc\.so\.6",
        r"frame #\d+: 0x[0-9a-f]+ threads_lib`main",
        r"total: .* [1-9]\d* bytes served",
    ]);
}

/// Issue 14: a kernel core of a cgo program (external linking: libc and libpthread), through
/// gdb: its libraries, the goroutines in and around C calls, a parked one's backtrace.
#[test]
fn cgo_kernel_core_gdb_libraries_and_goroutines() {
    skip_unless_gostub!();
    let prog = go_fixture("cgo", GO_NEWEST, "external");
    let crashed = core_or_skip!(kernel_core_killed(
        &prog,
        &[("GOTRACEBACK", "crash")],
        Some(libc::SIGQUIT)
    ));
    assert_eq!(crashed.signal, libc::SIGABRT, "{}", crashed.stderr);
    let server = Server::start(Mode::Core(&crashed.core, Some(&prog)));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmds([
            "info sharedlibrary",
            "monitor goroutines",
            "monitor goroutines -group top",
            "thread apply all bt 3",
        ])
        .run();
    run.expect_finished();
    server.assert_no_panic();
    run.expect(&[
        r"Yes\s+.*libc\.so\.6",
        r"main\.goCallback",
        r"main\.goFromCThread",
        r"#\d+\s+.*main\.goCallback",
    ]);
}

/// threads_lib and libfixture.so copied into `dir`, so the test can remove the library.
fn threads_lib_copy(dir: &Path) -> std::path::PathBuf {
    for f in ["threads_lib", "libfixture.so"] {
        std::fs::copy(fixture(f), dir.join(f)).unwrap();
    }
    dir.join("threads_lib")
}

#[test]
fn kernel_core_with_library_gone_reads_of_its_text_fail() {
    skip_unless_gostub!();
    let copies = TempDir::new("lib-gone");
    let prog = threads_lib_copy(copies.path());
    // threads_lib runs until killed: SIGSEGV from outside makes the core.
    let crashed = core_or_skip!(kernel_core_killed(&prog, &[], Some(libc::SIGSEGV)));
    let core = crashed.core.clone();
    std::fs::remove_file(copies.path().join("libfixture.so")).unwrap();
    let server = Server::start(Mode::Core(&core, Some(&prog)));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmds([
            "info threads",
            // lib_compute's text in libfixture.so, through the GOT entry the workers resolved.
            "x/i *(void **) &'lib_compute@got.plt'",
            "p marker",
        ])
        .run();
    run.expect_finished();
    server.assert_no_panic();
    run.expect(&[r"Cannot access memory", r"\$1 = 305419896"]);
    assert!(server.log().contains("libfixture.so"), "{}", server.log());
}

/// gcore of a running threads_lib, natively or through gostub, then served by gostub.
fn check_gcore(through_gostub: bool) -> u64 {
    let fixture_proc = Fixture::start(&fixture("threads_lib"), &[], true);
    let dir = TempDir::new("gcore");
    let out = dir.path().join("gcore.core");
    if through_gostub {
        let server = Server::start(Mode::Attach(fixture_proc.pid()));
        gcore(
            fixture_proc.pid(),
            Some(&server),
            &out,
            Duration::from_secs(120),
        );
    } else {
        gcore(fixture_proc.pid(), None, &out, Duration::from_secs(60));
    }
    drop(fixture_proc);
    let server = Server::start(Mode::Core(&out, None));
    let run = Session::gdb()
        .connect(&server)
        .cmds([
            "info threads",
            "info sharedlibrary",
            "p marker",
            "p message",
        ])
        .run();
    run.expect_finished();
    server.assert_no_panic();
    run.expect(&[
        r"Yes\s+.*libfixture\.so",
        r"\$1 = 305419896",
        r#"\$2 = "gostub fixture message""#,
    ]);
    assert_eq!(
        run.count(r"(?m)^\*?\s+\d+\s+Thread \d+\.\d+"),
        5,
        "{}",
        run.all()
    );
    std::fs::metadata(&out).unwrap().len()
}

#[test]
fn native_gcore_core_served_with_threads_libraries_and_data() {
    skip_unless_gostub!();
    check_gcore(false);
}

#[test]
fn gcore_through_gostub_is_no_larger_than_native_and_served_back() {
    skip_unless_gostub!();
    let native = check_gcore(false);
    let ours = check_gcore(true);
    assert!(
        ours <= native + native / 4,
        "gcore through gostub wrote {ours} bytes, native gcore {native}"
    );
}

// ---------------------------------------------------------------------------
// Bad input: a clear error naming the file, no panic
// ---------------------------------------------------------------------------

fn gostub_core(args: &[&Path]) -> (bool, String) {
    let (prog, mut words) = server_command(&Mode::Core(args[0], args.get(1).copied()), ":0");
    words.retain(|w| w != ":0");
    words.insert(1, "-".to_string());
    let out = Command::new(prog)
        .args(&words)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (out.status.success(), err)
}

#[test]
fn bad_cores_are_refused_naming_the_files() {
    skip_unless_gostub!();
    let crashed = core_or_skip!(kernel_core(&fixture("c_segv"), &[]));
    let dir = crashed.dir.path();
    let core_s = crashed.core.display().to_string();

    let bytes = std::fs::read(&crashed.core).unwrap();
    let truncated = dir.join("truncated.core");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let (ok, err) = gostub_core(&[&truncated]);
    assert!(
        !ok && err.contains("truncated.core is a truncated core file"),
        "{err}"
    );

    let text = dir.join("text.core");
    std::fs::write(&text, "not a core\n").unwrap();
    let (ok, err) = gostub_core(&[&text]);
    assert!(!ok && err.contains("text.core is not a core file"), "{err}");

    let exe = fixture("c_exit");
    let (ok, err) = gostub_core(&[&exe]);
    assert!(!ok && err.contains("is not a core file"), "{err}");

    let (ok, err) = gostub_core(&[&crashed.core, &exe]);
    assert!(
        !ok && err.contains("is a core of another program")
            && err.contains(&core_s)
            && err.contains(&exe.display().to_string()),
        "{err}"
    );

    let missing = dir.join("missing.core");
    let (ok, err) = gostub_core(&[&missing]);
    assert!(!ok && err.contains("missing.core"), "{err}");
}
