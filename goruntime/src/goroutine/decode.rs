//! Decoding `runtime.g` and `runtime.m` records from their bytes, by the binary's [`Layout`].
//!
//! Quirks: `waitsince` is set lazily by the GC, so wait minutes may be absent; syscall goroutines
//! start their walk at `syscallpc/sp` (and `syscallbp`, Go 1.23+), not at `sched`; an m is read
//! only up to the last field the walk needs.

use super::{GStatus, Goroutine, ListOptions, GSCAN};
use crate::binary::GoBinary;
use crate::error::GoroutineError;
use crate::layout::Layout;
use crate::unwind::{PcCache, PcMemo};
use memcache::{MemoryExt, MemorySource};

pub(super) fn le_u64(b: &[u8], off: u64) -> Option<u64> {
    crate::pclntab::u64_at(b, off as usize)
}
fn le_u32(b: &[u8], off: u64) -> Option<u32> {
    crate::pclntab::u32_at(b, off as usize)
}

/// Fields of `runtime.m` the walk needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct MInfo {
    pub(super) procid: u64,
    pub(super) curg: u64,
    pub(super) g0: u64,
    pub(super) gsignal: u64,
    pub(super) id: i64,
}

/// How much of an m `read_m` reads: up to the end of the last field it needs.
pub(super) fn m_read_size(l: &Layout) -> u64 {
    [l.m_procid, l.m_curg, l.m_g0, l.m_gsignal, l.m_id]
        .into_iter()
        .max()
        .unwrap_or(0)
        .saturating_add(8)
}

pub(super) fn read_m<M: MemorySource>(mem: &mut M, l: &Layout, m: u64) -> Option<MInfo> {
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
pub(super) fn wait_minutes(status: GStatus, waitsince: i64, now: Option<u64>) -> Option<u64> {
    match (status, now) {
        (GStatus::Waiting | GStatus::Syscall, Some(now)) if waitsince != 0 => {
            let m = (now as i64)
                .saturating_sub(waitsince)
                .checked_div(60_000_000_000)
                .unwrap_or(0);
            (m >= 1).then_some(m as u64)
        }
        _ => None,
    }
}

/// Decodes one g record (`pcs` learns the start function's facts).
pub fn decode_g(
    bin: &GoBinary,
    pcs: &PcMemo,
    l: &Layout,
    addr: u64,
    b: &[u8],
    opts: &ListOptions,
) -> Result<Goroutine, GoroutineError> {
    decode_g_cached(bin, &mut PcCache::new(pcs), l, addr, b, opts)
}

/// [`decode_g`] through a walker's own pc cache (a listing decodes many gs with one).
pub(super) fn decode_g_cached(
    bin: &GoBinary,
    pcs: &mut PcCache<'_>,
    l: &Layout,
    addr: u64,
    b: &[u8],
    opts: &ListOptions,
) -> Result<Goroutine, GoroutineError> {
    if (b.len() as u64) < l.g_read_size() {
        return Err(GoroutineError::Mem(memcache::MemError::Unreadable {
            addr: addr.wrapping_add(b.len() as u64),
        }));
    }
    let bad = || GoroutineError::Corrupt {
        what: "runtime.g",
        addr,
    };
    let raw_status = le_u32(b, l.g_atomicstatus).ok_or_else(bad)?;
    let status = GStatus::from_raw(raw_status);
    let goid = le_u64(b, l.g_goid).ok_or_else(bad)?;
    let waitsince = le_u64(b, l.g_waitsince).ok_or_else(bad)? as i64;
    let wr = *b.get(l.g_waitreason as usize).ok_or_else(bad)?;
    let wait_reason = if matches!(status, GStatus::Waiting | GStatus::Leaked) && wr != 0 {
        Some(pcs.wait_reason_text(bin, wr))
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
        pc: le_u64(b, l.g_sched.saturating_add(l.gobuf_pc)).ok_or_else(bad)?,
        sp: le_u64(b, l.g_sched.saturating_add(l.gobuf_sp)).ok_or_else(bad)?,
        bp: le_u64(b, l.g_sched.saturating_add(l.gobuf_bp)).ok_or_else(bad)?,
        stack_lo: le_u64(b, l.g_stack_lo).ok_or_else(bad)?,
        stack_hi: le_u64(b, l.g_stack_hi).ok_or_else(bad)?,
        m_addr: le_u64(b, l.g_m).ok_or_else(bad)?,
        ..Default::default()
    };
    g.system = pcs
        .facts(bin, startpc, true)
        .is_some_and(|facts| is_system_start(&facts.name));
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
pub fn is_system_goroutine(bin: &GoBinary, pcs: &PcMemo, startpc: u64) -> bool {
    // Goroutines start at a handful of functions: the per-pc memo answers after the first.
    pcs.facts(bin, startpc, true)
        .is_some_and(|facts| is_system_start(&facts.name))
}

/// Whether a goroutine that started in function `name` is a system goroutine.
fn is_system_start(name: &str) -> bool {
    !matches!(
        name,
        "runtime.main" | "runtime.corostart" | "runtime.handleAsyncEvent"
    ) && name.starts_with("runtime.")
}
