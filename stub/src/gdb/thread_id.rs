//! The one reader of GDB's thread-id syntax, shared by every packet that names a thread outside
//! gdbstub's own parser (`vCont` in non-stop, `Hg` for fork events, `qGetTLSAddr`, lldb's
//! `;thread:` suffix).
//!
//! Protocol quirks met here: ids are hex; `-1` means "all" and `0` "any"; the multiprocess form
//! is `pPID.TID`, and a bare `pPID` means `pPID.-1` (GDB's manual, "thread-id syntax").

/// One half of a thread id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IdPart {
    /// `-1`.
    All,
    /// `0`.
    Any,
    /// A positive number.
    Number(i32),
}

/// A parsed thread id: the process half is `None` when the id has no `p` form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ThreadId {
    pub process: Option<IdPart>,
    pub thread: IdPart,
}

impl IdPart {
    fn parse(s: &str) -> Option<Self> {
        // GDB's ids carry no sign but `-1`; `from_str_radix` would take a `+`.
        if s == "-1" {
            return Some(IdPart::All);
        }
        if s.starts_with('+') {
            return None;
        }
        match u32::from_str_radix(s, 16).ok()? {
            0 => Some(IdPart::Any),
            n => i32::try_from(n).ok().map(IdPart::Number),
        }
    }

    /// The number, if this part names one.
    pub fn number(self) -> Option<i32> {
        match self {
            IdPart::Number(n) => Some(n),
            _ => None,
        }
    }
}

/// `TID`, `pPID`, `pPID.TID`; `None` for anything else.
pub(super) fn parse(id: &str) -> Option<ThreadId> {
    match id.strip_prefix('p') {
        Some(multi) => {
            let (process, thread) = multi.split_once('.').unwrap_or((multi, "-1"));
            Some(ThreadId {
                process: Some(IdPart::parse(process)?),
                thread: IdPart::parse(thread)?,
            })
        }
        None => Some(ThreadId {
            process: None,
            thread: IdPart::parse(id)?,
        }),
    }
}

/// The thread a thread id names, if it names one thread.
pub(super) fn single_tid(id: &str) -> Option<gdbstub::common::Tid> {
    let n = parse(id)?.thread.number()?;
    gdbstub::common::Tid::new(n as usize)
}

#[cfg(test)]
mod tests {
    use super::{parse, single_tid, IdPart, ThreadId};

    #[test]
    fn every_form_parses() {
        let id = |process, thread| Some(ThreadId { process, thread });
        assert_eq!(parse("1b"), id(None, IdPart::Number(0x1b)));
        assert_eq!(parse("-1"), id(None, IdPart::All));
        assert_eq!(parse("0"), id(None, IdPart::Any));
        assert_eq!(
            parse("p1a.1b"),
            id(Some(IdPart::Number(0x1a)), IdPart::Number(0x1b))
        );
        assert_eq!(parse("p1a"), id(Some(IdPart::Number(0x1a)), IdPart::All));
        assert_eq!(parse("p-1.-1"), id(Some(IdPart::All), IdPart::All));
        for bad in [
            "",
            "p",
            "zz",
            "pzz.1",
            "p1.q",
            "-2",
            "+5",
            "p1.2.3",
            "ffffffffff",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(single_tid("p2e81.2e95").map(|t| t.get()), Some(0x2e95));
        assert_eq!(single_tid("p2e81.-1"), None);
        assert_eq!(single_tid("0"), None);
    }
}
