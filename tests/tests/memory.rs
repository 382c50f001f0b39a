//! Memory reads and writes through gdb, and unreadable addresses.

use gostub_tests::*;
use std::time::Duration;

#[test]
fn read_write_and_unmapped() {
    gdb_server_only!();
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
    gdb_server_only!();
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
