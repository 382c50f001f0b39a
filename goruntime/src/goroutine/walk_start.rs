//! Where each goroutine's stack walk starts: parked gs at `g.sched`, syscall gs at
//! `syscallpc/sp`, running gs at their thread's live registers — and when that thread is on
//! g0/gsignal (TLS `*(fs_base-8)`, or by SP range when `fs_base` is 0), the walk switches to the
//! goroutine's own stack at `systemstack`/`mcall`/`morestack` (`curg.sched`).

use super::decode::{le_u64, read_m, MInfo};
use super::metered::Metered;
use super::stack_windows::walk_in_windows;
use super::{Depth, GStatus, Goroutine, ThreadState};
use crate::binary::GoBinary;
use crate::error::GoroutineError;
use crate::layout::{Layout, GOBUF_MAX};
use crate::memo::ProcessMemo;
use crate::unwind::{unwind, unwind_to, PcCache, PcMemo, StackSwitch, UnwindStart};
use crate::Frame;
use memcache::{MemoryExt, MemorySource};
use std::collections::HashMap;

/// Goroutines whose walks are prepared together (their windows read in few batches).
const UNWIND_CHUNK: usize = 4096;

/// Unwinds the stacks of goroutines listed without unwinding (`ListOptions::unwind` false).
/// Parked goroutines' stacks are read in windows, many goroutines per batch (see
/// `stack_windows`); running ones from their threads' registers. Goroutines already unwound as
/// far as `depth` asks, or in error, are left as they are.
pub fn unwind_goroutines<M: MemorySource>(
    bin: &GoBinary,
    memo: &ProcessMemo,
    mem: &mut M,
    gs: &mut [&mut Goroutine],
    threads: &[ThreadState],
    depth: Depth,
) {
    let mem = &mut Metered::new(mem);
    let l = bin.layout().clone();
    let mut m_cache: HashMap<u64, Option<MInfo>> = HashMap::new();
    let mut walked = 0usize;
    let mut buf = memo.take_scratch();
    for chunk in gs.chunks_mut(UNWIND_CHUNK) {
        let (mut parked, others): (Vec<&mut Goroutine>, Vec<&mut Goroutine>) = chunk
            .iter_mut()
            .map(|g| &mut **g)
            .filter(|g| !g.walked_to(depth))
            .partition(|g| {
                g.status != GStatus::Running && g.pc != 0 && g.sp != 0 && g.stack_hi > g.sp
            });
        walked = walked
            .saturating_add(parked.len())
            .saturating_add(others.len());
        let stop = match depth {
            Depth::Full => None,
            Depth::FirstShown(level) => Some(level),
        };
        walk_in_windows(bin, &memo.pcs, mem, &mut parked, &mut buf, stop);
        for g in others {
            if g.m_addr != 0 {
                m_cache
                    .entry(g.m_addr)
                    .or_insert_with(|| read_m(mem, &l, g.m_addr));
            }
            start_and_unwind(bin, &memo.pcs, mem, &l, g, threads, &mut m_cache);
        }
        for g in chunk.iter_mut() {
            g.frames.shrink_to_fit();
        }
    }
    memo.put_scratch(buf);
    if walked > 0 {
        mem.log(format_args!("unwound {walked} of {} goroutines", gs.len()));
    }
}

/// The walk of a goroutine that is not running: from its saved context (`g.pc/sp/bp`, which
/// `decode_g` set from `sched` or the syscall registers), inside its stack bounds; to its first
/// frame traceback level `stop` shows, when given (see [`unwind_to`]).
pub(super) fn walk_parked<M: MemorySource>(
    bin: &GoBinary,
    pcs: &mut PcCache<'_>,
    mem: &mut M,
    g: &Goroutine,
    stop: Option<u32>,
) -> Walk {
    if g.pc == 0 {
        return Walk {
            frames: Vec::new(),
            error: Some(GoroutineError::NoSavedContext),
            top_only: None,
        };
    }
    let start = UnwindStart {
        pc: g.pc,
        sp: g.sp,
        bp: g.bp,
        trap: false,
    };
    let bounds = Some((g.stack_lo, g.stack_hi));
    let (frames, error, cut) = unwind_to(bin, pcs, mem, start, bounds, None, stop);
    Walk {
        frames,
        error,
        top_only: stop.filter(|_| cut),
    }
}

/// What a walk found, as it goes into a [`Goroutine`].
pub(super) struct Walk {
    pub(super) frames: Vec<Frame>,
    pub(super) error: Option<GoroutineError>,
    pub(super) top_only: Option<u32>,
}

impl Walk {
    pub(super) fn store(self, g: &mut Goroutine) {
        g.frames = self.frames;
        g.error = self.error.map(Box::new);
        g.top_only = self.top_only;
    }
}

/// Finds where `g`'s walk starts and walks it, filling in `g.frames` and `g.error`.
fn start_and_unwind<M: MemorySource>(
    bin: &GoBinary,
    pcs: &PcMemo,
    mem: &mut M,
    l: &Layout,
    g: &mut Goroutine,
    threads: &[ThreadState],
    m_cache: &mut HashMap<u64, Option<MInfo>>,
) {
    let bounds = Some((g.stack_lo, g.stack_hi));
    g.top_only = None;
    match g.status {
        GStatus::Running => {
            let Some(tid) = g.thread else {
                g.error = Some(Box::new(GoroutineError::RunningElsewhere));
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
                                stack_bounds(mem, l, x)
                                    .is_some_and(|(lo, hi)| (lo..hi).contains(&t.rsp))
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
                let sys_bounds = stack_bounds(mem, l, sysg);
                // curg's saved context, for systemstack/mcall/morestack.
                let mut gb = [0u8; GOBUF_MAX];
                let sw = gb
                    .get_mut(..l.gobuf_read_size() as usize)
                    .and_then(|b| mem.read_exact(g.g_addr.wrapping_add(l.g_sched), b).ok())
                    .map(|_| StackSwitch {
                        pc: le_u64(&gb, l.gobuf_pc).unwrap_or(0),
                        sp: le_u64(&gb, l.gobuf_sp).unwrap_or(0),
                        bp: le_u64(&gb, l.gobuf_bp).unwrap_or(0),
                        bounds: (g.stack_lo, g.stack_hi),
                    });
                unwind(bin, pcs, mem, start, sys_bounds, sw)
            } else {
                unwind(bin, pcs, mem, start, bounds, None)
            };
            g.frames = frames;
            g.error = err.map(Box::new);
        }
        _ => walk_parked(bin, &mut PcCache::new(pcs), mem, g, None).store(g),
    }
}

/// `g.stack` (`lo, hi`) of the g at `g` (a g0 or gsignal), read from target memory.
fn stack_bounds<M: MemorySource>(mem: &mut M, l: &Layout, g: u64) -> Option<(u64, u64)> {
    let mut sb = [0u8; 16];
    mem.read_exact(g.wrapping_add(l.g_stack_lo), &mut sb).ok()?;
    Some((le_u64(&sb, 0).unwrap_or(0), le_u64(&sb, 8).unwrap_or(0)))
}
