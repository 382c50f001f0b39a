//! gdb's stop path against gostub: a `continue` + `bt` round costs no `g` (the stop reply
//! expedites every general register) and one `qXfer:threads:read` instead of the
//! `qfThreadInfo`/`qsThreadInfo` pair, and `info threads` shows the names that document
//! gives (a goroutine thread's label, an OS thread's comm) without any `qThreadExtraInfo`.
//! Packets are counted from gdb's `set debug remote 1` log.

use gostub_tests::*;

/// The payloads gdb sent in `text` (a `set debug remote 1` log), in order.
fn sent(text: &str) -> Vec<String> {
    Regex::new(r"Sending packet: \$([^#]*)#")
        .unwrap()
        .captures_iter(text)
        .map(|c| c[1].to_string())
        .collect()
}

/// `many` with `goroutines` parked goroutines stopped at main.checkpoint through gdb, then
/// `cmds` with gdb's remote debug log on.
fn many_session(goroutines: &str, cmds: &[&str]) -> Run {
    let prog = go_fixture("many", GO_NEWEST, "default");
    let server = Server::start(Mode::Launch(&prog, &[goroutines]));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .continue_to("main.checkpoint")
        .cmd("break main.tick")
        .cmd("set debug remote 1")
        .cmds(cmds.iter().copied())
        .cmd("set debug remote 0")
        .run();
    run.expect_finished();
    server.assert_no_panic();
    run
}

/// The thread list fits one `qXfer:threads` request (4 KiB) with a few dozen threads.
#[test]
fn gdb_stop_round_sends_no_g_and_one_thread_list_packet() {
    skip_unless_gostub!();
    let run = many_session("20", &["continue", "bt"].repeat(3));
    run.expect(&[r"#0\s+main\.tick", r"#1\s+0x[0-9a-f]+ in main\.main"]);
    let packets = sent(&run.all());
    let starts: Vec<usize> = (0..packets.len())
        .filter(|&i| packets[i].starts_with("vCont;c"))
        .collect();
    assert!(starts.len() >= 3, "continues: {packets:?}");
    // A round: from one `vCont;c` to the next (the last one runs to the end of the log).
    let mut bounds = starts.clone();
    bounds.push(packets.len());
    for w in bounds[1..].windows(2) {
        let round = &packets[w[0]..w[1]];
        assert!(
            !round.iter().any(|p| p == "g"),
            "a round read all registers: {round:?}"
        );
        assert!(
            !round.iter().any(|p| p.starts_with("qfThreadInfo")),
            "a round listed threads with qfThreadInfo: {round:?}"
        );
        let lists = round
            .iter()
            .filter(|p| p.starts_with("qXfer:threads:read"))
            .count();
        assert_eq!(lists, 1, "thread list packets in a round: {round:?}");
    }
}

#[test]
fn gdb_info_threads_shows_names_from_qxfer_threads() {
    skip_unless_gostub!();
    let run = many_session(
        "300",
        &["info threads", "monitor threads os", "info threads"],
    );
    let all = run.all();
    // Goroutine threads are named by their label, sent once (issue 9): no extra info repeats it.
    run.expect(&[
        r#"(?m)^\*?\s+\d+\s+Thread \d+\.\d+ "goroutine 1 \[running\] main\.checkpoint""#,
        r#"(?m)^\s+\d+\s+Thread \d+\.\d+ "goroutine \d+ \[[^\]]+\] \S+""#,
    ]);
    run.expect_not(&[r#"Thread \d+\.\d+ "goroutine [^"]*" \(goroutine"#]);
    // OS threads by their comm (the program's name, cut to 15 bytes by the kernel).
    let prog = go_fixture("many", GO_NEWEST, "default");
    let name = prog.file_name().unwrap().to_string_lossy();
    let comm: String = name.chars().take(15).collect();
    assert!(
        run.count(&format!(
            r#"(?m)^\*?\s+\d+\s+Thread \d+\.\d+ "{}""#,
            regex::escape(&comm)
        )) >= 2,
        "no OS thread named {comm:?}\n{all}"
    );
    let packets = sent(&all);
    assert!(
        !packets.iter().any(|p| p.starts_with("qThreadExtraInfo")),
        "gdb asked qThreadExtraInfo: {packets:?}"
    );
    assert!(
        packets.iter().any(|p| p.starts_with("qXfer:threads:read")),
        "no qXfer:threads: {packets:?}"
    );
}

/// Issue 9: `qXfer:threads:read` sent each goroutine thread's label twice (its `name` and, as
/// the element's text, its extra info), so 128 goroutine threads took four 4 KiB requests at
/// every stop. The label is sent once, and the list of 128 goroutine threads takes three.
#[test]
fn issue9_thread_list_sends_each_goroutine_label_once() {
    skip_unless_gostub!();
    let run = many_session(
        "300",
        &["set debug remote-packet-max-chars unlimited", "continue"],
    );
    let all = run.all();
    let last_resume = all.rfind("Sending packet: $vCont;c").expect("a continue");
    let stop = &all[last_resume..];
    let requests = sent(stop)
        .iter()
        .filter(|p| p.starts_with("qXfer:threads:read"))
        .count();
    let doc: String = Regex::new(r"Packet received: [ml](<.*|[^<\n].*)")
        .unwrap()
        .captures_iter(stop)
        .map(|c| c[1].to_string())
        .collect();
    let goroutines =
        Regex::new(r#"<thread id="p[0-9a-f]+\.4[0-9a-f]{7}" name="goroutine \d+ [^"]*"/>"#)
            .unwrap()
            .find_iter(&doc)
            .count();
    assert_eq!(
        goroutines, 128,
        "goroutine threads in the list\n{doc}\n{all}"
    );
    assert!(
        !doc.contains("\">goroutine "),
        "a goroutine label sent twice\n{doc}"
    );
    assert!(requests <= 3, "{requests} qXfer:threads requests\n{doc}");
}

/// Issue 9: in the os view every stop's thread list labels each OS thread with the goroutine it
/// runs, and that label listed every goroutine of the program (94 ms a stop with 100,000). Now
/// a stop decodes only what the threads run: with 10,000 goroutines the stop after `continue`
/// serves a few KiB of target memory, not the megabytes that hold their g structs.
#[test]
fn issue9_os_view_stop_lists_no_goroutines() {
    skip_unless_gostub!();
    let prog = go_fixture("many", GO_NEWEST, "default");
    let server = Server::start_with(&["--threads", "os"], Mode::Launch(&prog, &["10000"]));
    let run = Session::gdb()
        .file(&prog)
        .connect(&server)
        .continue_to("main.checkpoint")
        .cmd("break main.tick")
        .cmd("continue")
        .cmd("monitor stats")
        .cmd("info threads")
        .run();
    run.expect_finished();
    server.assert_no_panic();
    let all = run.all();
    let served: u64 = Regex::new(r"last stop: .* (\d+) bytes served")
        .unwrap()
        .captures(&all)
        .unwrap_or_else(|| panic!("no monitor stats\n{all}"))[1]
        .parse()
        .unwrap();
    assert!(served < 256 << 10, "{served} bytes read at the stop\n{all}");
    // The labels still name the goroutine a thread runs.
    let main_label = info_threads_rows(&all)
        .into_iter()
        .any(|(_, label)| label.starts_with("goroutine 1 [running] main.tick"));
    assert!(main_label, "no OS thread labelled with goroutine 1\n{all}");
}
