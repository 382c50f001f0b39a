//! What a listing needs from the backend before it starts: the OS threads' states (registers
//! only where they are read already, or where a goroutine runs) and one prefetch of what it will
//! read, so that a stop's listing costs few reads however many goroutines there are.
//!
//! Quirk: registers cost a ptrace call per thread, and most threads of a Go program sleep in the
//! scheduler or a syscall; the threads that run a goroutine are found from the list itself.

use goruntime::{GoBinary, Goroutine, ProcessMemo, ThreadState};
use nix::unistd::Pid;

use crate::process::Backend;

/// How much of each OS thread's stack, from its rsp, is fetched before goroutines are listed.
const STACK_TOP_BYTES: u64 = 2048;

/// Fetches in one batch (with the stop's first read, when this is it) what a listing will read:
/// the threads' stacks and TLS slots (running goroutines are unwound from them) and, as the
/// last listing found them (`previous`, allgs with the first slice), allgs, the g structs and
/// their Ms.
pub(super) fn prefetch_for_listing(
    inf: &mut dyn Backend,
    bin: &GoBinary,
    memo: &ProcessMemo,
    threads: &[ThreadState],
    previous: &[&[Goroutine]],
    with_allgs: bool,
) {
    let mut ranges: Vec<(u64, u64)> = threads
        .iter()
        .flat_map(|t| [(t.rsp, STACK_TOP_BYTES), (t.fs_base.saturating_sub(8), 8)])
        .filter(|&(addr, _)| addr != 0)
        .collect();
    for (i, gs) in previous.iter().enumerate() {
        ranges.extend(goruntime::listing_hints(
            bin,
            memo,
            gs,
            with_allgs && i == 0,
        ));
        ranges.extend(gs.iter().filter_map(moving_stack));
    }
    if let Err(e) = inf.prefetch(&ranges) {
        log::debug!("listing prefetch: {e}");
    }
}

/// For a goroutine that was running, runnable or in a syscall at the last listing (it has most
/// likely moved since, and is unwound again), the stack around where it was: it parks or runs
/// near there, and the unwinding would read it otherwise in a batch of its own.
fn moving_stack(g: &Goroutine) -> Option<(u64, u64)> {
    use goruntime::GStatus::{Runnable, Running, Syscall};
    if !matches!(g.status, Running | Runnable | Syscall) || g.goid == 0 {
        return None;
    }
    let sp = g.innermost().map_or(g.sp, |(_, sp)| sp);
    (sp != 0).then(|| (sp.saturating_sub(STACK_TOP_BYTES), 2 * STACK_TOP_BYTES))
}

/// What the listing knows of each OS thread before it knows which ones run a goroutine: the
/// registers when they were read at this stop already, else only the tid and the fs_base seen
/// before (registers cost a ptrace call per thread, and most threads sleep in the scheduler or
/// a syscall). A thread never seen gets its registers read. `complete_running` fills in the
/// threads that turn out to run a goroutine.
pub(super) fn thread_states(inf: &mut dyn Backend) -> Vec<ThreadState> {
    inf.thread_ids()
        .into_iter()
        .filter_map(|tid| {
            if let (None, Some(fs_base)) = (inf.gprs_if_read(tid), inf.fs_base_seen(tid)) {
                return Some(ThreadState {
                    tid: tid.as_raw(),
                    fs_base,
                    ..ThreadState::default()
                });
            }
            inf.gprs(tid).ok().map(|g| live_state(tid, &g))
        })
        .collect()
}

/// What unwinding needs of a thread's live registers.
fn live_state(tid: Pid, g: &libc::user_regs_struct) -> ThreadState {
    ThreadState {
        tid: tid.as_raw(),
        rip: g.rip,
        rsp: g.rsp,
        rbp: g.rbp,
        fs_base: g.fs_base,
    }
}

/// Reads the registers of the threads that run one of `list`'s goroutines (they are unwound
/// from their live registers) where `thread_states` left them out. Called with the last
/// listing before the prefetch too: a thread that ran a goroutine then most likely runs one
/// now, and its stack top then comes with the stop's first batch instead of a read of its own.
pub(super) fn complete_running<'a>(
    inf: &mut dyn Backend,
    list: impl Iterator<Item = &'a Goroutine>,
    threads: &mut [ThreadState],
) {
    let running: Vec<i32> = list
        .filter(|g| g.status == goruntime::GStatus::Running)
        .filter_map(|g| g.thread)
        .collect();
    for t in threads.iter_mut().filter(|t| t.rsp == 0) {
        if !running.contains(&t.tid) {
            continue;
        }
        if let Ok(g) = inf.gprs(Pid::from_raw(t.tid)) {
            *t = live_state(Pid::from_raw(t.tid), &g);
        }
    }
}
