//! The goroutines view's thread set over several stops, through gdb and lldb: every thread id
//! appears once (goroutine 0, an idle thread's g0, is no goroutine thread), and on a program
//! whose goroutines are all parked and more than `--max-threads` (the `many` fixture with 300
//! goroutines against the default cap of 128), the goroutine threads are the same at every
//! stop.

use gostub_tests::*;
use std::collections::BTreeSet;

const GOROUTINES: &str = "300";
const STOPS: usize = 4;
/// gostub's default `--max-threads`.
const CAP: usize = 128;

fn many_stops(client: Client) -> (Run, Server) {
    let prog = go_fixture("many", GO_NEWEST, "default");
    let server = Server::start(Mode::Launch(&prog, &[GOROUTINES]));
    let (brk, list) = match client {
        Client::Gdb => ("break main.tick", "info threads"),
        Client::Lldb => ("breakpoint set -n main.tick", "thread list"),
    };
    let mut session = Session::new(client)
        .file(&prog)
        .connect(&server)
        .continue_to("main.checkpoint")
        .cmd(brk);
    for i in 0..STOPS {
        session = session
            .cmd("continue")
            .section(&format!("stop{i}"))
            .cmd(list);
    }
    let run = session.section("end").run();
    run.expect_finished();
    server.assert_no_panic();
    (run, server)
}

/// The thread ids a section lists, in order.
fn listed_ids(client: Client, text: &str) -> Vec<u64> {
    match client {
        Client::Gdb => info_threads_rows(text)
            .into_iter()
            .map(|(id, _)| id)
            .collect(),
        Client::Lldb => Regex::new(r"thread #\d+: tid = (\d+),")
            .unwrap()
            .captures_iter(text)
            .map(|c| c[1].parse().unwrap())
            .collect(),
    }
}

fn check_thread_set(client: Client) {
    let (run, _server) = many_stops(client);
    let ctx = run.all();
    let sections = split_sections(&ctx);
    let mut first: Option<BTreeSet<u64>> = None;
    for i in 0..STOPS {
        let text = &sections[&format!("stop{i}")];
        let ids = listed_ids(client, text);
        let unique: BTreeSet<u64> = ids.iter().copied().collect();
        assert_eq!(
            unique.len(),
            ids.len(),
            "stop {i}: a thread id is listed twice\n{ctx}"
        );
        assert!(
            !unique.contains(&GOROUTINE_TID_BASE),
            "stop {i}: goroutine 0 is a thread\n{ctx}"
        );
        let goroutines: BTreeSet<u64> = unique
            .iter()
            .filter(|&&id| id >= GOROUTINE_TID_BASE)
            .map(|id| id - GOROUTINE_TID_BASE)
            .collect();
        assert_eq!(goroutines.len(), CAP, "stop {i}: goroutine threads\n{ctx}");
        match &first {
            None => first = Some(goroutines),
            Some(f) => assert_eq!(
                f, &goroutines,
                "stop {i}: the goroutine threads changed though no goroutine started or exited\n{ctx}"
            ),
        }
    }
}

#[test]
fn gdb_thread_ids_are_unique_and_goroutine_threads_stable_across_stops() {
    skip_unless_gostub!();
    check_thread_set(Client::Gdb);
}

#[test]
fn lldb_thread_ids_are_unique_and_goroutine_threads_stable_across_stops() {
    skip_unless_gostub!();
    check_thread_set(Client::Lldb);
}
