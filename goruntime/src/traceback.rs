//! Traceback policy and runtime-style rendering (reference §5).
//!
//! `Policy` mirrors GOTRACEBACK: none (level 0), single/all (level 1), system/crash (level 2).
//! Frame filtering is the runtime's `showframe`/`showfuncinfo`: at level ≥ 2 everything; else
//! wrappers are hidden unless they called gopanic/sigpanic/panicwrap, `runtime.gopanic` is shown
//! when not first, and a name is shown iff it contains '.' and is not a private `runtime.` name
//! (`isExportedRuntime`: Go ≤ 1.22 only looks at the first letter after `runtime.`, 1.23+ also
//! requires an exported receiver type). If nothing would be shown, all frames are shown.
//! Rendering quirks: Go 1.21+ prints the first 50 and last 50 logical frames with
//! "...N frames elided...", 1.19/1.20 stop after 100 physical frames with
//! "...additional frames elided..."; "created by F in goroutine N" gains " in goroutine N" in
//! 1.21; level-2 headers gain "gp=… m=… mp=…" in 1.22; generic shapes print as `[...]` (1.21+);
//! gopanic prints as `panic`. Arguments are printed as `...`.

use crate::binary::GoBinary;
use crate::goroutine::{GStatus, Goroutine};
use crate::{Frame, FrameSym};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// GOTRACEBACK-like policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    None,
    Single,
    #[default]
    All,
    System,
    Crash,
}

impl Policy {
    /// The runtime's traceback level.
    pub fn level(self) -> u32 {
        match self {
            Policy::None => 0,
            Policy::Single | Policy::All => 1,
            Policy::System | Policy::Crash => 2,
        }
    }
}

impl FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "none" | "0" => Ok(Policy::None),
            "single" | "" => Ok(Policy::Single),
            "all" | "1" => Ok(Policy::All),
            "system" | "2" => Ok(Policy::System),
            "crash" => Ok(Policy::Crash),
            other => Err(format!(
                "unknown traceback policy {other:?} (none, single, all, system, crash)"
            )),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::None => "none",
            Policy::Single => "single",
            Policy::All => "all",
            Policy::System => "system",
            Policy::Crash => "crash",
        })
    }
}

/// `FuncIDWrapper` per version (1.19–1.21: 21, 1.22–1.24: 22, 1.25+: 23).
pub fn func_id_wrapper(minor: u32) -> u8 {
    match minor {
        0..=21 => 21,
        22..=24 => 22,
        _ => 23,
    }
}

/// The runtime's `isExportedRuntime`.
pub fn is_exported_runtime(name: &str, minor: u32) -> bool {
    let Some(rest) = name.strip_prefix("runtime.") else {
        return false;
    };
    if minor <= 22 {
        return rest
            .as_bytes()
            .first()
            .is_some_and(|c| c.is_ascii_uppercase());
    }
    let (mut rcvr, fname) = rest.rsplit_once('.').unwrap_or(("", rest));
    if let Some(inner) = rcvr.strip_prefix("(*").and_then(|r| r.strip_suffix(')')) {
        rcvr = inner;
    }
    let exported = |s: &str| s.as_bytes().first().is_some_and(|c| c.is_ascii_uppercase());
    exported(fname) && (rcvr.is_empty() || exported(rcvr))
}

/// The runtime's `showfuncinfo` for one logical frame.
pub fn show_func(
    name: &str,
    func_id: u8,
    first: bool,
    callee: Option<&str>,
    level: u32,
    minor: u32,
) -> bool {
    if level > 1 {
        return true;
    }
    if func_id == func_id_wrapper(minor) {
        let panicking = matches!(
            callee,
            Some("runtime.gopanic" | "runtime.sigpanic" | "runtime.panicwrap")
        );
        if !panicking {
            return false;
        }
    }
    if name == "runtime.gopanic" && !first {
        return true;
    }
    name.contains('.') && (!name.starts_with("runtime.") || is_exported_runtime(name, minor))
}

/// The first of `syms` (the logical frames of one physical frame, innermost first) that
/// traceback level `level` shows, when no frame inside them is shown (as [`shown_indices`]
/// judges them: each by itself and its callee; `callee` is the frame inside the first).
pub(crate) fn first_shown_of<'s>(
    syms: &'s [Arc<FrameSym>],
    mut callee: Option<&'s str>,
    level: u32,
    minor: u32,
) -> Option<&'s Arc<FrameSym>> {
    syms.iter().find(|s| {
        let shown = show_func(&s.function, s.func_id, true, callee, level, minor);
        callee = Some(&s.function);
        shown
    })
}

/// Indices of frames the policy shows, in order. A goroutine walked only to its first shown
/// frame ([`Goroutine::top_only`]) has just that one.
fn shown_indices(bin: &GoBinary, g: &Goroutine, level: u32) -> Vec<usize> {
    if g.top_only.is_some() {
        return (0..g.frames.len()).collect();
    }
    let minor = bin.version().minor;
    let mut out = Vec::new();
    let mut callee: Option<&str> = None;
    for (i, f) in g.frames.iter().enumerate() {
        if show_func(&f.function, f.func_id, out.is_empty(), callee, level, minor) {
            out.push(i);
        }
        callee = Some(&f.function);
    }
    if out.is_empty() {
        out = (0..g.frames.len()).collect();
    }
    out
}

/// Frames the policy shows.
pub fn visible_frames<'a>(bin: &GoBinary, g: &'a Goroutine, policy: Policy) -> Vec<&'a Frame> {
    if policy == Policy::None {
        return Vec::new();
    }
    shown_indices(bin, g, policy.level())
        .into_iter()
        .filter_map(|i| g.frames.get(i))
        .collect()
}

/// Whether the goroutine is listed under the policy: system goroutines only from `system`;
/// `none` lists nothing; `single` lists only goroutines running on an OS thread.
pub fn is_shown(_bin: &GoBinary, g: &Goroutine, policy: Policy) -> bool {
    if g.status.is_dead() {
        return false;
    }
    match policy {
        Policy::None => false,
        Policy::Single => !g.system && g.thread.is_some(),
        Policy::All => !g.system,
        Policy::System | Policy::Crash => true,
    }
}

/// Header line as the runtime prints it at level 1, e.g. `goroutine 17 [chan receive, 3 minutes]:`.
pub fn header_line(g: &Goroutine) -> String {
    header(g, None)
}

fn header(g: &Goroutine, level2: Option<()>) -> String {
    let mut s = format!("goroutine {}", g.goid);
    if level2.is_some() {
        s.push_str(&format!(" gp={:#x}", g.g_addr));
        match (g.m_addr, g.m_id) {
            (0, _) => s.push_str(" m=nil"),
            (m, Some(id)) => s.push_str(&format!(" m={id} mp={m:#x}")),
            (m, None) => s.push_str(&format!(" m=? mp={m:#x}")),
        }
    }
    let status = match (&g.wait_reason, g.status) {
        (Some(r), GStatus::Waiting | GStatus::Leaked) => r.to_string(),
        _ => g.status.as_str().to_string(),
    };
    s.push_str(" [");
    s.push_str(&status);
    if g.status == GStatus::Leaked {
        s.push_str(" (leaked)");
    }
    if g.scan {
        s.push_str(" (scan)");
    }
    if let Some(m) = g.wait_minutes {
        s.push_str(&format!(", {m} minutes"));
    }
    if g.locked_to_thread {
        s.push_str(", locked to thread");
    }
    s.push_str("]:");
    s
}

/// `funcNameForPrint` (1.21+) plus `gopanic` → `panic`.
pub fn print_name(name: &str, minor: u32) -> String {
    if name == "runtime.gopanic" {
        return "panic".into();
    }
    if minor >= 21 {
        if let (Some((head, _)), Some((_, tail))) = (name.split_once('['), name.rsplit_once(']')) {
            if head.len() < name.len().saturating_sub(tail.len()) {
                return format!("{head}[...]{tail}");
            }
        }
    }
    name.to_string()
}

fn render_frame(out: &mut String, f: &Frame, level: u32, minor: u32) {
    out.push_str(&print_name(&f.function, minor));
    out.push_str("(...)\n\t");
    out.push_str(&format!("{}:{}", f.file, f.line));
    if !f.inlined {
        if let Some(off) = f.pc.checked_sub(f.entry).filter(|&off| off > 0) {
            out.push_str(&format!(" +{off:#x}"));
        }
        if level >= 2 {
            out.push_str(&format!(" fp={:#x} sp={:#x} pc={:#x}", f.fp, f.sp, f.pc));
        }
    }
    out.push('\n');
}

/// The runtime's traceback block for one goroutine: header, frames, "created by".
pub fn render_traceback(bin: &GoBinary, g: &Goroutine, policy: Policy) -> String {
    let level = policy.level();
    if level == 0 {
        return String::new();
    }
    let minor = bin.version().minor;
    let mut out = header(g, (level >= 2 && minor >= 22).then_some(()));
    out.push('\n');
    if g.frames.is_empty() {
        if g.status == GStatus::Running {
            out.push_str("\tgoroutine running on other thread; stack unavailable\n");
        } else if let Some(e) = &g.error {
            out.push_str(&format!("\t[stack unavailable: {e}]\n"));
        }
    } else {
        let idx = shown_indices(bin, g, level);
        if minor >= 21 {
            const INNER: usize = 50;
            const OUTER: usize = 50;
            let total = idx.len();
            let head = total.min(INNER);
            let frames = |from: usize, to: usize| {
                idx.get(from..to)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|&i| g.frames.get(i))
            };
            for f in frames(0, head) {
                render_frame(&mut out, f, level, minor);
            }
            if let Some(rest) = total.checked_sub(INNER).filter(|&r| r > 0) {
                let from = match rest.checked_sub(OUTER).filter(|&e| e > 0) {
                    Some(elided) => {
                        out.push_str(&format!("...{elided} frames elided...\n"));
                        total.saturating_sub(OUTER)
                    }
                    None => INNER,
                };
                for f in frames(from, total) {
                    render_frame(&mut out, f, level, minor);
                }
            }
        } else {
            // Go 1.19/1.20: at most 100 physical frames.
            const MAX: usize = 100;
            let mut printed = 0usize;
            for &i in &idx {
                let (Some(before), Some(f)) = (g.frames.get(..i), g.frames.get(i)) else {
                    continue;
                };
                // Physical index: non-inlined frames before this one.
                let phys = before.iter().filter(|x| !x.inlined).count();
                if phys >= MAX {
                    break;
                }
                render_frame(&mut out, f, level, minor);
                printed = printed.saturating_add(1);
            }
            if printed == MAX {
                out.push_str("...additional frames elided...\n");
            }
        }
    }
    if let Some(created) = created_by(bin, g, level) {
        out.push_str(&created);
    }
    out
}

/// The "created by" lines, when the runtime would print them.
fn created_by(bin: &GoBinary, g: &Goroutine, level: u32) -> Option<String> {
    if g.goid == 1 || g.gopc == 0 {
        return None;
    }
    let t = bin.pclntab();
    let f = t.find_func(g.gopc)?;
    let name = t.func_name(&f);
    let minor = bin.version().minor;
    if !show_func(&name, f.func_id, false, None, level, minor) {
        return None;
    }
    let mut s = format!("created by {}", print_name(&name, minor));
    if minor >= 21 {
        if let Some(p) = g.parent_goid.filter(|&p| p != 0) {
            s.push_str(&format!(" in goroutine {p}"));
        }
    }
    s.push('\n');
    let off = g.gopc.checked_sub(f.entry).filter(|&off| off > 0);
    let tracepc = if off.is_some() {
        g.gopc.wrapping_sub(1)
    } else {
        g.gopc
    };
    let (file, line) = t.file_line(&f, tracepc);
    s.push_str(&format!("\t{file}:{line}"));
    if let Some(off) = off {
        s.push_str(&format!(" +{off:#x}"));
    }
    s.push('\n');
    Some(s)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn exported_runtime_rules() {
        assert!(is_exported_runtime("runtime.Gosched", 22));
        assert!(!is_exported_runtime("runtime.gopark", 27));
        assert!(!is_exported_runtime("runtime.(*Func).Name", 22));
        assert!(is_exported_runtime("runtime.(*Func).Name", 23));
        assert!(!is_exported_runtime("runtime.(*scavengerState).park", 27));
        assert!(!is_exported_runtime("runtime.(*scavengerState).Park", 27));
        assert!(!is_exported_runtime("sync.Foo", 27));
    }

    #[test]
    fn showframe_rules() {
        assert!(show_func("main.main", 0, true, None, 1, 27));
        assert!(!show_func("runtime.gopark", 0, true, None, 1, 27));
        assert!(show_func("runtime.gopark", 0, true, None, 2, 27));
        assert!(show_func(
            "internal/sync.runtime_SemacquireMutex",
            0,
            true,
            None,
            1,
            27
        ));
        assert!(!show_func(
            "main.main.gowrap1",
            23,
            false,
            Some("main.f"),
            1,
            27
        ));
        assert!(show_func(
            "main.main.gowrap1",
            23,
            false,
            Some("runtime.gopanic"),
            1,
            27
        ));
        assert!(show_func("runtime.gopanic", 0, false, None, 1, 27));
        assert!(!show_func("runtime.gopanic", 0, true, None, 1, 27));
        assert!(!show_func("nodot", 0, false, None, 1, 27));
    }

    #[test]
    fn policy_parse_display() {
        for p in ["none", "single", "all", "system", "crash"] {
            assert_eq!(p.parse::<Policy>().unwrap().to_string(), p);
        }
        assert!("bogus".parse::<Policy>().is_err());
        assert_eq!(Policy::default(), Policy::All);
    }

    #[test]
    fn header_forms() {
        let g = Goroutine {
            goid: 17,
            status: GStatus::Waiting,
            wait_reason: Some("chan receive".into()),
            wait_minutes: Some(3),
            locked_to_thread: true,
            ..Default::default()
        };
        assert_eq!(
            header_line(&g),
            "goroutine 17 [chan receive, 3 minutes, locked to thread]:"
        );
        let g = Goroutine {
            goid: 1,
            status: GStatus::Running,
            ..Default::default()
        };
        assert_eq!(header_line(&g), "goroutine 1 [running]:");
        assert_eq!(print_name("main.F[go.shape.int]", 27), "main.F[...]");
        assert_eq!(print_name("runtime.gopanic", 19), "panic");
    }
}
