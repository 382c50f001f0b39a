//! A stop's goroutines, decoded at most once per stop and reused until the next: every
//! goroutine (from allgs: `monitor goroutines`, the goroutines view), or only those the OS
//! threads run, found from the threads' TLS (the os view's thread labels). lldb names the
//! threads at every stop (`jstopinfo`, `jThreadsInfo`), the step off a breakpoint included, and
//! gdb at every `qXfer:threads`; a full listing for that read and decoded every g struct
//! (1,000 goroutines: about 0.4 ms of stub CPU a stop, issue 9), where the running ones cost
//! each thread's TLS slot, its g and M, and the g structs of the goroutines they run.
//!
//! When the stop's full listing exists already, it names the threads instead, so that both
//! always agree. A goroutine is on a thread only when its M's `curg` is that goroutine and the
//! M's `procid` that thread, in both.

use goruntime::{Depth, ListOptions};

use super::filter::alive_goids;
use super::table::goroutine_label;
use super::{
    complete_running, list_error, prefetch_for_listing, thread_states, Decoded, GoState,
    GoViewError, Loaded,
};
use crate::process::Backend;

/// Which goroutines a stop's decoding covers: every one (allgs), or only those the OS threads
/// run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    All,
    Running,
}

impl GoState {
    /// The goroutines of this stop, decoded (not yet unwound) at most once per stop, with the
    /// threads' registers the unwinding needs.
    pub(super) fn decoded(&mut self, inf: &mut dyn Backend) -> Result<Decoded<'_>, GoViewError> {
        self.decoded_in(inf, Scope::All)
    }

    /// The goroutines of this stop that `scope` covers, decoded at most once per stop (what an
    /// earlier stop of this process decoded and unwound is reused for the goroutines that did
    /// not change), with the threads' registers the unwinding needs.
    fn decoded_in(
        &mut self,
        inf: &mut dyn Backend,
        scope: Scope,
    ) -> Result<Decoded<'_>, GoViewError> {
        let stop = inf.stop_id();
        self.binary(inf)?;
        let Some(Loaded { bin: Ok(bin), .. }) = &self.binary else {
            unreachable!("loaded above")
        };
        let (slot, on_threads) = match scope {
            Scope::All => (&mut self.list, &mut self.on_threads),
            Scope::Running => (&mut self.running, &mut self.running_on_threads),
        };
        let mut threads = thread_states(inf);
        if slot.as_ref().is_none_or(|(s, _, _)| *s != stop) {
            let opts = ListOptions {
                unwind: false,
                ..ListOptions::default()
            };
            let previous = match slot.take() {
                Some((_, pid, list)) if pid == inf.pid() => Some(list),
                _ => None,
            };
            if scope == Scope::All {
                self.earlier = previous.as_deref().map(alive_goids);
            }
            let previous = previous.unwrap_or_default();
            complete_running(inf, previous.iter(), &mut threads);
            let all = scope == Scope::All;
            prefetch_for_listing(inf, bin, &self.memo, &threads, &[&previous], all);
            let mem = &mut &mut *inf;
            let list = match scope {
                Scope::All => goruntime::list_goroutines_since(
                    bin, &self.memo, mem, &threads, &opts, previous,
                ),
                Scope::Running => {
                    let addrs = goruntime::running_g_addrs(bin, mem, &threads);
                    goruntime::goroutines_at(
                        bin, &self.memo, mem, &addrs, &threads, &opts, previous,
                    )
                }
            }
            .map_err(list_error)?;
            *on_threads = (0..list.len())
                .filter(|&i| list[i].thread.is_some())
                .collect();
            *slot = Some((stop, inf.pid(), list));
        }
        let list = &mut slot.as_mut().expect("filled above").2;
        let running = on_threads.iter().filter_map(|&i| list.get(i));
        complete_running(inf, running, &mut threads);
        Ok((bin, &self.memo, list, threads, on_threads))
    }

    /// The label of the goroutine OS thread `pid` runs at this stop (the os view's thread
    /// label), if it runs one; only that goroutine is unwound.
    pub fn label_on_thread(&mut self, inf: &mut dyn Backend, pid: i32) -> Option<String> {
        let policy = self.policy;
        let stop = inf.stop_id();
        let listed = self
            .list
            .as_ref()
            .is_some_and(|(s, p, _)| *s == stop && *p == inf.pid());
        let scope = if listed { Scope::All } else { Scope::Running };
        let (bin, memo, list, threads, on_threads) = self.decoded_in(inf, scope).ok()?;
        let i = on_threads
            .iter()
            .copied()
            .find(|&i| list[i].thread == Some(pid) && !list[i].status.is_dead())?;
        let mut one = [&mut list[i]];
        let depth = Depth::FirstShown(policy.level());
        goruntime::unwind_goroutines(bin, memo, &mut &mut *inf, &mut one, &threads, depth);
        let [g] = one;
        Some(goroutine_label(bin, g, policy))
    }
}
