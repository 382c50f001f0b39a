//! Signals: reported, delivered, passed; exit codes (W) and fatal signals
//! (X); Ctrl-C.

use gostub_tests::*;
use std::time::Duration;

/// Waits until PID runs (its threads are not in a ptrace stop).
fn wait_running(pid: i32) {
    assert!(
        wait_until(Duration::from_secs(30), || thread_count(pid) > 0
            && !any_thread_stopped(pid)),
        "process {pid} did not start running"
    );
    std::thread::sleep(Duration::from_millis(200));
}

fn thread_states(pid: i32) -> Vec<char> {
    task_states(pid).into_iter().map(|(_, c)| c).collect()
}

fn any_thread_stopped(pid: i32) -> bool {
    thread_states(pid).iter().any(|&c| c == 't' || c == 'T')
}

fn all_threads_stopped(pid: i32) -> bool {
    let s = thread_states(pid);
    !s.is_empty() && s.iter().all(|&c| c == 't' || c == 'T')
}

#[test]
fn sigusr1_reported_and_delivered() {
    skip_on_lldb_server!();
    let prog = fixture("threads_lib");
    // "0 usr1": main raises SIGUSR1 at itself, exits 0 once the handler ran.
    let server = Server::start(Mode::Launch(&prog, &["0", "usr1"]));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("continue")
        .cmd("break on_usr1")
        .cmd("signal SIGUSR1")
        .cmd("bt 3")
        .cmd("continue")
        .run();
    run.expect_finished().expect(&[
        r"received signal SIGUSR1, User defined signal 1",
        r"hit Breakpoint 1, on_usr1 \(sig=10\)",
        r"#1\s+<signal handler called>",
        r"\[Inferior 1 \(process \d+\) exited normally\]",
    ]);
}

/// Issue 10 (`qXfer:siginfo`): gdb's `$_siginfo` is the stopped thread's siginfo, read and
/// written as through gdbserver: a SIGUSR1 from kill() carries SI_USER and the sender's pid, a
/// field written reads back changed from the kernel, and the signal is still delivered.
#[test]
fn issue10_siginfo_is_read_and_written() {
    skip_on_lldb_server!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &["0", "usr1"]));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("continue")
        .cmd("info inferiors")
        .cmd("p $_siginfo.si_signo")
        .cmd("p $_siginfo.si_code")
        .cmd("p $_siginfo._sifields._kill.si_pid")
        .cmd("set $_siginfo._sifields._kill.si_uid = 4242")
        .cmd("p $_siginfo._sifields._kill.si_uid")
        .cmd("continue")
        .run();
    run.expect_finished().expect(&[
        r"received signal SIGUSR1",
        r"\$1 = 10\n",
        r"\$2 = 0\n",
        r"\$4 = 4242\n",
        r"\[Inferior 1 \(process \d+\) exited normally\]",
    ]);
    let pid = run.capture(r"process (\d+)");
    run.expect(&[&format!(r"\$3 = {pid}\n")]);
    server.assert_no_panic();
}

/// Issue 10 (gdb.base/sigchld.exp): a launched program starts with SIGCHLD unblocked, as under
/// gdbserver; the stub blocks it for its own signalfd, and a blocked mask survives exec.
#[test]
fn issue10_launched_program_has_sigchld_unblocked() {
    skip_on_lldb_server!();
    // grep, not a shell: dash clears its signal mask at startup.
    let grep = std::path::Path::new("/bin/grep");
    let server = Server::start(Mode::Launch(grep, &["SigBlk", "/proc/self/status"]));
    let run = Session::gdb().connect(&server).cmd("continue").run();
    run.expect_finished().expect(&[r"exited normally"]);
    let out = server.proc.stdout_text() + &server.proc.stderr_text();
    assert!(
        out.contains("SigBlk:\t0000000000000000"),
        "program's blocked signals: {out}"
    );
    server.assert_no_panic();
}

/// Issue 10 item 1 (gdb.base/sigrepeat.exp, sigstep.exp): a signal gdb passes (SIGALRM), met
/// during a `next`, is reported to gdb as gdbserver reports it, and gdb steps over its handler;
/// the stub used to hold it until the next continue, so a `next` over a loop that only the
/// handler ends never returned.
#[test]
fn item1_next_over_a_loop_ended_by_a_passed_signal() {
    skip_on_lldb_server!();
    let run = stopped_at(&fixture("c_sigstep"), "spin_until_alarm")
        .cmds(["next", "next", "continue"])
        .timeout(Duration::from_secs(30))
        .run_clean();
    run.expect(&[r"return alarms; /\* after the loop \*/", r"exited normally"])
        .expect_not(&[r"SIGALRM"]);
}

/// A signal gdb is told not to stop for still reaches the program.
#[test]
fn nostop_signal_is_passed() {
    skip_on_lldb_server!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &["0", "usr1"]));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("handle SIGUSR1 nostop noprint pass")
        .cmd("continue")
        .run();
    run.expect_finished()
        .expect(&[r"\[Inferior 1 \(process \d+\) exited normally\]"])
        .expect_not(&[r"received signal SIGUSR1"]);
    let out = server.proc.stdout_text() + &server.proc.stderr_text();
    assert!(
        out.contains("usr1_count=1"),
        "handler did not run once: {}",
        server.log()
    );
}

#[test]
fn sigsegv_reported_then_fatal() {
    skip_on_lldb_server!();
    let prog = fixture("c_segv");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("continue")
        .cmd("bt")
        .cmd("continue")
        .run();
    run.expect_finished().expect(&[
        r"Program received signal SIGSEGV, Segmentation fault\.",
        r"#0\s+(0x[0-9a-f]+ in )?main \(\) at .*c_segv\.c:\d+",
        r"Program terminated with signal SIGSEGV, Segmentation fault\.",
    ]);
}

#[test]
fn exit_code_reported() {
    skip_on_lldb_server!();
    stopped_at(&fixture("c_exit"), "before_exit")
        .cmds(["finish", "continue"])
        .run()
        .expect_finished()
        .expect(&[
            r"Breakpoint 1, before_exit \(code=7\)",
            r"Value returned is \$1 = 7",
            r"\[Inferior 1 \(process \d+\) exited with code 07\]",
        ]);
}

#[test]
fn killed_by_signal_reported() {
    skip_on_lldb_server!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let pid = server.inferior_pid();
    // SIGTERM from outside while running: gdb stops for it, then the
    // program dies of it.
    let mut bg = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("continue")
        .cmd("continue")
        .spawn();
    wait_running(pid);
    kill(pid, libc::SIGTERM);
    let run = bg.wait();
    run.expect_finished().expect(&[
        r"received signal SIGTERM, Terminated\.",
        r"Program terminated with signal SIGTERM, Terminated\.",
    ]);
}

/// Ctrl-C: SIGINT to gdb while the program runs makes gdb interrupt the
/// target; the session then goes on.
#[test]
fn ctrl_c_interrupts() {
    skip_on_lldb_server!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let pid = server.inferior_pid();
    let mut bg = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("continue")
        .cmd("info threads")
        .cmd("p counter > 0")
        .cmd("continue")
        .cmd("echo SECOND-STOP\\n")
        .spawn();
    wait_running(pid);
    assert!(wait_until(Duration::from_secs(10), || thread_count(pid) == 5));
    bg.proc.signal(libc::SIGINT);
    // gdb's output is buffered in a file: watch the process instead. All
    // threads stop (all-stop), then run again at the second continue.
    assert!(
        wait_until(Duration::from_secs(20), || all_threads_stopped(pid)),
        "Ctrl-C did not stop every thread\n{}",
        server.log()
    );
    wait_running(pid);
    bg.proc.signal(libc::SIGINT);
    let run = bg.wait();
    run.expect_finished().expect(&[
        r"received signal SIGINT, Interrupt\.",
        r"(?s)\$1 = 1.*received signal SIGINT.*SECOND-STOP",
    ]);
    assert_eq!(
        run.count(r"(?m)^\*?\s+\d+\s+Thread \d+\.\d+ "),
        5,
        "{}",
        run.all()
    );
}

/// Item 1 (issue 10): gdb's `handle` settings reach the stub (`QPassSignals`): a signal of the
/// built-in quiet set (SIGWINCH) passes silently while gdb says `nostop noprint`, and stops the
/// program once gdb says `stop`.
#[test]
fn pass_signals_follow_gdbs_handle_settings() {
    skip_on_lldb_server!();
    let run = stopped_at(&fixture("threads_lib"), "all_started")
        .cmds([
            "print (int) raise(28)",
            "handle SIGWINCH stop print",
            "print (int) raise(28)",
        ])
        .run_clean();
    run.expect(&[
        r"\$1 = 0",
        r"received signal SIGWINCH",
        r"signaled while in a function called from GDB",
    ]);
}

/// Item 1 (issue 10): a Go program's preemption signal (SIGURG) stays quiet even when gdb asks
/// to stop on it: a Go session never stops on preemption.
#[test]
fn pass_signals_keep_go_preemption_quiet() {
    skip_unless_gostub!();
    let prog = go_fixture("hot", GO_NEWEST, "default");
    // Spinning workers, and a condition gdb evaluates at every hit: the runtime preempts them
    // (a few SIGURGs a second) while gdb works.
    let server = Server::start_env(Mode::Launch(&prog, &[]), &[("HOT_BUSY", "1")]);
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("handle SIGURG stop print")
        .cmd("break main.hotFunction if main.counter > 1000")
        .repeat(5, &["continue"])
        .run();
    run.expect_finished()
        .expect_not(&[r"SIGURG", r"received signal"]);
    assert_eq!(
        run.count(r"Breakpoint 1, main\.hotFunction \("),
        5,
        "{}",
        run.all()
    );
    server.assert_no_panic();
}

/// Issue 10 item 8: a signal given to a thread that is stopped by PTRACE_INTERRUPT (here main,
/// blocked in pthread_join while the worker hit a breakpoint) reaches it: the kernel drops a
/// signal named at such a stop, so the stub queues it with tgkill. The handler runs in main.
#[test]
fn item8_signal_to_thread_at_interrupt_stop_is_delivered() {
    skip_on_lldb_server!();
    let run = stopped_at(&fixture("c_thread_exit"), "worker_started")
        .cmd("break on_usr1")
        .cmd("thread 1")
        .cmd("signal SIGUSR1")
        .cmd("bt 2")
        .run_clean();
    run.expect(&[r"Thread 1 [^\n]*hit Breakpoint 2, on_usr1 \(sig=10\)"]);
    run.expect_not(&[r"exited normally"]);
}
