//! `monitor goroutines`: its options (`-s`, `-w`, `-f`, `-l`, `-new`, `-group`, `-n`) and its
//! text, one line per goroutine (the runtime's header and the top shown frame) or one per group.
//!
//! `-new` keeps the goroutines whose goid was not alive at the process's previous listing (goids
//! are never reused; a g struct is, by a later goroutine with a new goid), and adds a line
//! counting the goroutines of that listing that are gone now (every one, whatever the filters:
//! only their goids are kept).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use goruntime::{Depth, GoBinary, Goroutine, Policy};

/// Appends `function file:line` of the first frame the policy shows to `out`.
fn write_top_frame(out: &mut String, bin: &GoBinary, g: &Goroutine, policy: Policy) {
    let _ = match goruntime::visible_frames(bin, g, policy).first() {
        Some(f) => write!(out, "{} {}:{}", f.function, f.file, f.line),
        None => match &g.error {
            Some(e) => write!(out, "{e}"),
            None => Ok(()),
        },
    };
}

/// A `monitor goroutines` option that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("{0} needs a value")]
    NeedsValue(String),
    #[error("-l takes KEY=VALUE")]
    LabelForm,
    #[error("-n takes a number")]
    Limit(#[source] std::num::ParseIntError),
    #[error("-group takes top, start, go or wait, not {0}")]
    Group(String),
    #[error("unknown option {0}; see 'monitor help'")]
    Unknown(String),
}

/// Filters of `monitor goroutines`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    status: Option<String>,
    wait: Option<String>,
    func: Option<String>,
    label: Option<(String, String)>,
    new: bool,
    group: Option<GroupBy>,
    limit: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupBy {
    TopFrame,
    StartFunction,
    GoStatement,
    WaitReason,
}

impl ListFilter {
    pub fn parse<'a>(mut words: impl Iterator<Item = &'a str>) -> Result<ListFilter, FilterError> {
        let mut f = ListFilter::default();
        while let Some(flag) = words.next() {
            let mut value = || {
                words
                    .next()
                    .map(str::to_string)
                    .ok_or_else(|| FilterError::NeedsValue(flag.to_string()))
            };
            match flag {
                "-s" => f.status = Some(value()?),
                "-w" => f.wait = Some(value()?),
                "-f" => f.func = Some(value()?),
                "-l" => {
                    let v = value()?;
                    let (k, val) = v.split_once('=').ok_or(FilterError::LabelForm)?;
                    f.label = Some((k.to_string(), val.to_string()));
                }
                "-new" => f.new = true,
                "-n" => f.limit = Some(value()?.parse().map_err(FilterError::Limit)?),
                "-group" => {
                    f.group = Some(match value()?.as_str() {
                        "top" => GroupBy::TopFrame,
                        "start" => GroupBy::StartFunction,
                        "go" => GroupBy::GoStatement,
                        "wait" => GroupBy::WaitReason,
                        other => return Err(FilterError::Group(other.to_string())),
                    })
                }
                other => return Err(FilterError::Unknown(other.to_string())),
            }
        }
        Ok(f)
    }

    /// How far the goroutines' walks go for this listing under `policy`: every frame for `-f`,
    /// the first shown one for a line or `-group top`, none for the other groups.
    pub fn depth(&self, policy: Policy) -> Option<Depth> {
        match (&self.func, self.group) {
            (Some(_), _) => Some(Depth::Full),
            (None, None | Some(GroupBy::TopFrame)) => Some(Depth::FirstShown(policy.level())),
            (None, Some(_)) => None,
        }
    }

    /// How many goroutines' walks the text needs when that is not every listed one's: the `-n`
    /// lines of a plain listing (without `-f` and `-group`, which goroutines are listed does not
    /// depend on their frames).
    pub fn lines_walked(&self) -> Option<usize> {
        match (&self.func, self.group) {
            (None, None) => self.limit,
            _ => None,
        }
    }

    /// Whether `g` is listed: the policy shows it, the filters keep it and, with `-new`, its goid
    /// is not among `earlier`'s (the sorted goids of the previous listing).
    pub fn lists(
        &self,
        bin: &GoBinary,
        g: &Goroutine,
        policy: Policy,
        earlier: Option<&[u64]>,
    ) -> bool {
        let is_new = !self.new || earlier.is_none_or(|e| e.binary_search(&g.goid).is_err());
        goruntime::is_shown(bin, g, policy) && self.matches(g) && is_new
    }

    /// `-s`, `-w` and `-f` match substrings (like grep); `-l` matches a label exactly.
    fn matches(&self, g: &Goroutine) -> bool {
        self.status.as_ref().is_none_or(|s| {
            let status = g.status.to_string();
            let state = g.wait_reason.as_deref().unwrap_or(&status);
            status.contains(s.as_str()) || state.contains(s.as_str())
        }) && self.wait.as_ref().is_none_or(|w| {
            g.wait_reason
                .as_deref()
                .is_some_and(|r| r.contains(w.as_str()))
        }) && self
            .func
            .as_ref()
            .is_none_or(|f| g.frames.iter().any(|fr| fr.function.contains(f.as_str())))
            && self
                .label
                .as_ref()
                .is_none_or(|(k, v)| g.labels.iter().any(|(lk, lv)| lk == k && lv == v))
    }
}

fn pc_name(bin: &GoBinary, pc: u64) -> String {
    match goruntime::symbolize(bin, pc) {
        Some((func, file, line)) => format!("{func} {file}:{line}"),
        None => format!("{pc:#x}"),
    }
}

/// The goids of `list`'s goroutines that are not dead, sorted (what `-new` keeps of a listing).
pub(super) fn alive_goids(list: &[Goroutine]) -> Vec<u64> {
    let mut goids: Vec<u64> = list
        .iter()
        .filter(|g| !g.status.is_dead())
        .map(|g| g.goid)
        .collect();
    goids.sort_unstable();
    goids
}

/// The goroutines of `earlier` (sorted goids) that are not alive in `list`.
fn exited_since(earlier: &[u64], list: &[Goroutine]) -> usize {
    let alive = alive_goids(list);
    earlier
        .iter()
        .filter(|goid| alive.binary_search(goid).is_err())
        .count()
}

/// Text of a listing is handed on in pieces of about this many bytes, each ending a line.
const PIECE: usize = 16 * 1024;

/// The text of `monitor goroutines`, handed to `sink` in pieces of about [`PIECE`] bytes that
/// end lines (a million lines are never held at once). `earlier` is the sorted goids alive at
/// the process's previous listing, if it had one (what `-new` compares with).
pub fn list_text(
    bin: &GoBinary,
    list: &[Goroutine],
    policy: Policy,
    filter: &ListFilter,
    earlier: Option<&[u64]>,
    sink: &mut dyn FnMut(&str),
) {
    let shown: Vec<&Goroutine> = list
        .iter()
        .filter(|g| filter.lists(bin, g, policy, earlier))
        .collect();
    // Lines are about 80 bytes (a function and a path): room for a piece and a line.
    let mut out = String::with_capacity(PIECE + 1024);
    if let Some(by) = filter.group {
        let mut groups: BTreeMap<String, usize> = BTreeMap::new();
        for g in &shown {
            let key = match by {
                GroupBy::TopFrame => {
                    let mut key = String::new();
                    write_top_frame(&mut key, bin, g, policy);
                    key
                }
                GroupBy::StartFunction => pc_name(bin, g.startpc),
                GroupBy::GoStatement => pc_name(bin, g.gopc),
                GroupBy::WaitReason => g
                    .wait_reason
                    .as_deref()
                    .map_or_else(|| g.status.to_string(), str::to_string),
            };
            *groups.entry(key).or_default() += 1;
        }
        let mut sorted: Vec<(String, usize)> = groups.into_iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for (key, count) in sorted.iter().take(filter.limit.unwrap_or(usize::MAX)) {
            let _ = writeln!(out, "{count} @ {key}");
        }
    } else {
        let limit = filter.limit.unwrap_or(usize::MAX);
        for g in shown.iter().take(limit) {
            out.push_str(&goruntime::header_line(g));
            out.push(' ');
            write_top_frame(&mut out, bin, g, policy);
            out.push('\n');
            if out.len() >= PIECE {
                sink(&out);
                out.clear();
            }
        }
    }
    if filter.group.is_none() && shown.len() > filter.limit.unwrap_or(usize::MAX) {
        let more = shown.len() - filter.limit.unwrap_or(0);
        let _ = writeln!(out, "... {more} more not listed (-n)");
    }
    if filter.new {
        let _ = match earlier {
            Some(e) => writeln!(
                out,
                "{} goroutines exited since the previous listing",
                exited_since(e, list)
            ),
            None => writeln!(
                out,
                "no earlier listing of this process: every goroutine is new"
            ),
        };
    }
    let _ = write!(
        out,
        "{} goroutines shown of {} (traceback {policy})",
        shown.len(),
        list.len()
    );
    sink(&out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ListFilter, FilterError> {
        ListFilter::parse(s.split_whitespace())
    }

    #[test]
    fn options_are_parsed() {
        let f = parse("-s wait -w chan -f main. -l k=v -new -group top -n 5").unwrap();
        assert_eq!(
            f,
            ListFilter {
                status: Some("wait".into()),
                wait: Some("chan".into()),
                func: Some("main.".into()),
                label: Some(("k".into(), "v".into())),
                new: true,
                group: Some(GroupBy::TopFrame),
                limit: Some(5),
            }
        );
        assert_eq!(parse("").unwrap(), ListFilter::default());
        assert_eq!(
            parse("-group go").unwrap().group,
            Some(GroupBy::GoStatement)
        );
    }

    /// Issue 13: `-n N` walks only the goroutines of its N lines, unless a filter or a group
    /// needs every walk.
    #[test]
    fn only_a_plain_listing_walks_just_its_lines() {
        assert_eq!(parse("-n 5").unwrap().lines_walked(), Some(5));
        assert_eq!(parse("-s wait -n 5").unwrap().lines_walked(), Some(5));
        assert_eq!(parse("-n 5 -f main.").unwrap().lines_walked(), None);
        assert_eq!(parse("-group top -n 3").unwrap().lines_walked(), None);
        assert_eq!(parse("").unwrap().lines_walked(), None);
    }

    #[test]
    fn bad_options_say_what_is_wrong() {
        assert_eq!(parse("-s").unwrap_err().to_string(), "-s needs a value");
        assert_eq!(parse("-l nokey").unwrap_err(), FilterError::LabelForm);
        assert_eq!(parse("-n x").unwrap_err().to_string(), "-n takes a number");
        assert_eq!(
            parse("-group x").unwrap_err().to_string(),
            "-group takes top, start, go or wait, not x"
        );
        assert_eq!(
            parse("-q").unwrap_err().to_string(),
            "unknown option -q; see 'monitor help'"
        );
    }

    #[test]
    fn exited_counts_earlier_goids_not_alive_now() {
        let g = |goid, status| Goroutine {
            goid,
            status,
            ..Goroutine::default()
        };
        // 2 exited; 3's g struct is dead (a later goroutine may reuse it under a new goid).
        let now = [
            g(4, goruntime::GStatus::Waiting),
            g(1, goruntime::GStatus::Running),
            g(3, goruntime::GStatus::Dead),
            g(9, goruntime::GStatus::Runnable),
        ];
        assert_eq!(exited_since(&[1, 2, 3, 4], &now), 2);
        assert_eq!(exited_since(&[], &now), 0);
    }
}
