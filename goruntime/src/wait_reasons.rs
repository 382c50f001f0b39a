//! Wait-reason texts (`runtime.waitReasonStrings`, reference §3.2): the numbers behind
//! `g.waitreason` differ between Go versions, so the text comes from the target's own table, read
//! from the file image; stripped binaries fall back to a built-in per-version table.
//!
//! Quirks: the table is an array of Go string headers (`ptr, len`); a header that points outside
//! the file or holds an absurd length ends the read, and a partly read table is not trusted.

use crate::image::{Image, Symbol};
use crate::pclntab::ImageBytes;
use std::sync::Arc;

/// The wait-reason texts of one binary, indexed by `waitReason`.
#[derive(Debug, Clone, Default)]
pub struct WaitReasons(Vec<Arc<str>>);

impl WaitReasons {
    /// Reads `runtime.waitReasonStrings` (its `.symtab` symbol) from the file image, or uses the
    /// built-in table of Go 1.`minor`.
    pub fn load(table: Option<Symbol>, image: &Image, minor: u32) -> WaitReasons {
        WaitReasons(
            table
                .and_then(|sym| from_image(sym, image))
                .unwrap_or_else(|| builtin_wait_reasons(minor))
                .into_iter()
                .map(Arc::from)
                .collect(),
        )
    }

    /// The text for a `waitReason` value, as the target's runtime spells it (shared: every
    /// goroutine waiting for the same reason holds the same text).
    pub fn text(&self, reason: u8) -> Arc<str> {
        match self.0.get(reason as usize) {
            Some(s) => Arc::clone(s),
            None => Arc::from("unknown wait reason"),
        }
    }

    /// How many reasons the table names.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// The whole table at `sym`, or `None` when any entry cannot be read.
fn from_image(sym: Symbol, image: &Image) -> Option<Vec<String>> {
    let n = (sym.size / 16).min(256);
    let mut v = Vec::new();
    for i in 0..n {
        let a = sym.addr.checked_add(i.checked_mul(16)?)?;
        let (Some(ptr), Some(len)) = (image.read_u64(a), image.read_u64(a.checked_add(8)?)) else {
            break;
        };
        if len > 256 {
            break;
        }
        let s = if len == 0 {
            Some(&[][..])
        } else {
            image.bytes_at(ptr, len as usize)
        };
        match s {
            Some(b) if b.len() == len as usize => v.push(String::from_utf8_lossy(b).into_owned()),
            _ => break,
        }
    }
    (v.len() as u64 == n && n > 0).then_some(v)
}

/// The per-version wait-reason table of reference §3.2 (used for stripped binaries).
pub fn builtin_wait_reasons(minor: u32) -> Vec<String> {
    const V19: &[&str] = &[
        "",
        "GC assist marking",
        "IO wait",
        "chan receive (nil chan)",
        "chan send (nil chan)",
        "dumping heap",
        "garbage collection",
        "garbage collection scan",
        "panicwait",
        "select",
        "select (no cases)",
        "GC assist wait",
        "GC sweep wait",
        "GC scavenge wait",
        "chan receive",
        "chan send",
        "finalizer wait",
        "force gc (idle)",
        "semacquire",
        "sleep",
        "sync.Cond.Wait",
        "timer goroutine (idle)",
        "trace reader (blocked)",
        "wait for GC cycle",
        "GC worker (idle)",
        "preempted",
        "debug call",
    ];
    const V21_TAIL: &[&str] = &[
        "sync.Mutex.Lock",
        "sync.RWMutex.RLock",
        "sync.RWMutex.Lock",
        "trace reader (blocked)",
        "wait for GC cycle",
        "GC worker (idle)",
        "GC worker (active)",
        "preempted",
        "debug call",
        "GC mark termination",
        "stopping the world",
    ];
    const V26: &[&str] = &[
        "",
        "GC assist marking",
        "IO wait",
        "dumping heap",
        "garbage collection",
        "garbage collection scan",
        "panicwait",
        "GC assist wait",
        "GC sweep wait",
        "GC scavenge wait",
        "finalizer wait",
        "force gc (idle)",
        "GOMAXPROCS updater (idle)",
        "semacquire",
        "sleep",
        "chan receive (nil chan)",
        "chan send (nil chan)",
        "select (no cases)",
        "select",
        "chan receive",
        "chan send",
        "sync.Cond.Wait",
        "sync.Mutex.Lock",
        "sync.RWMutex.RLock",
        "sync.RWMutex.Lock",
        "sync.WaitGroup.Wait",
        "trace reader (blocked)",
        "wait for GC cycle",
        "GC worker (idle)",
        "GC worker (active)",
        "preempted",
        "debug call",
        "GC mark termination",
        "stopping the world",
        "flushing proc caches",
        "trace goroutine status",
        "trace proc status",
        "page trace flush",
        "coroutine",
        "GC weak to strong wait",
        "synctest.Run",
        "synctest.Wait",
        "chan receive (durable)",
        "chan send (durable)",
        "select (durable)",
        "sync.WaitGroup.Wait (durable)",
        "cleanup wait",
    ];
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    if minor <= 19 {
        return s(V19);
    }
    if minor >= 26 {
        return s(V26);
    }
    let mut v = s(V19.get(..21).unwrap_or(V19));
    v.extend(s(V21_TAIL));
    if minor >= 22 {
        v.extend(s(&[
            "flushing proc caches",
            "trace goroutine status",
            "trace proc status",
            "page trace flush",
            "coroutine",
        ]));
    }
    if minor >= 23 {
        v.push("GC weak to strong wait".into());
    }
    if minor >= 24 {
        v.insert(24, "sync.WaitGroup.Wait".into());
        v.extend(s(&[
            "synctest.Run",
            "synctest.Wait",
            "chan receive (synctest)",
            "chan send (synctest)",
            "select (synctest)",
        ]));
    }
    if minor >= 25 {
        v.truncate(39);
        v.insert(18, "GOMAXPROCS updater (idle)".into());
        v.extend(s(&[
            "synctest.Run",
            "synctest.Wait",
            "chan receive (durable)",
            "chan send (durable)",
            "select (durable)",
            "sync.WaitGroup.Wait (durable)",
            "cleanup wait",
        ]));
    }
    v
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_sizes() {
        let sizes: Vec<usize> = [19, 20, 21, 22, 23, 24, 25, 26, 27]
            .iter()
            .map(|&m| builtin_wait_reasons(m).len())
            .collect();
        assert_eq!(sizes, vec![27, 32, 32, 37, 38, 44, 47, 47, 47]);
        assert_eq!(builtin_wait_reasons(24)[24], "sync.WaitGroup.Wait");
        assert_eq!(builtin_wait_reasons(25)[18], "GOMAXPROCS updater (idle)");
        assert_eq!(builtin_wait_reasons(25)[25], "sync.WaitGroup.Wait");
    }
}
