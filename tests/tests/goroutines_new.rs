//! `goroutines -new` (leak hunting): the goroutines created since the
//! previous stop's listing and the count of those that exited, through the
//! gdb and lldb helpers (`scripts/gdbinit`, `scripts/gostub_lldb.py`), on the
//! `leak` fixture stopped twice at main.tick: between the stops main.leakSome
//! started N goroutines that never end and the M started by main.startShort
//! at the first tick exited.

use gostub_tests::*;
use std::collections::BTreeMap;

const N: usize = 7;
const M: usize = 4;

/// One session: stop at main.tick, list (the previous listing), continue to
/// the next tick, then the `-new` listings in sections.
fn session(client: Client, version: &str) -> (String, BTreeMap<String, String>) {
    let prog = go_fixture("leak", version, "default");
    let (n, m) = (N.to_string(), M.to_string());
    let server = Server::start(Mode::Launch(&prog, &[&n, &m]));
    let script = workspace_root().join(match client {
        Client::Gdb => "scripts/gdbinit",
        Client::Lldb => "scripts/gostub_lldb.py",
    });
    let load = match client {
        Client::Gdb => format!("source {}", script.display()),
        Client::Lldb => format!("command script import {}", script.display()),
    };
    let run = Session::new(client)
        .file(&prog)
        .cmd(load)
        .cmd(format!("gostub-connect {}", server.port))
        .continue_to("main.tick")
        .section("first")
        .cmd("goroutines -group go")
        .cmd("continue")
        .section("new-group-go")
        .cmd("goroutines -new -group go")
        .section("new")
        .cmd("goroutines -new")
        .section("new-filtered")
        .cmd("goroutines -new -f main.short")
        .section("all-group-go")
        .cmd("goroutines -group go")
        .section("end")
        .timeout(std::time::Duration::from_secs(90))
        .run();
    run.expect_finished();
    server.assert_no_panic();
    (run.all(), split_sections(&run.all()))
}

fn check(client: Client, version: &str) {
    let (all, s) = session(client, version);
    let sec = |name: &str| {
        s.get(name)
            .unwrap_or_else(|| panic!("no section {name} in:\n{all}"))
    };
    let group_re = Regex::new(r"(?m)^(\d+) @ (\S+) \S+:\d+$").unwrap();
    let groups = |name: &str| -> Vec<(usize, String)> {
        group_re
            .captures_iter(sec(name))
            .map(|c| (c[1].parse().unwrap(), c[2].to_string()))
            .collect()
    };
    // The first stop had both sites' goroutines alive.
    let first = groups("first");
    assert!(
        first.contains(&(N, "main.leakSome".to_string()))
            && first.contains(&(M, "main.startShort".to_string())),
        "first stop's groups: {first:?}\n{all}"
    );
    // Since then: exactly the leaking site, N goroutines, and the M short ones exited.
    assert_eq!(
        groups("new-group-go"),
        [(N, "main.leakSome".to_string())],
        "-new -group go\n{all}"
    );
    let exited = format!("(?m)^{M} goroutines exited since the previous listing$");
    for name in ["new-group-go", "new", "new-filtered"] {
        assert!(
            Regex::new(&exited).unwrap().is_match(sec(name)),
            "{name}: no /{exited}/\n{all}"
        );
    }
    let (lines, _) = parse_goroutines_list(sec("new"));
    assert_eq!(lines.len(), N, "-new lines\n{all}");
    assert!(
        Regex::new(&format!(r"(?m)^{N} goroutines shown of \d+"))
            .unwrap()
            .is_match(sec("new")),
        "-new totals\n{all}"
    );
    // Filters apply to the new ones: no main.short goroutine is new.
    assert!(
        Regex::new(r"(?m)^0 goroutines shown of \d+")
            .unwrap()
            .is_match(sec("new-filtered")),
        "-new -f main.short\n{all}"
    );
    // Without -new every leaked goroutine is there, and no exited line.
    let every = groups("all-group-go");
    assert!(
        every.contains(&(2 * N, "main.leakSome".to_string())),
        "{every:?}\n{all}"
    );
    assert!(!sec("all-group-go").contains("exited"), "{all}");
}

#[test]
fn gdb_goroutines_new_names_the_leaking_go_statement() {
    skip_unless_gostub!();
    for version in [GO_OLDEST, GO_NEWEST] {
        check(Client::Gdb, version);
    }
}

#[test]
fn lldb_goroutines_new_names_the_leaking_go_statement() {
    skip_unless_gostub!();
    for version in [GO_OLDEST, GO_NEWEST] {
        check(Client::Lldb, version);
    }
}
