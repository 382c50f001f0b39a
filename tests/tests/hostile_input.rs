//! Hostile input (issue 11): packets a fuzzer found that harmed the session or the debuggee.
//! Each test is named after the item it guards and talks raw RSP to the server under test,
//! which holds a real fixture process; the fixture's bytes are checked through /proc/PID/mem.

use gostub_tests::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn is_error(r: &str) -> bool {
    r.len() == 3 && r.starts_with('E') && r[1..].chars().all(|c| c.is_ascii_hexdigit())
}

fn is_stop(r: &str) -> bool {
    r.starts_with('T') || r.starts_with('S')
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A launched threads_lib, connected and past the handshake.
fn start() -> (Server, Rsp, i32) {
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let pid = server.inferior_pid();
    let mut rsp = Rsp::connect(&server);
    let stop = rsp.handshake();
    assert!(is_stop(&stop), "? -> {stop}");
    (server, rsp, pid)
}

fn request(rsp: &mut Rsp, server: &Server, packet: &str) -> String {
    rsp.request(packet, T)
        .unwrap_or_else(|e| panic!("{packet}: {e}\n{}", server.log()))
}

/// Continues every thread, waits until they run, and stops them with ^C.
fn continue_and_interrupt(rsp: &mut Rsp, server: &Server, pid: i32) {
    rsp.send_raw(&frame(b"vCont;c")).unwrap();
    assert!(
        wait_until(T, || proc_state(pid) == Some('S')),
        "program did not run"
    );
    rsp.send_raw(&[0x03]).unwrap();
    let stop = rsp
        .reply(T)
        .unwrap_or_else(|e| panic!("no stop reply to ^C: {e}\n{}", server.log()));
    assert!(is_stop(&stop), "^C -> {stop}");
}

/// Item 3: a malformed `vCont` gets `E16` and changes nothing: the session still answers, the
/// packet tap still guards the input (size limit, thread ids), and ^C still stops the program.
#[test]
fn item3_malformed_vcont_gets_an_error_and_changes_nothing() {
    skip_on_lldb_server!();
    skip_known_gdbserver_gap!("gdbserver 13.1 answers some malformed vCont packets by resuming");
    let (mut server, mut rsp, pid) = start();
    for packet in [
        "vCont",
        "vCont:c",
        "vContc",
        "vCont?x",
        "vCont!",
        "vCont c",
        "vCont;",
        "vCont;x",
        "vCont;c;",
        "vCont;c:zz",
        "vCont;r1",
        "vCont;c:p1.1;q",
        "vCont;s",
        "vCont;t",
    ] {
        let r = request(&mut rsp, &server, packet);
        assert!(is_error(&r), "{packet} -> {r:?}: expected an error");
        let stop = request(&mut rsp, &server, "?");
        assert!(is_stop(&stop), "after {packet}: ? -> {stop:?}");
        assert_eq!(proc_state(pid), Some('t'), "after {packet}: program runs");
    }
    let r = request(&mut rsp, &server, "Hgp1.1");
    assert!(
        is_error(&r),
        "Hgp1.1 -> {r:?}: the tap's thread check was bypassed"
    );
    let mut big = b"X0,4000000:".to_vec();
    big.resize(64 << 20, b'A');
    rsp.send_raw(&frame(&big)).unwrap();
    let r = rsp
        .reply(Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("64 MiB X: {e}\n{}", server.log()));
    assert!(is_error(&r), "64 MiB X -> {r:?}");
    continue_and_interrupt(&mut rsp, &server, pid);
    assert!(server.running());
    server.assert_no_panic();
}

/// Item 4: `M` and `X` whose data is longer or shorter than the declared length, or odd hex,
/// are refused and write nothing; well-formed writes still work.
#[test]
fn item4_m_and_x_honour_the_declared_length() {
    skip_on_lldb_server!();
    let (server, mut rsp, pid) = start();
    let prog = fixture("threads_lib");
    let marker = symbol_addr(pid, &prog, "marker");
    let text = symbol_addr(pid, &prog, "main");
    let mut orig = Vec::new();
    for addr in [marker, text] {
        let r = request(&mut rsp, &server, &format!("m{addr:x},8"));
        let bytes = hex_decode(&r);
        assert_eq!(bytes, read_proc_mem(pid, addr, 8).unwrap());
        orig.push((addr, bytes));
    }
    for &(addr, _) in &orig {
        for packet in [
            format!("M{addr:x},1:41424344"),
            format!("M{addr:x},4:4142"),
            format!("M{addr:x},4:414"),
            format!("M{addr:x},2:414"),
            format!("M{addr:x},1:4"),
            format!("M{addr:x},2:41:42"),
            format!("X{addr:x},0:AB"),
            format!("X{addr:x},1:ABCD"),
            format!("X{addr:x},4:AB"),
            format!("X{addr:x},2:}}"),
        ] {
            let r = request(&mut rsp, &server, &packet);
            assert!(is_error(&r), "{packet} -> {r:?}: expected an error");
        }
        // The X probe gdb sends first: no data, no write.
        assert_eq!(request(&mut rsp, &server, &format!("X{addr:x},0:")), "OK");
    }
    for (addr, bytes) in &orig {
        let r = request(&mut rsp, &server, &format!("m{addr:x},8"));
        assert_eq!(&hex_decode(&r), bytes, "{addr:#x} changed (m)");
        assert_eq!(
            &read_proc_mem(pid, *addr, 8).unwrap(),
            bytes,
            "{addr:#x} changed (/proc/{pid}/mem)"
        );
    }
    assert_text_clean(pid, text, 8);
    // Well-formed writes of the declared length still land, byte for byte.
    let (_, marker_bytes) = &orig[0];
    assert_eq!(
        request(&mut rsp, &server, &format!("M{marker:x},2:4142")),
        "OK"
    );
    assert_eq!(
        request(&mut rsp, &server, &format!("X{marker:x},1:C")),
        "OK"
    );
    let mut want = marker_bytes.clone();
    want[..2].copy_from_slice(b"CB");
    assert_eq!(read_proc_mem(pid, marker, 8).unwrap(), want);
    let restore = format!("M{marker:x},8:{}", hex(marker_bytes));
    assert_eq!(request(&mut rsp, &server, &restore), "OK");
    assert_eq!(&read_proc_mem(pid, marker, 8).unwrap(), marker_bytes);
    server.assert_no_panic();
}

/// Item 7: a `$` before a packet's end starts a new packet, so a truncated packet does not
/// swallow the next one: while stopped (the packet tap) and while running (gdbstub's framer).
#[test]
fn item7_a_dollar_inside_a_packet_starts_a_new_one() {
    skip_on_lldb_server!();
    let (mut server, mut rsp, pid) = start();
    for cut in [&b"$m4000"[..], b"$m4000,4#", b"$m4000,4#3", b"$"] {
        rsp.send_raw(cut).unwrap();
        let stop = request(&mut rsp, &server, "?");
        assert!(
            is_stop(&stop),
            "? after {:?} -> {stop:?}",
            String::from_utf8_lossy(cut)
        );
    }
    skip_known_gdbserver_gap!("gdbserver 13.1 reads no packets while the program runs");
    rsp.send_raw(&frame(b"vCont;c")).unwrap();
    assert!(
        wait_until(T, || proc_state(pid) == Some('S')),
        "program did not run"
    );
    rsp.send_raw(b"$m4000").unwrap();
    let r = request(&mut rsp, &server, "qAttached");
    assert!(r == "0" || r == "1", "qAttached while running -> {r:?}");
    // An oversized packet while running is refused too, and the framer recovers.
    let r = request(&mut rsp, &server, &format!("q{}", "A".repeat(100_000)));
    assert!(is_error(&r), "oversized packet while running -> {r:?}");
    rsp.send_raw(&[0x03]).unwrap();
    let stop = rsp
        .reply(T)
        .unwrap_or_else(|e| panic!("no stop reply to ^C: {e}\n{}", server.log()));
    assert!(is_stop(&stop), "^C -> {stop}");
    assert!(server.running());
    server.assert_no_panic();
}

/// Item 8: `g` before any `H` reads the stopped thread's registers (as gdbserver does).
#[test]
fn item8_g_before_h_reads_the_stopped_thread() {
    skip_on_lldb_server!();
    let prog = fixture("threads_lib");
    let server = Server::start(Mode::Launch(&prog, &[]));
    let pid = server.inferior_pid();
    let mut rsp = Rsp::connect(&server);
    request(
        &mut rsp,
        &server,
        "qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+",
    );
    let first = request(&mut rsp, &server, "g");
    assert!(
        !is_error(&first) && first.len() >= 2 * 8 * 17,
        "g before ? and H -> {first:?}"
    );
    let pc = request(&mut rsp, &server, "p10");
    assert!(!is_error(&pc) && pc.len() == 16, "p10 before H -> {pc:?}");
    let stop = request(&mut rsp, &server, "?");
    assert!(is_stop(&stop), "? -> {stop}");
    assert_eq!(
        request(&mut rsp, &server, &format!("Hgp{pid:x}.{pid:x}")),
        "OK"
    );
    let selected = request(&mut rsp, &server, "g");
    assert_eq!(first, selected, "g before H read another thread");
    server.assert_no_panic();
}

/// Item 8: `m` replies fit the advertised PacketSize (`$`, hex data and `#XX` in 0x8000
/// bytes); a longer request gets the prefix that fits.
#[test]
fn item8_m_replies_fit_the_packet_size() {
    skip_on_lldb_server!();
    let (server, mut rsp, pid) = start();
    let supported = request(
        &mut rsp,
        &server,
        "qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+",
    );
    let size = Regex::new(r"PacketSize=([0-9a-fA-F]+)")
        .unwrap()
        .captures(&supported)
        .map(|c| usize::from_str_radix(&c[1], 16).unwrap())
        .expect("no PacketSize");
    let region = proc_maps(pid)
        .into_iter()
        .find(|m| m.perms.starts_with('r') && m.end - m.start >= 0x20000 && m.path != "[vvar]")
        .expect("no readable 128 KiB mapping");
    let want = read_proc_mem(pid, region.start, 0x10000).unwrap();
    for len in [0x3ffe, 0x4000, 0x8000, 0xffff] {
        let r = request(&mut rsp, &server, &format!("m{:x},{len:x}", region.start));
        assert!(
            r.len() + 4 <= size,
            "m of {len:#x} bytes -> a reply of {} hex digits, PacketSize {size:#x}",
            r.len()
        );
        let got = hex_decode(&r);
        assert!(
            !got.is_empty() && got.len() <= len,
            "m of {len:#x} -> {r:?}"
        );
        assert_eq!(got, want[..got.len()], "m of {len:#x}: wrong bytes");
    }
    server.assert_no_panic();
}
