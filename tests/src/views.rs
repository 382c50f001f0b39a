//! What gostub shows of goroutines, parsed: the lines and the totals line of
//! `monitor goroutines`, and gdb's `info threads` rows, where a goroutine is
//! the thread `GOROUTINE_TID_BASE + goid`, labelled `goroutine N [...]`.

use crate::go::{go_func_normalise, go_state_without_minutes, GOROUTINE_TID_BASE};
use regex::Regex;
use std::collections::BTreeSet;

/// `goroutine 17 [chan receive]: main.worker /src/app/main.go:42`
pub struct ListLine {
    pub goid: u64,
    pub state: String,
    pub func: String,
    pub file: String,
    pub line: u32,
}

/// The goroutine lines of a `monitor goroutines` reply, and its totals line
/// `SHOWN goroutines shown of TOTAL (traceback POLICY)` if there is one.
pub fn parse_goroutines_list(text: &str) -> (Vec<ListLine>, Option<(usize, usize, String)>) {
    let re = Regex::new(r"(?m)^goroutine (\d+) \[(.*)\]: (\S+) (\S+):(\d+)\s*$").unwrap();
    let lines = re
        .captures_iter(text)
        .map(|c| ListLine {
            goid: c[1].parse().unwrap(),
            state: go_state_without_minutes(&c[2]),
            func: go_func_normalise(&c[3]),
            file: c[4].to_string(),
            line: c[5].parse().unwrap(),
        })
        .collect();
    let total = Regex::new(r"(?m)^(\d+) goroutines shown of (\d+) \(traceback (\w+)\)")
        .unwrap()
        .captures(text)
        .map(|c| {
            (
                c[1].parse().unwrap(),
                c[2].parse().unwrap(),
                c[3].to_string(),
            )
        });
    (lines, total)
}

/// (lwp, label) of each thread in gdb's `info threads`: the text in parentheses after the
/// optional quoted thread name (gdb's details), or else that name (a goroutine thread's label
/// is its name, sent once: issue 9).
pub fn info_threads_rows(text: &str) -> Vec<(u64, String)> {
    let re =
        Regex::new(r#"(?m)^\*?\s+\d+\s+Thread \d+\.(\d+)(?: "([^"]*)")?(?: \((.*))?"#).unwrap();
    re.captures_iter(text)
        .map(|c| {
            let label = c.get(3).or(c.get(2)).map_or("", |m| m.as_str());
            (c[1].parse().unwrap(), label.to_string())
        })
        .collect()
}

/// The goids of the goroutine threads of an `info threads`, and the other
/// threads as (lwp, label). With `labels`, each goroutine thread must be
/// labelled with its goroutine; `ctx` goes into failure messages.
pub fn goroutine_threads(
    text: &str,
    ctx: &str,
    labels: bool,
) -> (BTreeSet<u64>, Vec<(u64, String)>) {
    let rows = info_threads_rows(text);
    assert!(!rows.is_empty(), "no threads in info threads\n{ctx}");
    let mut gs = BTreeSet::new();
    let mut others = Vec::new();
    for (lwp, label) in rows {
        if lwp >= GOROUTINE_TID_BASE {
            let goid = lwp - GOROUTINE_TID_BASE;
            assert!(
                !labels || label.starts_with(&format!("goroutine {goid} [")),
                "thread {lwp} label {label:?} does not name goroutine {goid}\n{ctx}"
            );
            assert!(gs.insert(goid), "goroutine {goid} listed twice\n{ctx}");
        } else {
            others.push((lwp, label));
        }
    }
    (gs, others)
}
