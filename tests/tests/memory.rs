//! Memory reads and writes through gdb, and unreadable addresses.

use gostub_tests::*;
use std::time::Duration;

#[test]
fn read_write_and_unmapped() {
    skip_on_lldb_server!();
    let prog = fixture("threads_lib");
    let mut fx = Fixture::start(&prog, &[], true);
    let pid = fx.pid();
    let server = Server::start(Mode::Attach(pid));
    let marker = symbol_addr(pid, &prog, "marker");
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("x/4xb &marker")
        .cmd("x/s message")
        .cmd("p marker")
        .cmd("x/4xb 0")
        .cmd("echo AFTER-NULL\\n")
        .cmd("x/2xg 0xfffffffffffff000")
        .cmd("echo AFTER-HIGH\\n")
        .cmd("set var marker = 0x0badf00d")
        .cmd("p/x marker")
        .cmd("set var message[0] = 'G'")
        .cmd("x/s message")
        .cmd("x/64xg $sp")
        .cmd("printf \"ADDR=%#lx\\n\", &marker")
        .cmd("detach")
        .run();
    run.expect_finished().expect(&[
        r"0x78\s+0x56\s+0x34\s+0x12",
        r#"<message>:\s+"gostub fixture message""#,
        r"\$1 = 305419896",
        r"Cannot access memory at address 0x0",
        r"AFTER-NULL",
        r"Cannot access memory at address 0xfffffffffffff000",
        r"AFTER-HIGH",
        r"\$2 = 0xbadf00d",
        r#"<message>:\s+"Gostub fixture message""#,
        r"detached\]",
    ]);
    assert_eq!(run.capture_hex(r"ADDR=(0x[0-9a-f]+)"), marker);
    // The write is in the process, seen without the debugger.
    assert!(wait_until(Duration::from_secs(5), || tracer_pid(pid) == Some(0)));
    let bytes = read_proc_mem(pid, marker, 4).unwrap();
    assert_eq!(bytes, 0x0badf00du32.to_le_bytes());
    assert!(fx.proc.running());
    server.assert_no_panic();
}

/// A mapping that changes between stops is never shown stale (memcache).
#[test]
fn remapped_pages_are_never_stale() {
    skip_on_lldb_server!();
    let prog = fixture("c_maps");
    let server = Server::start(Mode::Launch(&prog, &["2"]));
    let mut s = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd("break checkpoint");
    for _ in 0..11 {
        s = s
            .cmd("continue")
            .cmd("printf \"STEP=%d STATE=%d PATTERN=%#x\\n\", step, map_state, map_pattern");
        s = s.cmd("x/2xb map_addr").cmd("x/2xb map_addr+map_len-2");
    }
    let run = s.cmd("continue").run();
    run.expect_finished().expect(&[r"exited normally"]);
    // Check each stop's bytes against its state.
    let text = run.all();
    let step_re = Regex::new(r"STEP=(\d+) STATE=(\d+) PATTERN=0x([0-9a-f]+)").unwrap();
    let positions: Vec<_> = step_re
        .captures_iter(&text)
        .map(|c| c.get(0).unwrap().start())
        .collect();
    assert_eq!(positions.len(), 11, "{text}");
    for (k, c) in step_re.captures_iter(&text).enumerate() {
        let state: u32 = c[2].parse().unwrap();
        let pattern = &c[3];
        let end = positions.get(k + 1).copied().unwrap_or(text.len());
        let chunk = &text[positions[k]..end];
        match state {
            // PROT_NONE: /proc/PID/mem (FOLL_FORCE) may still read it; if it
            // does, the bytes must be the current ones.
            2 if !chunk.contains("Cannot access memory") => {
                let want = format!("0x{pattern:0>2}");
                assert!(
                    chunk.matches(&want).count() >= 4,
                    "stop {k}: PROT_NONE region shows stale bytes:\n{chunk}"
                );
            }
            1 => {
                let want = format!("0x{pattern:0>2}");
                let n = chunk.matches(&want).count();
                assert!(
                    n >= 4,
                    "stop {k}: readable region should show {want} 4 times:\n{chunk}"
                );
                assert!(!chunk.contains("Cannot access memory"), "stop {k}: {chunk}");
            }
            0 | 2 => assert!(
                chunk.contains("Cannot access memory"),
                "stop {k}: unmapped/PROT_NONE region was readable (stale cache?):\n{chunk}"
            ),
            s => panic!("bad state {s}"),
        }
    }
}

/// The differential check: at each of several stops, every byte gdb reads through the server
/// (stack, code at the pc, thread-local and global data) equals what /proc/PID/mem holds at that
/// same stop, read directly. Only our own int3 bytes differ: the server still holds them in
/// memory between stops (it applies breakpoint changes at resume) and shows the original byte.
#[test]
fn gdb_reads_equal_proc_mem_at_each_stop() {
    skip_on_lldb_server!();
    let prog = go_fixture("hot", GO_NEWEST, "default");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let pid = server.inferior_pid();
    let script = std::env::temp_dir().join(format!("gostub-diff-{}.py", std::process::id()));
    std::fs::write(
        &script,
        format!(
            r#"
import gdb
def diff_check():
    inf = gdb.selected_inferior()
    frame = gdb.selected_frame()
    sp = int(frame.read_register("rsp"))
    pc = int(frame.read_register("rip"))
    fs = int(frame.read_register("fs_base"))
    bps = set()
    for b in gdb.breakpoints() or []:
        for loc in getattr(b, "locations", []) or []:
            if loc.address is not None:
                bps.add(int(loc.address))
    counter = int(gdb.parse_and_eval("&main.counter"))
    ranges = [(sp - 256, 4096), (pc - 64, 128), (fs - 64, 128), (counter, 8)]
    bad = 0
    checked = 0
    with open("/proc/{pid}/mem", "rb") as mem:
        for addr, n in ranges:
            via_stub = bytes(inf.read_memory(addr, n))
            mem.seek(addr)
            direct = mem.read(n)
            for i in range(n):
                checked += 1
                if via_stub[i] == direct[i]:
                    continue
                if (addr + i) in bps and direct[i] == 0xcc:
                    continue
                bad += 1
                if bad <= 5:
                    print("DIFF at %#x: stub %#x, /proc %#x" % (addr + i, via_stub[i], direct[i]))
    print("DIFF-CHECKED %d bytes, %d differ" % (checked, bad))
"#
        ),
    )
    .unwrap();
    let mut session = Session::gdb()
        .file(&prog)
        .connect(&server)
        .cmd(format!("source {}", script.display()));
    session = session.cmd("break main.hotFunction");
    for _ in 0..5 {
        session = session.cmd("continue").cmd("bt").cmd("python diff_check()");
    }
    let run = session.run();
    let _ = std::fs::remove_file(&script);
    run.expect_finished();
    let out = run.all();
    let checks: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("DIFF-CHECKED"))
        .collect();
    assert_eq!(checks.len(), 5, "expected 5 checked stops:\n{out}");
    assert!(
        checks.iter().all(|l| l.ends_with(" 0 differ")),
        "bytes differ:\n{out}"
    );
}
