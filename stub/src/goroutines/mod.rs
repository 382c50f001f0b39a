//! Glue from a stopped backend to goruntime: the Go binary (loaded once per program), the
//! goroutine list (computed once per stop and reused until resume) and the goroutines-as-threads
//! table. A program that is not Go answers every Go command with "not a Go program".
//!
//! Quirk: the backend is a `&mut dyn Backend`; goruntime takes a sized `MemorySource`, so it is
//! handed `&mut &mut dyn Backend` (memcache implements the trait for `&mut T`).

mod decoding;
mod filter;
mod inputs;
mod table;

use std::path::PathBuf;
use std::sync::Arc;

use goruntime::{
    Depth, GoBinary, GoError, Goroutine, ListOptions, Policy, ProcessMemo, ThreadState,
};
use nix::unistd::Pid;

use crate::process::Backend;
use crate::tid_map::ThreadRef;
pub use filter::{FilterError, ListFilter};
use inputs::{complete_running, prefetch_for_listing, thread_states};
use table::{build_thread_table, choose_threads, ViewThread};
pub use table::{Interrupted, ThreadTable};

/// Why a Go question has no answer (the text is what the monitor commands print).
#[derive(Debug, Clone, thiserror::Error)]
pub enum GoViewError {
    #[error("not a Go program")]
    NotGo,
    #[error("{0}")]
    Binary(Arc<GoError>),
    #[error("the program file is unknown")]
    NoExe,
    #[error("{0}")]
    List(Arc<GoError>),
    #[error("no process")]
    NoProcess,
    #[error("the process is running")]
    Running,
    #[error("usage: goroutine ID [bt]")]
    Usage,
    #[error(transparent)]
    Filter(#[from] FilterError),
}

fn list_error(e: GoError) -> GoViewError {
    GoViewError::List(Arc::new(e))
}

/// A stop's goroutines, decoded: the binary, the process memo, the list, the threads' states and
/// the indices into the list of the goroutines on threads.
type Decoded<'a> = (
    &'a GoBinary,
    &'a ProcessMemo,
    &'a mut Vec<Goroutine>,
    Vec<ThreadState>,
    &'a [usize],
);

/// What the Go side of a session knows.
#[derive(Default)]
pub struct GoState {
    /// The program the binary was loaded from, and the result of loading it.
    binary: Option<Loaded>,
    /// What listings learned about the process of that binary.
    memo: ProcessMemo,
    /// The goroutine list of the current stop: (stop id, process, list).
    list: Option<(u64, Pid, Vec<Goroutine>)>,
    /// Indices into `list` of the goroutines on an OS thread (a few among maybe a million).
    on_threads: Vec<usize>,
    /// The goroutines the OS threads run at the current stop, when `list` is not made (see
    /// `decoding.rs`): (stop id, process, goroutines).
    running: Option<(u64, Pid, Vec<Goroutine>)>,
    /// Indices into `running` of the goroutines on an OS thread.
    running_on_threads: Vec<usize>,
    /// The goids (sorted) alive at the listing before `list`, when it was of the same process:
    /// what `goroutines -new` compares with.
    earlier: Option<Vec<u64>>,
    /// The `goroutines` view of the current stop: (stop number, policy and cap it was built for).
    table: Option<(u64, Policy, usize, ThreadTable)>,
    /// The last table's members (see `thread_table`).
    last: Option<LastTable>,
    pub policy: Policy,
}

/// The program's binary as loaded, relocated for the process last seen running it.
struct Loaded {
    exe: PathBuf,
    /// The process whose load bias `bin` carries (`None` until one was seen).
    pid: Option<Pid>,
    bin: Result<GoBinary, Arc<GoError>>,
}

/// The goroutine threads of the last table built, kept so that the next one keeps them (see
/// [`choose_threads`]), and what rebuilds it without listing every goroutine again.
struct LastTable {
    pid: Pid,
    policy: Policy,
    max_threads: usize,
    /// The goids shown as threads, sorted.
    goids: Vec<u64>,
    /// When the cap left goroutines out: what rebuilds the next table from the members.
    capped: Option<Capped>,
}

/// A table cut by the cap, as the next one is rebuilt from it.
struct Capped {
    /// How many goroutines the cap left out.
    hidden: usize,
    /// The members, decoded and unwound (reused while their g structs do not change).
    members: Vec<Goroutine>,
    /// The system stacks' gs (g0, gsignal: goid 0) the threads ran: found again from the
    /// threads' TLS, so their g structs and Ms go into the prefetch.
    system: Vec<Goroutine>,
}

impl Capped {
    fn new(hidden: usize, members: Vec<Goroutine>, list: &[Goroutine]) -> Capped {
        let system = list.iter().filter(|g| g.goid == 0).cloned().collect();
        Capped {
            hidden,
            members,
            system,
        }
    }
}

impl LastTable {
    fn fits(&self, pid: Pid, policy: Policy, max_threads: usize) -> bool {
        self.pid == pid && self.policy == policy && self.max_threads == max_threads
    }
}

impl GoState {
    pub fn new(policy: Policy) -> GoState {
        GoState {
            policy,
            ..GoState::default()
        }
    }

    /// The binary of the program `inf` runs, loaded once per program file and relocated once per
    /// process: a PIE (or any binary loaded away from its link address) carries the load bias
    /// `AT_ENTRY − e_entry` of the process, from its auxiliary vector. Relocation is relative, so
    /// another process of the same file only moves the binary by the difference.
    fn binary(&mut self, inf: &dyn Backend) -> Result<&GoBinary, GoViewError> {
        let exe = inf.exe().ok_or(GoViewError::NoExe)?;
        if self.binary.as_ref().is_none_or(|l| l.exe != exe) {
            self.binary = Some(Loaded {
                exe: exe.to_path_buf(),
                pid: None,
                bin: GoBinary::load(exe).map_err(Arc::new),
            });
            self.forget_process();
        }
        let pid = inf.pid();
        if let Some(loaded) = self.binary.take_if(|l| l.pid != Some(pid)) {
            let delta = match (&loaded.bin, inf.auxv()) {
                (Ok(bin), Ok(auxv)) => goruntime::load_bias(bin, &auxv).unwrap_or(0),
                (Ok(_), Err(e)) => {
                    log::debug!("no auxv, binary taken at its link addresses: {e}");
                    0
                }
                (Err(_), _) => 0,
            };
            if delta != 0 {
                self.forget_process();
            }
            self.binary = Some(Loaded {
                pid: Some(pid),
                bin: loaded.bin.map(|b| b.relocated(delta)),
                ..loaded
            });
        }
        match self.binary.as_ref().map(|l| &l.bin) {
            Some(Ok(bin)) => Ok(bin),
            Some(Err(e)) if matches!(**e, GoError::NotGo) => Err(GoViewError::NotGo),
            Some(Err(e)) => Err(GoViewError::Binary(e.clone())),
            None => Err(GoViewError::NoExe),
        }
    }

    /// The process replaced its program (exec): the binary is loaded and relocated again, even
    /// when it is the same file, and nothing learned about the old image stands.
    pub fn forget_program(&mut self) {
        self.binary = None;
        self.last = None;
        self.forget_process();
    }

    /// Drops what was learned about the process at the binary's old addresses.
    fn forget_process(&mut self) {
        self.memo = ProcessMemo::default();
        self.list = None;
        self.running = None;
        self.earlier = None;
        self.table = None;
    }

    /// Every goroutine of this stop, unwound to `depth` (each walk made at most once per stop
    /// and depth; none when `depth` is `None`).
    fn goroutines(
        &mut self,
        inf: &mut dyn Backend,
        depth: Option<Depth>,
    ) -> Result<(&GoBinary, &[Goroutine]), GoViewError> {
        let (bin, memo, list, threads, _) = self.decoded(inf)?;
        if let Some(depth) = depth {
            let mut all: Vec<&mut Goroutine> = list.iter_mut().collect();
            goruntime::unwind_goroutines(bin, memo, &mut &mut *inf, &mut all, &threads, depth);
        }
        Ok((bin, list))
    }

    /// `goroutine GOID bt`: the runtime's traceback of goroutine `goid` at this stop (only it is
    /// walked in full).
    pub fn traceback(&mut self, inf: &mut dyn Backend, goid: u64) -> Result<String, GoViewError> {
        let policy = self.policy;
        let (bin, memo, list, threads, _) = self.decoded(inf)?;
        let Some(g) = list.iter_mut().find(|g| g.goid == goid) else {
            return Ok(format!("no goroutine {goid}"));
        };
        let mut one = [g];
        goruntime::unwind_goroutines(bin, memo, &mut &mut *inf, &mut one, &threads, Depth::Full);
        let [g] = one;
        Ok(goruntime::render_traceback(bin, g, policy))
    }

    /// The text of `monitor goroutines` at this stop, handed to `sink` in pieces that end lines.
    pub fn list_text(
        &mut self,
        inf: &mut dyn Backend,
        filter: &ListFilter,
        sink: &mut dyn FnMut(&str),
    ) -> Result<(), GoViewError> {
        let policy = self.policy;
        match filter.lines_walked() {
            // `-n N`: only the first N listed goroutines are walked.
            Some(n) => {
                self.decoded(inf)?;
                let earlier = self.earlier.take();
                let walked = self.decoded(inf).map(|(bin, memo, list, threads, _)| {
                    let mut lines: Vec<&mut Goroutine> = list
                        .iter_mut()
                        .filter(|g| filter.lists(bin, g, policy, earlier.as_deref()))
                        .take(n)
                        .collect();
                    let depth = Depth::FirstShown(policy.level());
                    goruntime::unwind_goroutines(
                        bin,
                        memo,
                        &mut &mut *inf,
                        &mut lines,
                        &threads,
                        depth,
                    );
                });
                self.earlier = earlier;
                walked?;
            }
            None => {
                self.goroutines(inf, filter.depth(policy))?;
            }
        }
        let (Some(Loaded { bin: Ok(bin), .. }), Some((_, _, list))) = (&self.binary, &self.list)
        else {
            unreachable!("listed above")
        };
        filter::list_text(bin, list, policy, filter, self.earlier.as_deref(), sink);
        Ok(())
    }

    /// Whether goroutine `goid` exists at this stop, and the OS thread running it if any.
    pub fn goroutine_thread(&mut self, inf: &mut dyn Backend, goid: u64) -> Option<Option<Pid>> {
        let (_, _, list, _, _) = self.decoded(inf).ok()?;
        // The list is in goid order.
        let from = list.partition_point(|g| g.goid < goid);
        let g = list[from..]
            .iter()
            .take_while(|g| g.goid == goid)
            .find(|g| !g.status.is_dead())?;
        Some(g.thread.map(Pid::from_raw))
    }

    /// Whether the process runs a Go program (its binary loads).
    pub fn is_go(&mut self, inf: &dyn Backend) -> bool {
        self.binary(inf).is_ok()
    }

    /// Sets the traceback policy. The monitor's texts follow it at once; the thread view of
    /// the current stop (`stop`), if built, keeps the policy it was built under, since gdb and
    /// lldb keep a stop's threads and registers until the next stop (neither re-reads them
    /// after a `qRcmd`, and a view that changed under them would mix two policies). Returns
    /// the policy the current stop's threads keep, when it is another one.
    pub fn set_policy(&mut self, policy: Policy, stop: Option<u64>) -> Option<Policy> {
        self.policy = policy;
        self.table
            .as_ref()
            .filter(|(s, p, _, _)| Some(*s) == stop && *p != policy)
            .map(|(_, p, _, _)| *p)
    }

    /// The `goroutines` view of the current stop, built at most once per stop under the policy
    /// in force when it is first asked for (see [`GoState::set_policy`]); its members stay
    /// from one table to the next (see [`choose_threads`]). Only the goroutines the cap lets
    /// through are unwound. When the last table was cut by the cap (many thousands of
    /// goroutines), the next one is rebuilt from its own members and the goroutines running now,
    /// which costs a few hundred g structs instead of all of them; a slot left free (a member
    /// exited) forces a full listing, which offers it to the other goroutines.
    pub fn thread_table(
        &mut self,
        inf: &mut dyn Backend,
        max_threads: usize,
    ) -> Result<&ThreadTable, GoViewError> {
        let stop = inf.stop_id();
        let policy = self.policy;
        let fresh = self
            .table
            .as_ref()
            .is_some_and(|(s, _, m, _)| *s == stop && *m == max_threads);
        if !fresh {
            let t0 = std::time::Instant::now();
            let (table, how) = match self.capped_table(inf, max_threads)? {
                Some(table) => (table, "from the capped members"),
                None => (self.full_table(inf, max_threads)?, "from every goroutine"),
            };
            log::debug!(
                "thread table: {} threads in {:?}, {how}",
                table.threads.len(),
                t0.elapsed()
            );
            self.table = Some((stop, policy, max_threads, table));
        }
        Ok(&self.table.as_ref().expect("filled above").3)
    }

    /// rip, rsp and rbp of parked goroutine thread `id` in the view of this stop (its first
    /// shown frame, worked out when first asked for).
    pub fn parked_at(
        &mut self,
        inf: &mut dyn Backend,
        max_threads: usize,
        id: ThreadRef,
    ) -> Option<(u64, u64, u64)> {
        let (bin, t) = self.view_thread(inf, max_threads, id)?;
        t.parked_at(bin)
    }

    /// For goroutine thread `id` of this stop's view, running on a thread inside a signal
    /// handler: the frame the signal interrupted (read when first asked for).
    pub fn interrupted_at(
        &mut self,
        inf: &mut dyn Backend,
        max_threads: usize,
        id: ThreadRef,
    ) -> Option<Interrupted> {
        let (bin, t) = self.view_thread(inf, max_threads, id)?;
        t.interrupted_at(bin, &mut &mut *inf)
    }

    fn view_thread(
        &mut self,
        inf: &mut dyn Backend,
        max_threads: usize,
        id: ThreadRef,
    ) -> Option<(&GoBinary, &ViewThread)> {
        self.thread_table(inf, max_threads).ok()?;
        let (Some(Loaded { bin: Ok(bin), .. }), Some((_, _, _, table))) =
            (&self.binary, &self.table)
        else {
            return None;
        };
        Some((bin, table.find(id)?))
    }

    /// The table from every goroutine of the stop.
    fn full_table(
        &mut self,
        inf: &mut dyn Backend,
        max_threads: usize,
    ) -> Result<ThreadTable, GoViewError> {
        let policy = self.policy;
        let pid = inf.pid();
        let previous = match self.last.take() {
            Some(last) if last.fits(pid, policy, max_threads) => last.goids,
            _ => Vec::new(),
        };
        let os_threads: Vec<Pid> = inf.thread_ids();
        let (bin, memo, list, threads, _) = self.decoded(inf)?;
        let choice = choose_threads(bin, list, &os_threads, policy, &previous, max_threads);
        let hidden = choice.shown - choice.chosen.len();
        let mut chosen = choice.chosen;
        unwind_chosen(bin, memo, inf, list, &mut chosen, &threads, policy);
        let table = build_thread_table(bin, list, &chosen, &os_threads, policy, hidden);
        if hidden > 0 {
            log::info!("{hidden} goroutines not shown as threads (--max-threads {max_threads})");
        }
        self.last = Some(LastTable {
            pid,
            policy,
            max_threads,
            goids: member_goids(list, &chosen),
            capped: (hidden > 0).then(|| {
                Capped::new(
                    hidden,
                    chosen.iter().map(|&i| list[i].clone()).collect(),
                    list,
                )
            }),
        });
        Ok(table)
    }

    /// The table rebuilt from the last capped table's members and the running goroutines, or
    /// `None` when that would not be exact (a slot is free for a goroutine not among them; then
    /// a full listing is made).
    fn capped_table(
        &mut self,
        inf: &mut dyn Backend,
        max_threads: usize,
    ) -> Result<Option<ThreadTable>, GoViewError> {
        let policy = self.policy;
        let pid = inf.pid();
        let Some(last) = self
            .last
            .as_mut()
            .filter(|l| l.fits(pid, policy, max_threads))
        else {
            return Ok(None);
        };
        let Some(Capped {
            hidden,
            members,
            system,
        }) = last.capped.take()
        else {
            return Ok(None);
        };
        let previous = last.goids.clone();
        self.binary(inf)?;
        let Some(Loaded { bin: Ok(bin), .. }) = &self.binary else {
            unreachable!("loaded above")
        };
        let os_threads: Vec<Pid> = inf.thread_ids();
        let mut threads = thread_states(inf);
        complete_running(inf, members.iter(), &mut threads);
        prefetch_for_listing(inf, bin, &self.memo, &threads, &[&members, &system], false);
        let mut addrs: Vec<u64> = members.iter().map(|g| g.g_addr).collect();
        addrs.extend(goruntime::running_g_addrs(bin, &mut &mut *inf, &threads));
        addrs.sort_unstable();
        addrs.dedup();
        let opts = ListOptions {
            unwind: false,
            ..ListOptions::default()
        };
        let mut list = goruntime::goroutines_at(
            bin,
            &self.memo,
            &mut &mut *inf,
            &addrs,
            &threads,
            &opts,
            members,
        )
        .map_err(list_error)?;
        complete_running(inf, list.iter(), &mut threads);
        let choice = choose_threads(bin, &list, &os_threads, policy, &previous, max_threads);
        if choice.room > 0 {
            return Ok(None);
        }
        let mut chosen = choice.chosen;
        unwind_chosen(
            bin,
            &self.memo,
            inf,
            &mut list,
            &mut chosen,
            &threads,
            policy,
        );
        let table = build_thread_table(bin, &list, &chosen, &os_threads, policy, hidden);
        let goids = member_goids(&list, &chosen);
        let members = chosen
            .iter()
            .map(|&i| std::mem::take(&mut list[i]))
            .collect();
        self.last = Some(LastTable {
            pid,
            policy,
            max_threads,
            goids,
            capped: Some(Capped::new(hidden, members, &list)),
        });
        Ok(Some(table))
    }
}

/// The goids at `chosen` (indices into `list`), sorted.
fn member_goids(list: &[Goroutine], chosen: &[usize]) -> Vec<u64> {
    let mut goids: Vec<u64> = chosen.iter().map(|&i| list[i].goid).collect();
    goids.sort_unstable();
    goids
}

/// Unwinds the goroutines at `chosen` (indices into `list`; left sorted) as far as their
/// threads' labels and registers under `policy` need.
fn unwind_chosen(
    bin: &GoBinary,
    memo: &ProcessMemo,
    inf: &mut dyn Backend,
    list: &mut [Goroutine],
    chosen: &mut [usize],
    threads: &[ThreadState],
    policy: Policy,
) {
    chosen.sort_unstable();
    let mut to_unwind: Vec<&mut Goroutine> = list
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| chosen.binary_search(i).is_ok())
        .map(|(_, g)| g)
        .collect();
    let depth = Depth::FirstShown(policy.level());
    goruntime::unwind_goroutines(bin, memo, &mut &mut *inf, &mut to_unwind, threads, depth);
}
