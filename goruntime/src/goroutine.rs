//! Goroutines as data: decoding `runtime.g` records and listing every live goroutine.
//!
//! Quirks met here (reference §1, §3): status carries the `_Gscan` bit (0x1000) while the GC scans
//! a g (masked, reported as `scan`); Go 1.26 added `_Gleaked` (10) and `_Gdeadextra` (11, skipped
//! like `_Gdead`); wait-reason numbers differ between versions, so their text comes from the
//! target's own `runtime.waitReasonStrings` (a built-in per-version table is the fallback for
//! stripped binaries); `waitsince` is set lazily by the GC, so minutes may be absent; `goid` is 0
//! for g0/gsignal. A g that cannot be read becomes an entry with `error`, never an abort.

use crate::allgs::{read_allg_pointers_noting, read_structs};
use crate::binary::GoBinary;
use crate::error::GoError;
use crate::layout::Layout;
use crate::pclntab::ImageBytes;
use crate::unwind::{unwind, StackSwitch, UnwindStart};
use crate::Frame;
use memcache::{MemoryExt, MemorySource};
use std::collections::HashMap;

use rustc_hash::FxHashMap;
use std::fmt;

/// `_Gscan` bit.
pub const GSCAN: u32 = 0x1000;

/// A goroutine status (`_Gxxx`), scan bit removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GStatus {
    Idle,
    Runnable,
    Running,
    Syscall,
    Waiting,
    Moribund,
    Dead,
    Enqueue,
    Copystack,
    Preempted,
    /// Go 1.26+.
    Leaked,
    /// Go 1.26+: dead g kept for cgo callbacks.
    DeadExtra,
    Unknown(u32),
}

impl GStatus {
    /// Decodes a raw status (with or without the scan bit).
    pub fn from_raw(raw: u32) -> GStatus {
        match raw & !GSCAN {
            0 => GStatus::Idle,
            1 => GStatus::Runnable,
            2 => GStatus::Running,
            3 => GStatus::Syscall,
            4 => GStatus::Waiting,
            5 => GStatus::Moribund,
            6 => GStatus::Dead,
            7 => GStatus::Enqueue,
            8 => GStatus::Copystack,
            9 => GStatus::Preempted,
            10 => GStatus::Leaked,
            11 => GStatus::DeadExtra,
            n => GStatus::Unknown(n),
        }
    }

    /// The runtime's `gStatusStrings` text.
    pub fn as_str(&self) -> &'static str {
        match self {
            GStatus::Idle => "idle",
            GStatus::Runnable => "runnable",
            GStatus::Running => "running",
            GStatus::Syscall => "syscall",
            GStatus::Waiting => "waiting",
            GStatus::Moribund | GStatus::Enqueue => "",
            GStatus::Dead => "dead",
            GStatus::Copystack => "copystack",
            GStatus::Preempted => "preempted",
            GStatus::Leaked => "leaked",
            GStatus::DeadExtra => "waiting for cgo callback",
            GStatus::Unknown(_) => "???",
        }
    }

    /// Dead gs are not listed.
    pub fn is_dead(&self) -> bool {
        matches!(self, GStatus::Dead | GStatus::DeadExtra)
    }
}

impl fmt::Display for GStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One goroutine.
#[derive(Debug, Clone, Default)]
pub struct Goroutine {
    pub goid: u64,
    pub status: GStatus,
    /// The status had the `_Gscan` bit.
    pub scan: bool,
    /// Wait-reason text when waiting with a non-zero reason.
    pub wait_reason: Option<String>,
    /// Raw `waitreason` value.
    pub wait_reason_code: u8,
    /// Minutes blocked, when ≥ 1 and known (the runtime's `, N minutes`).
    pub wait_minutes: Option<u64>,
    pub waitsince: i64,
    pub locked_to_thread: bool,
    pub gopc: u64,
    pub startpc: u64,
    pub parent_goid: Option<u64>,
    pub labels: Vec<(String, String)>,
    /// Linux tid of the M running this goroutine.
    pub thread: Option<i32>,
    pub frames: Vec<Frame>,
    /// A runtime-internal goroutine (`isSystemGoroutine`).
    pub system: bool,
    /// Why the g or its stack could not be (fully) read.
    pub error: Option<String>,
    pub g_addr: u64,
    /// Registers unwinding started from.
    pub pc: u64,
    pub sp: u64,
    pub bp: u64,
    pub stack_lo: u64,
    pub stack_hi: u64,
    /// `g.m` (0 when not on an M).
    pub m_addr: u64,
    /// `m.id` of `g.m`.
    pub m_id: Option<i64>,
    /// A fingerprint of the g struct's bytes (see [`list_goroutines_since`]).
    pub raw_hash: u64,
}

impl Default for GStatus {
    fn default() -> Self {
        GStatus::Unknown(u32::MAX)
    }
}

/// Live registers of one OS thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadState {
    pub tid: i32,
    pub rip: u64,
    pub rsp: u64,
    pub rbp: u64,
    pub fs_base: u64,
}

/// Options for [`list_goroutines_with`].
#[derive(Debug, Clone)]
pub struct ListOptions {
    /// The target's `nanotime()` now (CLOCK_MONOTONIC ns); `None` disables wait minutes.
    pub now_nanotime: Option<u64>,
    /// Whether to unwind stacks.
    pub unwind: bool,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            now_nanotime: monotonic_now_ns(),
            unwind: true,
        }
    }
}

/// Approximate CLOCK_MONOTONIC in ns, from `/proc/uptime` (CLOCK_BOOTTIME; equal unless the
/// host suspended). Only used for the minute-granularity ", N minutes".
pub fn monotonic_now_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some((secs * 1e9) as u64)
}

fn le_u64(b: &[u8], off: u64) -> Option<u64> {
    crate::pclntab::u64_at(b, off as usize)
}
fn le_u32(b: &[u8], off: u64) -> Option<u32> {
    crate::pclntab::u32_at(b, off as usize)
}

/// Lists goroutines (ordered by goid; dead gs skipped).
pub fn list_goroutines<M: MemorySource>(
    bin: &GoBinary,
    mem: &mut M,
    threads: &[ThreadState],
) -> Result<Vec<Goroutine>, GoError> {
    list_goroutines_with(bin, mem, threads, &ListOptions::default())
}

/// [`list_goroutines`] with explicit options.
/// The g structs the threads are running now: each thread's current g (from TLS) and, when
/// that is a system stack's g, its M's user goroutine (`m.curg`). Cheap: two small reads per
/// thread, where a full listing reads every g.
pub fn running_g_addrs<M: MemorySource>(
    bin: &GoBinary,
    mem: &mut M,
    threads: &[ThreadState],
) -> Vec<u64> {
    let l = bin.layout();
    let mut out = Vec::new();
    for t in threads {
        let Ok(g) = crate::tls::current_g(mem, t.fs_base) else {
            continue;
        };
        if g == 0 {
            continue;
        }
        out.push(g);
        let curg = mem.read_u64(g.wrapping_add(l.g_m)).and_then(|m| {
            if m == 0 {
                Ok(0)
            } else {
                mem.read_u64(m.wrapping_add(l.m_curg))
            }
        });
        if let Some(curg) = curg.ok().filter(|&c| c != 0 && c != g) {
            out.push(curg);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// g structs read and decoded together.
const G_STRUCT_CHUNK: usize = 4096;

/// Goroutines whose stack tops are fetched in one batch before they are unwound.
const UNWIND_PREFETCH_CHUNK: usize = 512;
/// How much of each parked stack, from its saved sp, that batch fetches.
const UNWIND_PREFETCH_BYTES: u64 = 2048;

pub fn list_goroutines_with<M: MemorySource>(
    bin: &GoBinary,
    mem: &mut M,
    threads: &[ThreadState],
    opts: &ListOptions,
) -> Result<Vec<Goroutine>, GoError> {
    list_goroutines_since(bin, mem, threads, opts, Vec::new())
}

/// Like [`list_goroutines_with`], reusing `previous` (the list of an earlier stop of the same
/// process): a goroutine whose g struct is byte for byte what it was, and that was not running,
/// keeps what was decoded and unwound for it. A parked goroutine's frames cannot change while its
/// g does not: only the goroutine itself, or the runtime moving its stack (which rewrites the g's
/// stack bounds and saved sp), writes its return addresses.
pub fn list_goroutines_since<M: MemorySource>(
    bin: &GoBinary,
    mem: &mut M,
    threads: &[ThreadState],
    opts: &ListOptions,
    previous: Vec<Goroutine>,
) -> Result<Vec<Goroutine>, GoError> {
    let loc = bin
        .allgs_location()
        .ok_or(GoError::Missing("runtime.allgs"))?;
    let ptrs = read_allg_pointers_noting(mem, loc, &mut |array| {
        if let Ok(mut seen) = bin.allgs_array_seen.lock() {
            *seen = Some(array);
        }
    })?;
    goroutines_at(bin, mem, &ptrs, threads, opts, previous)
}

/// The memory a listing will read, as the last listing (`previous`) found it: the allgs header
/// and array, each g struct and its M. Prefetched together with a stop's first read, a listing
/// that finds little changed needs no further batch (unchanged goroutines keep their frames, so
/// their stacks are not read at all). `with_allgs` false leaves allgs out, for a rebuild from
/// known g structs only. Past
/// `HINTED_GOROUTINES` goroutines only allgs is hinted (big listings read in bulk anyway).
pub fn listing_hints(bin: &GoBinary, previous: &[Goroutine], with_allgs: bool) -> Vec<(u64, u64)> {
    const HINTED_GOROUTINES: usize = 2048;
    let mut out = Vec::new();
    if with_allgs {
        if let Some(loc) = bin.allgs_location() {
            out.push((loc.allgs, 24));
            out.push((loc.allglen, 8));
        }
        if let Some(array) = bin.allgs_array_seen.lock().ok().and_then(|seen| *seen) {
            out.push(array);
        }
    }
    if previous.len() <= HINTED_GOROUTINES {
        let l = bin.layout();
        for g in previous {
            out.push((g.g_addr, l.g_size));
            if g.m_addr != 0 {
                out.push((g.m_addr, m_read_size(l)));
            }
        }
    }
    out
}

/// The goroutines whose g structs are at `ptrs` (dead ones left out), decoded as
/// [`list_goroutines_since`] decodes them, reusing `previous` for unchanged ones.
pub fn goroutines_at<M: MemorySource>(
    bin: &GoBinary,
    mem: &mut M,
    ptrs: &[u64],
    threads: &[ThreadState],
    opts: &ListOptions,
    previous: Vec<Goroutine>,
) -> Result<Vec<Goroutine>, GoError> {
    let mut previous = previous;
    let reusable = |g: &Goroutine| {
        g.error.is_none() && !matches!(g.status, GStatus::Running | GStatus::Syscall)
    };
    let mut index: FxHashMap<u64, usize> = FxHashMap::default();
    index.reserve(previous.len());
    index.extend(
        previous
            .iter()
            .enumerate()
            .filter(|(_, g)| reusable(g))
            .map(|(i, g)| (g.g_addr, i)),
    );
    let l = bin.layout().clone();
    let mut out = Vec::with_capacity(ptrs.len());
    let mut m_cache: HashMap<u64, Option<MInfo>> = HashMap::new();
    // A chunk of g structs at a time: their bytes are dropped once decoded, so a program with
    // 100,000 goroutines never holds them all at once.
    for chunk in ptrs.chunks(G_STRUCT_CHUNK) {
        let raw = read_structs(mem, chunk, l.g_size as usize)?;
        // The Ms the goroutines sit on are read one by one below; fetch them in one batch first.
        let m_span = m_read_size(&l);
        let mut ms: Vec<u64> = raw
            .iter()
            .filter_map(|b| le_u64(b, l.g_m))
            .filter(|&m| m != 0)
            .collect();
        ms.sort_unstable();
        ms.dedup();
        let m_ranges: Vec<(u64, u64)> = ms.iter().map(|&m| (m, m_span)).collect();
        if let Err(e) = mem.prefetch(&m_ranges) {
            log::debug!("m prefetch: {e}");
        }
        for (&addr, bytes) in chunk.iter().zip(raw.iter()) {
            if addr == 0 {
                continue;
            }
            let raw_hash = hash_bytes(bytes);
            if let Some(&i) = index.get(&addr) {
                if previous[i].raw_hash == raw_hash {
                    let mut g = std::mem::take(&mut previous[i]);
                    g.wait_minutes = wait_minutes(g.status, g.waitsince, opts.now_nanotime);
                    out.push(g);
                    continue;
                }
            }
            let mut g = match decode_g(bin, &l, addr, bytes, opts) {
                Ok(g) => g,
                Err(e) => {
                    out.push(Goroutine {
                        g_addr: addr,
                        error: Some(e.to_string()),
                        ..Default::default()
                    });
                    continue;
                }
            };
            if g.status.is_dead() {
                continue;
            }
            g.raw_hash = raw_hash;
            if g.m_addr != 0 {
                let mi = *m_cache
                    .entry(g.m_addr)
                    .or_insert_with(|| read_m(mem, &l, g.m_addr));
                if let Some(mi) = mi {
                    g.m_id = Some(mi.id);
                    if mi.curg == addr {
                        g.thread = threads
                            .iter()
                            .find(|t| t.tid as i64 as u64 == mi.procid)
                            .map(|t| t.tid);
                    }
                }
            }
            let labels_ptr = le_u64(bytes, l.g_labels).unwrap_or(0);
            if labels_ptr != 0 {
                match crate::labels::read_labels(mem, bin.version().minor, labels_ptr) {
                    Ok(v) => g.labels = v,
                    Err(e) => log::debug!("goroutine {}: labels unreadable: {e}", g.goid),
                }
            }
            out.push(g);
        }
    }
    if opts.unwind {
        let mut all: Vec<&mut Goroutine> = out.iter_mut().collect();
        unwind_goroutines(bin, mem, &mut all, threads);
    }
    out.sort_by_key(|g| (g.goid, g.g_addr));
    Ok(out)
}

/// Unwinds the stacks of goroutines listed without unwinding (`ListOptions::unwind` false).
/// The top of every parked stack of a chunk is fetched in one batch first (stacks are read frame
/// by frame; a chunk's pages stay well inside a cache's bound). Goroutines already unwound or
/// in error are left as they are.
pub fn unwind_goroutines<M: MemorySource>(
    bin: &GoBinary,
    mem: &mut M,
    gs: &mut [&mut Goroutine],
    threads: &[ThreadState],
) {
    let l = bin.layout().clone();
    let mut m_cache: HashMap<u64, Option<MInfo>> = HashMap::new();
    for chunk in gs.chunks_mut(UNWIND_PREFETCH_CHUNK) {
        let todo = |g: &Goroutine| g.error.is_none() && g.frames.is_empty();
        let tops: Vec<(u64, u64)> = chunk
            .iter()
            .filter(|g| todo(g) && g.sp != 0 && g.stack_hi > g.sp)
            .map(|g| (g.sp, (g.stack_hi - g.sp).min(UNWIND_PREFETCH_BYTES)))
            .collect();
        if let Err(e) = mem.prefetch(&tops) {
            log::debug!("stack prefetch: {e}");
        }
        for g in chunk.iter_mut().filter(|g| todo(g)) {
            if g.m_addr != 0 {
                m_cache
                    .entry(g.m_addr)
                    .or_insert_with(|| read_m(mem, &l, g.m_addr));
            }
            start_and_unwind(bin, mem, &l, g, threads, &mut m_cache);
        }
    }
}

/// Fields of `runtime.m` the walk needs.
#[derive(Debug, Clone, Copy)]
struct MInfo {
    procid: u64,
    curg: u64,
    g0: u64,
    gsignal: u64,
    id: i64,
}

/// How much of an m `read_m` reads: up to the end of the last field it needs.
fn m_read_size(l: &Layout) -> u64 {
    [l.m_procid, l.m_curg, l.m_g0, l.m_gsignal, l.m_id]
        .into_iter()
        .max()
        .unwrap_or(0)
        + 8
}

fn read_m<M: MemorySource>(mem: &mut M, l: &Layout, m: u64) -> Option<MInfo> {
    let mut b = vec![0u8; m_read_size(l) as usize];
    mem.read_exact(m, &mut b).ok()?;
    Some(MInfo {
        procid: le_u64(&b, l.m_procid)?,
        curg: le_u64(&b, l.m_curg)?,
        g0: le_u64(&b, l.m_g0)?,
        gsignal: le_u64(&b, l.m_gsignal)?,
        id: le_u64(&b, l.m_id)? as i64,
    })
}

/// The runtime's ", N minutes" for a goroutine blocked since `waitsince` (nanotime).
fn wait_minutes(status: GStatus, waitsince: i64, now: Option<u64>) -> Option<u64> {
    match (status, now) {
        (GStatus::Waiting | GStatus::Syscall, Some(now)) if waitsince != 0 => {
            let m = (now as i64).saturating_sub(waitsince) / 60_000_000_000;
            (m >= 1).then_some(m as u64)
        }
        _ => None,
    }
}

/// A fingerprint of a g struct's bytes, to see that a goroutine did not change between stops.
fn hash_bytes(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(bytes);
    h.finish()
}

/// Decodes one g record.
pub fn decode_g(
    bin: &GoBinary,
    l: &Layout,
    addr: u64,
    b: &[u8],
    opts: &ListOptions,
) -> Result<Goroutine, GoError> {
    if (b.len() as u64) < l.g_size {
        return Err(GoError::Mem(memcache::MemError::Unreadable {
            addr: addr + b.len() as u64,
        }));
    }
    let bad = || GoError::Corrupt {
        what: "runtime.g",
        addr,
    };
    let raw_status = le_u32(b, l.g_atomicstatus).ok_or_else(bad)?;
    let status = GStatus::from_raw(raw_status);
    let goid = le_u64(b, l.g_goid).ok_or_else(bad)?;
    let waitsince = le_u64(b, l.g_waitsince).ok_or_else(bad)? as i64;
    let wr = *b.get(l.g_waitreason as usize).ok_or_else(bad)?;
    let wait_reason = if matches!(status, GStatus::Waiting | GStatus::Leaked) && wr != 0 {
        Some(bin.wait_reason_text(wr))
    } else {
        None
    };
    let wait_minutes = wait_minutes(status, waitsince, opts.now_nanotime);
    let startpc = le_u64(b, l.g_startpc).ok_or_else(bad)?;
    let mut g = Goroutine {
        goid,
        status,
        scan: raw_status & GSCAN != 0,
        wait_reason,
        wait_reason_code: wr,
        wait_minutes,
        waitsince,
        locked_to_thread: le_u64(b, l.g_lockedm).ok_or_else(bad)? != 0,
        gopc: le_u64(b, l.g_gopc).ok_or_else(bad)?,
        startpc,
        parent_goid: match l.g_parent_goid {
            Some(o) => Some(le_u64(b, o).ok_or_else(bad)?),
            None => None,
        },
        g_addr: addr,
        pc: le_u64(b, l.g_sched + l.gobuf_pc).ok_or_else(bad)?,
        sp: le_u64(b, l.g_sched + l.gobuf_sp).ok_or_else(bad)?,
        bp: le_u64(b, l.g_sched + l.gobuf_bp).ok_or_else(bad)?,
        stack_lo: le_u64(b, l.g_stack_lo).ok_or_else(bad)?,
        stack_hi: le_u64(b, l.g_stack_hi).ok_or_else(bad)?,
        m_addr: le_u64(b, l.g_m).ok_or_else(bad)?,
        ..Default::default()
    };
    g.system = is_system_goroutine(bin, startpc);
    // Stash syscall registers in the error-free path: start_and_unwind re-reads them from `b`.
    if status == GStatus::Syscall {
        let ssp = le_u64(b, l.g_syscallsp).ok_or_else(bad)?;
        if ssp != 0 {
            g.sp = ssp;
            g.pc = le_u64(b, l.g_syscallpc).ok_or_else(bad)?;
            g.bp = match l.g_syscallbp {
                Some(o) => le_u64(b, o).ok_or_else(bad)?,
                None => 0,
            };
        }
    }
    Ok(g)
}

/// `isSystemGoroutine(gp, false)`: the start function is in package runtime, except
/// runtime.main / corostart / handleAsyncEvent. The finalizer and cleanup goroutines are
/// treated as system goroutines (the runtime shows them only while they run user code).
pub fn is_system_goroutine(bin: &GoBinary, startpc: u64) -> bool {
    // Goroutines start at a handful of functions: the per-pc memo answers after the first.
    let Some(facts) = bin.pc_memo.facts(bin, startpc, true) else {
        return false;
    };
    let name = &facts.name;
    if matches!(
        name.as_str(),
        "runtime.main" | "runtime.corostart" | "runtime.handleAsyncEvent"
    ) {
        return false;
    }
    name.starts_with("runtime.")
}

fn start_and_unwind<M: MemorySource>(
    bin: &GoBinary,
    mem: &mut M,
    l: &Layout,
    g: &mut Goroutine,
    threads: &[ThreadState],
    m_cache: &mut HashMap<u64, Option<MInfo>>,
) {
    let bounds = Some((g.stack_lo, g.stack_hi));
    match g.status {
        GStatus::Running => {
            let Some(tid) = g.thread else {
                g.error = Some("goroutine running on other thread; stack unavailable".into());
                return;
            };
            let Some(t) = threads.iter().find(|t| t.tid == tid).copied() else {
                return;
            };
            g.pc = t.rip;
            g.sp = t.rsp;
            g.bp = t.rbp;
            // Is the thread on g0/gsignal rather than on g's own stack? TLS says so when fs_base
            // is known; otherwise the SP tells which stack it is on.
            let mi = m_cache.get(&g.m_addr).copied().flatten();
            let on_g0 = mi.and_then(|mi| {
                let tls_g = if t.fs_base != 0 {
                    crate::tls::current_g(mem, t.fs_base)
                        .ok()
                        .filter(|&x| x != 0)
                } else {
                    None
                };
                match tls_g {
                    Some(x) if x == g.g_addr => None,
                    Some(x) if x == mi.g0 || x == mi.gsignal => Some(x),
                    _ => {
                        let on_own = t.rsp >= g.stack_lo && t.rsp < g.stack_hi;
                        if on_own {
                            return None;
                        }
                        [mi.g0, mi.gsignal]
                            .into_iter()
                            .filter(|&x| x != 0)
                            .find(|&x| {
                                let mut sb = [0u8; 16];
                                mem.read_exact(x + l.g_stack_lo, &mut sb).is_ok()
                                    && (le_u64(&sb, 0).unwrap_or(0)..le_u64(&sb, 8).unwrap_or(0))
                                        .contains(&t.rsp)
                            })
                    }
                }
            });
            let start = UnwindStart {
                pc: t.rip,
                sp: t.rsp,
                bp: t.rbp,
                trap: true,
            };
            let (frames, err) = if let Some(sysg) = on_g0 {
                let mut sb = [0u8; 16];
                let sys_bounds = mem
                    .read_exact(sysg + l.g_stack_lo, &mut sb)
                    .ok()
                    .map(|_| (le_u64(&sb, 0).unwrap_or(0), le_u64(&sb, 8).unwrap_or(0)));
                // curg's saved context, for systemstack/mcall/morestack.
                let mut gb = [0u8; 64];
                let sw = mem
                    .read_exact(g.g_addr + l.g_sched, &mut gb[..(l.gobuf_bp + 8) as usize])
                    .ok()
                    .map(|_| StackSwitch {
                        pc: le_u64(&gb, l.gobuf_pc).unwrap_or(0),
                        sp: le_u64(&gb, l.gobuf_sp).unwrap_or(0),
                        bp: le_u64(&gb, l.gobuf_bp).unwrap_or(0),
                        bounds: (g.stack_lo, g.stack_hi),
                    });
                unwind(bin, mem, start, sys_bounds, sw)
            } else {
                unwind(bin, mem, start, bounds, None)
            };
            g.frames = frames;
            g.error = err;
        }
        _ => {
            if g.pc == 0 {
                g.error = Some("no saved context".into());
                return;
            }
            let start = UnwindStart {
                pc: g.pc,
                sp: g.sp,
                bp: g.bp,
                trap: false,
            };
            let (frames, err) = unwind(bin, mem, start, bounds, None);
            g.frames = frames;
            g.error = err;
        }
    }
}

/// Loads wait-reason strings from `runtime.waitReasonStrings` in the file, or the built-in table.
pub(crate) fn load_wait_reasons(bin: &GoBinary) -> Vec<String> {
    if let Some(sym) = bin.symbol("runtime.waitReasonStrings") {
        let n = (sym.size / 16).min(256);
        let mut v = Vec::new();
        for i in 0..n {
            let a = sym.addr + 16 * i;
            let (Some(ptr), Some(len)) = (bin.image().read_u64(a), bin.image().read_u64(a + 8))
            else {
                break;
            };
            if len > 256 {
                break;
            }
            let s = if len == 0 {
                Some(&[][..])
            } else {
                bin.image().bytes_at(ptr, len as usize)
            };
            match s {
                Some(b) if b.len() == len as usize => {
                    v.push(String::from_utf8_lossy(b).into_owned())
                }
                _ => break,
            }
        }
        if v.len() as u64 == n && n > 0 {
            return v;
        }
    }
    builtin_wait_reasons(bin.version().minor)
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
    let mut v = s(&V19[..21]);
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

    #[test]
    fn status_decoding() {
        assert_eq!(GStatus::from_raw(0x1004), GStatus::Waiting);
        assert!(GStatus::from_raw(11).is_dead());
        assert_eq!(GStatus::from_raw(77).as_str(), "???");
    }
}
