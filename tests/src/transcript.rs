//! A debugger transcript cut into named sections: a test puts a marker line
//! `@@S name` between its commands (`Session::section`) and looks at each
//! section alone. lldb echoes the marker command itself, as
//! `(lldb) script print("@@S name")`; those echo lines are skipped.

use std::collections::BTreeMap;

/// The last `n` bytes of `s` (from a char boundary), for failure messages.
pub fn tail(s: &str, n: usize) -> &str {
    if s.len() <= n {
        s
    } else {
        let mut i = s.len() - n;
        while !s.is_char_boundary(i) {
            i += 1;
        }
        &s[i..]
    }
}

/// Splits a transcript at lines `@@S name`: each section holds the lines up
/// to the next marker. Lines before the first marker belong to none.
pub fn split_sections(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut cur: Option<String> = None;
    let mut buf = String::new();
    for l in text.lines() {
        if l.starts_with("(lldb) ") && l.contains("@@S ") {
            continue;
        }
        if let Some(name) = l.strip_prefix("@@S ") {
            if let Some(c) = cur.take() {
                out.insert(c, std::mem::take(&mut buf));
            }
            cur = Some(name.trim().to_string());
        } else if cur.is_some() {
            buf.push_str(l);
            buf.push('\n');
        }
    }
    if let Some(c) = cur {
        out.insert(c, buf);
    }
    out
}
