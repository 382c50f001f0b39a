//! Glue from a stopped process to goruntime: the Go binary (loaded once per program), the
//! goroutine list (computed once per stop and reused until resume), and the text of the Go
//! monitor commands. A program that is not Go answers every Go command with "not a Go program".

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use goruntime::{GoBinary, GoError, Goroutine, ListOptions, Policy, ProcessMemo, ThreadState};
use memcache::{MemError, MemorySource, ReadRequest};
use nix::unistd::Pid;

use crate::process::Inferior;
use crate::tid_map::ThreadRef;

/// goruntime reads the target like the client does: through the cache, without our int3 bytes.
impl MemorySource for Inferior {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        self.read_memory(addr, buf)
    }

    fn read_batch(&mut self, requests: &mut [ReadRequest<'_>]) -> Result<(), MemError> {
        self.read_memory_batch(requests)
    }

    fn prefetch(&mut self, ranges: &[(u64, u64)]) -> Result<(), MemError> {
        self.prefetch_memory(ranges)
    }
}

/// How much of each OS thread's stack, from its rsp, is fetched before goroutines are listed.
const STACK_TOP_BYTES: u64 = 2048;

/// What the Go side of a session knows.
#[derive(Default)]
pub struct GoState {
    /// The program the binary was loaded from, and the result of loading it.
    binary: Option<(PathBuf, Result<GoBinary, String>)>,
    /// What listings learned about the process of that binary.
    memo: ProcessMemo,
    /// The goroutine list of the current stop: (stop id, process, list).
    list: Option<(u64, Pid, Vec<Goroutine>)>,
    /// The `goroutines` view of the current stop: (stop number, policy and cap it was built for).
    table: Option<(u64, Policy, usize, ThreadTable)>,
    /// What the last table needs to be rebuilt from its own goroutines (see `thread_table`).
    capped: Option<CappedTable>,
    pub policy: Policy,
}

/// A table the cap cut short, and what keeps it exact without listing every goroutine again.
struct CappedTable {
    pid: Pid,
    policy: Policy,
    max_threads: usize,
    /// The lowest goid the cap left out (among goroutines not running). Goroutines created since
    /// have higher goids, so while every parked member stays below it and alive, the table is
    /// the members plus whatever runs now.
    boundary: u64,
    hidden: usize,
    /// The members, decoded and unwound (reused while their g structs do not change).
    members: Vec<Goroutine>,
}

impl GoState {
    pub fn new(policy: Policy) -> GoState {
        GoState {
            policy,
            ..GoState::default()
        }
    }

    fn binary(&mut self, exe: &Path, pid: Pid) -> Result<&GoBinary, String> {
        // A PIE is relocated by its load bias (AT_ENTRY − e_entry); a new bias means a new process.
        let auxv = std::fs::read(format!("/proc/{pid}/auxv")).unwrap_or_default();
        let moved = |b: &GoBinary| goruntime::load_bias(b, &auxv).is_some_and(|bias| bias != 0);
        if self
            .binary
            .as_ref()
            .is_none_or(|(p, b)| p != exe || b.as_ref().is_ok_and(moved))
        {
            let loaded = GoBinary::load(exe)
                .map(|b| {
                    let bias = goruntime::load_bias(&b, &auxv).unwrap_or(0);
                    b.relocated(bias)
                })
                .map_err(|e| match e {
                    GoError::NotGo => "not a Go program".to_string(),
                    other => other.to_string(),
                });
            self.binary = Some((exe.to_path_buf(), loaded));
            self.memo = ProcessMemo::default();
            self.list = None;
            self.table = None;
        }
        match &self.binary {
            Some((_, Ok(bin))) => Ok(bin),
            Some((_, Err(e))) => Err(e.clone()),
            None => Err("no program".into()),
        }
    }

    /// The goroutines of this stop, decoded (not yet unwound) at most once per stop, with the
    /// threads' registers the unwinding needs.
    fn decoded(
        &mut self,
        inf: &mut Inferior,
    ) -> Result<
        (
            &GoBinary,
            &ProcessMemo,
            &mut Vec<Goroutine>,
            Vec<ThreadState>,
        ),
        String,
    > {
        let exe = inf
            .exe()
            .ok_or("the program file is unknown")?
            .to_path_buf();
        let stop = inf.stop_id();
        self.binary(&exe, inf.pid())?;
        let Some((_, Ok(bin))) = &self.binary else {
            unreachable!("loaded above")
        };
        let mut threads = thread_states(inf);
        if self.list.as_ref().is_none_or(|(s, _, _)| *s != stop) {
            let opts = ListOptions {
                unwind: false,
                ..ListOptions::default()
            };
            // What an earlier stop of this process decoded and unwound is reused for the
            // goroutines that did not change.
            let previous = match self.list.take() {
                Some((_, pid, list)) if pid == inf.pid() => list,
                _ => Vec::new(),
            };
            prefetch_for_listing(inf, bin, &self.memo, &threads, &previous, true);
            let list =
                goruntime::list_goroutines_since(bin, &self.memo, inf, &threads, &opts, previous)
                    .map_err(|e| e.to_string())?;
            self.list = Some((stop, inf.pid(), list));
        }
        let list = &mut self.list.as_mut().expect("filled above").2;
        complete_running(inf, list, &mut threads);
        Ok((bin, &self.memo, list, threads))
    }

    /// Every goroutine of this stop, unwound (computed at most once per stop).
    pub fn goroutines(&mut self, inf: &mut Inferior) -> Result<(&GoBinary, &[Goroutine]), String> {
        let (bin, memo, list, threads) = self.decoded(inf)?;
        let mut all: Vec<&mut Goroutine> = list.iter_mut().collect();
        goruntime::unwind_goroutines(bin, memo, inf, &mut all, &threads);
        Ok((bin, list))
    }

    /// Whether goroutine `goid` exists at this stop, and the OS thread running it if any.
    pub fn goroutine_thread(&mut self, inf: &mut Inferior, goid: u64) -> Option<Option<Pid>> {
        let (_, _, list, _) = self.decoded(inf).ok()?;
        let g = list
            .iter()
            .find(|g| g.goid == goid && !g.status.is_dead())?;
        Some(g.thread.map(Pid::from_raw))
    }

    /// Whether the process runs a Go program (its binary loads).
    pub fn is_go(&mut self, inf: &Inferior) -> bool {
        inf.exe()
            .is_some_and(|exe| self.binary(exe, inf.pid()).is_ok())
    }

    /// The `goroutines` view of the current stop, built at most once per stop. Only the
    /// goroutines the cap lets through are unwound. When the last table was cut by the cap (many
    /// thousands of goroutines), the next one is rebuilt from its own members and the goroutines
    /// running now, which costs a few hundred g structs instead of all of them; a member that
    /// died, or one that should have dropped behind the cap, forces a full listing again.
    pub fn thread_table(
        &mut self,
        inf: &mut Inferior,
        max_threads: usize,
    ) -> Result<&ThreadTable, String> {
        let stop = inf.stop_id();
        let policy = self.policy;
        let fresh = self
            .table
            .as_ref()
            .is_some_and(|(s, p, m, _)| *s == stop && *p == policy && *m == max_threads);
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

    /// The table from every goroutine of the stop.
    fn full_table(
        &mut self,
        inf: &mut Inferior,
        max_threads: usize,
    ) -> Result<ThreadTable, String> {
        let policy = self.policy;
        let os_threads: Vec<Pid> = inf.thread_ids().collect();
        let (bin, memo, list, threads) = self.decoded(inf)?;
        let mut chosen = shown_as_threads(bin, list, &os_threads, policy);
        let hidden = chosen.len().saturating_sub(max_threads);
        let boundary = chosen[chosen.len().min(max_threads)..]
            .iter()
            .filter(|&&i| live_thread(&list[i], &os_threads).is_none())
            .map(|&i| list[i].goid)
            .min();
        chosen.truncate(max_threads);
        unwind_chosen(bin, memo, inf, list, &mut chosen, &threads);
        let table = build_thread_table(bin, list, &chosen, &os_threads, policy, hidden);
        if hidden > 0 {
            log::info!("{hidden} goroutines not shown as threads (--max-threads {max_threads})");
        }
        self.capped = boundary.map(|boundary| CappedTable {
            pid: inf.pid(),
            policy,
            max_threads,
            boundary,
            hidden,
            members: chosen.iter().map(|&i| list[i].clone()).collect(),
        });
        Ok(table)
    }

    /// The table rebuilt from the last capped table's members and the running goroutines, or
    /// `None` when that would not be exact (then a full listing is made).
    fn capped_table(
        &mut self,
        inf: &mut Inferior,
        max_threads: usize,
    ) -> Result<Option<ThreadTable>, String> {
        let policy = self.policy;
        let Some(last) = self.capped.take() else {
            return Ok(None);
        };
        if last.pid != inf.pid() || last.policy != policy || last.max_threads != max_threads {
            return Ok(None);
        }
        let exe = inf
            .exe()
            .ok_or("the program file is unknown")?
            .to_path_buf();
        self.binary(&exe, inf.pid())?;
        let Some((_, Ok(bin))) = &self.binary else {
            unreachable!("loaded above")
        };
        let os_threads: Vec<Pid> = inf.thread_ids().collect();
        let mut threads = thread_states(inf);
        prefetch_for_listing(inf, bin, &self.memo, &threads, &last.members, false);
        let mut addrs: Vec<u64> = last.members.iter().map(|g| g.g_addr).collect();
        addrs.extend(goruntime::running_g_addrs(bin, inf, &threads));
        addrs.sort_unstable();
        addrs.dedup();
        let opts = ListOptions {
            unwind: false,
            ..ListOptions::default()
        };
        let member_goids: Vec<(u64, u64)> =
            last.members.iter().map(|g| (g.g_addr, g.goid)).collect();
        let mut list =
            goruntime::goroutines_at(bin, &self.memo, inf, &addrs, &threads, &opts, last.members)
                .map_err(|e| e.to_string())?;
        complete_running(inf, &list, &mut threads);
        // Every member must still be the same goroutine, alive and shown.
        let intact = member_goids.iter().all(|&(addr, goid)| {
            list.iter()
                .any(|g| g.g_addr == addr && g.goid == goid && goruntime::is_shown(bin, g, policy))
        });
        let mut chosen = shown_as_threads(bin, &list, &os_threads, policy);
        chosen.truncate(max_threads);
        // A parked member at or past the boundary means a goroutine the cap left out now ranks
        // before it.
        let exact = intact
            && chosen.len() == max_threads
            && chosen.iter().all(|&i| {
                live_thread(&list[i], &os_threads).is_some() || list[i].goid < last.boundary
            });
        if !exact {
            return Ok(None);
        }
        unwind_chosen(bin, &self.memo, inf, &mut list, &mut chosen, &threads);
        let table = build_thread_table(bin, &list, &chosen, &os_threads, policy, last.hidden);
        let members = chosen
            .iter()
            .map(|&i| std::mem::take(&mut list[i]))
            .collect();
        self.capped = Some(CappedTable { members, ..last });
        Ok(Some(table))
    }
}

/// Fetches in one batch (with the stop's first read, when this is it) what a listing will read:
/// the threads' stacks and TLS slots (running goroutines are unwound from them) and, as the
/// last listing found them, allgs, the g structs, their Ms and the parked stacks' tops.
fn prefetch_for_listing(
    inf: &mut Inferior,
    bin: &GoBinary,
    memo: &ProcessMemo,
    threads: &[ThreadState],
    previous: &[Goroutine],
    with_allgs: bool,
) {
    let mut ranges: Vec<(u64, u64)> = threads
        .iter()
        .flat_map(|t| [(t.rsp, STACK_TOP_BYTES), (t.fs_base.saturating_sub(8), 8)])
        .filter(|&(addr, _)| addr != 0)
        .collect();
    ranges.extend(goruntime::listing_hints(bin, memo, previous, with_allgs));
    if let Err(e) = inf.prefetch_memory(&ranges) {
        log::debug!("listing prefetch: {e}");
    }
}

/// What the listing knows of each OS thread before it knows which ones run a goroutine: the
/// registers when they were read at this stop already, else only the tid and the fs_base seen
/// before (registers cost a ptrace call per thread, and most threads sleep in the scheduler or
/// a syscall). A thread never seen gets its registers read. `complete_running` fills in the
/// threads that turn out to run a goroutine.
fn thread_states(inf: &mut Inferior) -> Vec<ThreadState> {
    let tids: Vec<Pid> = inf.thread_ids().collect();
    tids.into_iter()
        .filter_map(|tid| {
            let t = inf.thread(tid).ok()?;
            if let (None, Some(fs_base)) = (t.gprs_if_read(), t.fs_base_seen()) {
                return Some(ThreadState {
                    tid: tid.as_raw(),
                    fs_base,
                    ..ThreadState::default()
                });
            }
            t.gprs().ok().map(|g| live_state(tid, g))
        })
        .collect()
}

/// Unwinds the goroutines at `chosen` (indices into `list`; left sorted).
fn unwind_chosen(
    bin: &GoBinary,
    memo: &ProcessMemo,
    inf: &mut Inferior,
    list: &mut [Goroutine],
    chosen: &mut [usize],
    threads: &[ThreadState],
) {
    chosen.sort_unstable();
    let mut to_unwind: Vec<&mut Goroutine> = list
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| chosen.binary_search(i).is_ok())
        .map(|(_, g)| g)
        .collect();
    goruntime::unwind_goroutines(bin, memo, inf, &mut to_unwind, threads);
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
/// from their live registers) where `thread_states` left them out.
fn complete_running(inf: &mut Inferior, list: &[Goroutine], threads: &mut [ThreadState]) {
    for t in threads.iter_mut().filter(|t| t.rsp == 0) {
        if !list
            .iter()
            .any(|g| g.thread == Some(t.tid) && g.status == goruntime::GStatus::Running)
        {
            continue;
        }
        let Ok(th) = inf.thread(Pid::from_raw(t.tid)) else {
            continue;
        };
        if let Ok(g) = th.gprs() {
            *t = live_state(Pid::from_raw(t.tid), g);
        }
    }
}

/// `function file:line` of the first frame the policy shows.
pub fn top_frame(bin: &GoBinary, g: &Goroutine, policy: Policy) -> String {
    match goruntime::visible_frames(bin, g, policy).first() {
        Some(f) => format!("{} {}:{}", f.function, f.file, f.line),
        None => g.error.as_ref().map(|e| e.to_string()).unwrap_or_default(),
    }
}

/// Filters of `monitor goroutines`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    status: Option<String>,
    wait: Option<String>,
    func: Option<String>,
    label: Option<(String, String)>,
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
    pub fn parse<'a>(mut words: impl Iterator<Item = &'a str>) -> Result<ListFilter, String> {
        let mut f = ListFilter::default();
        while let Some(flag) = words.next() {
            let mut value = || {
                words
                    .next()
                    .map(str::to_string)
                    .ok_or(format!("{flag} needs a value"))
            };
            match flag {
                "-s" => f.status = Some(value()?),
                "-w" => f.wait = Some(value()?),
                "-f" => f.func = Some(value()?),
                "-l" => {
                    let v = value()?;
                    let (k, val) = v.split_once('=').ok_or("-l takes KEY=VALUE")?;
                    f.label = Some((k.to_string(), val.to_string()));
                }
                "-n" => f.limit = Some(value()?.parse().map_err(|_| "-n takes a number")?),
                "-group" => {
                    f.group = Some(match value()?.as_str() {
                        "top" => GroupBy::TopFrame,
                        "start" => GroupBy::StartFunction,
                        "go" => GroupBy::GoStatement,
                        "wait" => GroupBy::WaitReason,
                        other => {
                            return Err(format!("-group takes top, start, go or wait, not {other}"))
                        }
                    })
                }
                other => return Err(format!("unknown option {other}; see 'monitor help'")),
            }
        }
        Ok(f)
    }

    /// `-s`, `-w` and `-f` match substrings (like grep); `-l` matches a label exactly.
    fn matches(&self, g: &Goroutine) -> bool {
        let state = g
            .wait_reason
            .clone()
            .unwrap_or_else(|| g.status.to_string());
        self.status
            .as_ref()
            .is_none_or(|s| g.status.to_string().contains(s.as_str()) || state.contains(s.as_str()))
            && self.wait.as_ref().is_none_or(|w| {
                g.wait_reason
                    .as_deref()
                    .is_some_and(|r| r.contains(w.as_str()))
            })
            && self
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

/// The text of `monitor goroutines`.
pub fn list_text(
    bin: &GoBinary,
    list: &[Goroutine],
    policy: Policy,
    filter: &ListFilter,
) -> String {
    let shown: Vec<&Goroutine> = list
        .iter()
        .filter(|g| goruntime::is_shown(bin, g, policy) && filter.matches(g))
        .collect();
    let mut out = String::new();
    if let Some(by) = filter.group {
        let mut groups: BTreeMap<String, usize> = BTreeMap::new();
        for g in &shown {
            let key = match by {
                GroupBy::TopFrame => top_frame(bin, g, policy),
                GroupBy::StartFunction => pc_name(bin, g.startpc),
                GroupBy::GoStatement => pc_name(bin, g.gopc),
                GroupBy::WaitReason => g
                    .wait_reason
                    .clone()
                    .unwrap_or_else(|| g.status.to_string()),
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
            let _ = writeln!(
                out,
                "{} {}",
                goruntime::header_line(g),
                top_frame(bin, g, policy)
            );
        }
    }
    if filter.group.is_none() && shown.len() > filter.limit.unwrap_or(usize::MAX) {
        let more = shown.len() - filter.limit.unwrap_or(0);
        let _ = writeln!(out, "... {more} more not listed (-n)");
    }
    let _ = write!(
        out,
        "{} goroutines shown of {} (traceback {policy})",
        shown.len(),
        list.len()
    );
    out
}

/// One thread the client sees in the `goroutines` view.
#[derive(Debug, Clone)]
pub struct ViewThread {
    pub id: ThreadRef,
    /// The OS thread whose live registers this thread has (a running goroutine or a bare thread).
    pub os_tid: Option<Pid>,
    /// For a parked goroutine: rip, rsp and rbp of the first frame the policy shows.
    pub parked_at: Option<(u64, u64, u64)>,
    /// `qThreadExtraInfo`: "goroutine 17 [chan receive, 3 minutes] main.worker".
    pub label: String,
}

/// The `goroutines` view of one stop: running goroutines first, then the others in goid order,
/// capped; then the OS threads that run no shown goroutine.
#[derive(Debug, Clone, Default)]
pub struct ThreadTable {
    pub threads: Vec<ViewThread>,
    /// Goroutines the cap left out.
    pub hidden: usize,
}

impl ThreadTable {
    pub fn find(&self, id: ThreadRef) -> Option<&ViewThread> {
        self.threads.iter().find(|t| t.id == id)
    }

    /// The client thread standing for OS thread `tid`: its goroutine's, or its own.
    pub fn thread_of_os(&self, tid: Pid) -> ThreadRef {
        self.threads
            .iter()
            .find(|t| t.os_tid == Some(tid))
            .map_or(ThreadRef::Os(tid), |t| t.id)
    }
}

/// The label of a goroutine: its header without the colon, and the top shown function.
pub fn goroutine_label(bin: &GoBinary, g: &Goroutine, policy: Policy) -> String {
    let header = goruntime::header_line(g);
    let header = header.trim_end_matches(':');
    match goruntime::visible_frames(bin, g, policy).first() {
        Some(f) => format!("{header} {}", f.function),
        None => header.to_string(),
    }
}

/// Where a parked goroutine's client registers point: its first shown frame. The innermost frame
/// uses the saved scheduling registers. An outer frame points at its call instruction, not the
/// return address, so the client shows the line (and inlined function) the runtime shows; its
/// rbp is its frame pointer (CFA - 16, as Go's amd64 prologue pushes rbp right below the return
/// address).
fn parked_registers(bin: &GoBinary, g: &Goroutine, policy: Policy) -> (u64, u64, u64) {
    let visible = goruntime::visible_frames(bin, g, policy);
    match (visible.first(), g.frames.first()) {
        (Some(f), Some(innermost)) if !(f.pc == innermost.pc && f.sp == innermost.sp) => {
            // The call instruction, unless a hidden runtime function inlined there would then
            // show as the innermost frame; the return address lies in the shown function.
            let pc = goruntime::unwind::call_site(bin, f.pc)
                .filter(|&call| {
                    goruntime::symbolize(bin, call).is_some_and(|(func, _, _)| *func == *f.function)
                })
                .unwrap_or(f.pc);
            (pc, f.sp, f.fp.saturating_sub(16))
        }
        _ => (g.pc, g.sp, g.bp),
    }
}

/// Indices into `list` of the goroutines the policy shows as threads, in the order they are
/// shown: running ones first, then by goid.
fn shown_as_threads(
    bin: &GoBinary,
    list: &[Goroutine],
    os_threads: &[Pid],
    policy: Policy,
) -> Vec<usize> {
    let mut shown: Vec<usize> = (0..list.len())
        .filter(|&i| goruntime::is_shown(bin, &list[i], policy))
        .collect();
    shown.sort_by_key(|&i| (live_thread(&list[i], os_threads).is_none(), list[i].goid));
    shown
}

/// The OS thread running `g`, if it is one of ours.
fn live_thread(g: &Goroutine, os_threads: &[Pid]) -> Option<Pid> {
    g.thread
        .map(Pid::from_raw)
        .filter(|t| os_threads.contains(t))
}

/// The table for the goroutines at `chosen` (indices into `list`, unwound), then every OS
/// thread that runs none of them.
fn build_thread_table(
    bin: &GoBinary,
    list: &[Goroutine],
    chosen: &[usize],
    os_threads: &[Pid],
    policy: Policy,
    hidden: usize,
) -> ThreadTable {
    let mut order: Vec<&Goroutine> = chosen.iter().map(|&i| &list[i]).collect();
    order.sort_by_key(|g| (live_thread(g, os_threads).is_none(), g.goid));
    let mut threads: Vec<ViewThread> = order
        .iter()
        .map(|g| {
            let os_tid = live_thread(g, os_threads);
            ViewThread {
                id: ThreadRef::Goroutine(g.goid),
                os_tid,
                parked_at: os_tid.is_none().then(|| parked_registers(bin, g, policy)),
                label: goroutine_label(bin, g, policy),
            }
        })
        .collect();
    for &tid in os_threads {
        if threads.iter().any(|t| t.os_tid == Some(tid)) {
            continue;
        }
        let running = list
            .iter()
            .find(|g| g.thread == Some(tid.as_raw()) && !g.status.is_dead());
        let label = match running {
            Some(g) => format!("thread running hidden goroutine {}", g.goid),
            None => "idle thread (no goroutine)".to_string(),
        };
        threads.push(ViewThread {
            id: ThreadRef::Os(tid),
            os_tid: Some(tid),
            parked_at: None,
            label,
        });
    }
    ThreadTable { threads, hidden }
}
