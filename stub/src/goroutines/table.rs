//! The goroutines view of one stop as the client's threads: which goroutines are shown (every
//! running one, the members of the last stop while they live, then by goid; see
//! [`choose_threads`]), their labels, where a parked goroutine's registers point, and the OS
//! threads that run no shown goroutine.
//!
//! A running goroutine keeps its thread's live registers, except when that thread is stopped
//! inside a signal handler (SIGURG preemption, SIGPROF, an `os/signal` handler): the handler
//! runs on the M's gsignal stack and is no part of the goroutine. The client then sees the
//! goroutine where the signal interrupted it, as the runtime's traceback from a `sigctxt`
//! starts: the first frame the policy shows after the signal frame. When that is the
//! interrupted frame itself, its registers are every general register the kernel saved in the
//! signal frame (the x87/SSE state stays the live thread's); when the interrupted frame is
//! hidden (a private runtime function), an outer frame is shown as a parked goroutine's is.
//! Such registers are read-only (the thread runs the handler), and stepping the goroutine steps
//! the handler: its pc stays the interrupted one until the handler returns. A thread whose own
//! stop is reported (a breakpoint or step inside the handler) keeps its live registers
//! (`gdb/threads.rs`).
//!
//! Quirk: a thread in the scheduler runs on its M's g0 (goid 0, status idle), which a listing
//! from the threads' TLS finds like a goroutine; it is never a goroutine thread (several idle
//! threads would all claim id 2^30 + 0).

use std::cell::OnceCell;
use std::sync::Arc;

use goruntime::unwind::SignalRegs;
use goruntime::{GoBinary, Goroutine, Policy};
use memcache::MemorySource;
use nix::unistd::Pid;

use crate::tid_map::ThreadRef;

/// Where a goroutine interrupted by a signal is shown: its first shown frame after the signal
/// frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// The interrupted frame itself, with the registers the kernel saved.
    Saved(SignalRegs),
    /// An outer frame: rip, rsp and rbp, as for a parked goroutine.
    Outer(u64, u64, u64),
}

impl Interrupted {
    /// rip, rsp and rbp of the frame.
    pub fn frame(&self) -> (u64, u64, u64) {
        match *self {
            Interrupted::Saved(r) => (r.rip, r.rsp, r.rbp),
            Interrupted::Outer(rip, rsp, rbp) => (rip, rsp, rbp),
        }
    }

    /// `live` with the general registers of the frame in place of the handler's; `None` for an
    /// outer frame, which knows only rip, rsp and rbp.
    pub fn saved_over(&self, live: &libc::user_regs_struct) -> Option<libc::user_regs_struct> {
        let Interrupted::Saved(r) = *self else {
            return None;
        };
        Some(libc::user_regs_struct {
            r8: r.r8,
            r9: r.r9,
            r10: r.r10,
            r11: r.r11,
            r12: r.r12,
            r13: r.r13,
            r14: r.r14,
            r15: r.r15,
            rdi: r.rdi,
            rsi: r.rsi,
            rbp: r.rbp,
            rbx: r.rbx,
            rdx: r.rdx,
            rax: r.rax,
            rcx: r.rcx,
            rsp: r.rsp,
            rip: r.rip,
            eflags: r.eflags,
            ..*live
        })
    }
}

/// One thread the client sees in the `goroutines` view. Its label is made with the table (gdb
/// and lldb read every thread's name at every stop); the registers of a parked or interrupted
/// goroutine are worked out when a client first asks for them at the stop (gdb asks only for
/// the threads it unwinds).
#[derive(Debug, Clone)]
pub struct ViewThread {
    pub id: ThreadRef,
    /// The OS thread whose live registers this thread has (a running goroutine or a bare thread).
    pub os_tid: Option<Pid>,
    /// For a parked goroutine: the first frame the policy shows.
    parked: Option<ShownFrame>,
    parked_regs: OnceCell<(u64, u64, u64)>,
    /// For a running goroutine whose walk crossed a signal frame: what follows it.
    crossing: Option<Box<Crossing>>,
    interrupted: OnceCell<Option<Interrupted>>,
    /// `qThreadExtraInfo`: "goroutine 17 [chan receive, 3 minutes] main.worker".
    pub label: String,
}

impl ViewThread {
    /// An OS thread that runs no shown goroutine.
    fn os(tid: Pid, label: String) -> ViewThread {
        ViewThread {
            id: ThreadRef::Os(tid),
            os_tid: Some(tid),
            parked: None,
            parked_regs: OnceCell::new(),
            crossing: None,
            interrupted: OnceCell::new(),
            label,
        }
    }

    /// For a parked goroutine: rip, rsp and rbp of the first frame the policy shows.
    pub fn parked_at(&self, bin: &GoBinary) -> Option<(u64, u64, u64)> {
        let f = self.parked.as_ref()?;
        Some(*self.parked_regs.get_or_init(|| f.registers(bin)))
    }

    /// For a running goroutine whose thread is inside a signal handler: the frame the client
    /// sees instead of the live registers (see the module doc); `mem` gives the signal frame.
    pub fn interrupted_at<M: MemorySource>(
        &self,
        bin: &GoBinary,
        mem: &mut M,
    ) -> Option<Interrupted> {
        let c = self.crossing.as_ref()?;
        *self.interrupted.get_or_init(|| c.resolve(bin, mem))
    }
}

/// A frame shown as a thread's registers: rip, rsp and rbp, where a return address is still to
/// be turned into its call instruction (which decodes the code before it).
#[derive(Debug, Clone)]
struct ShownFrame {
    pc: u64,
    sp: u64,
    bp: u64,
    /// `pc` is a return address into this function.
    returns_into: Option<Arc<str>>,
}

impl ShownFrame {
    fn registers(&self, bin: &GoBinary) -> (u64, u64, u64) {
        let pc = match &self.returns_into {
            Some(function) => call_pc(bin, self.pc, function),
            None => self.pc,
        };
        (pc, self.sp, self.bp)
    }
}

/// The frames after the signal frame a running goroutine's walk crossed, and where the kernel
/// saved the interrupted registers.
#[derive(Debug, Clone)]
struct Crossing {
    interrupted: Goroutine,
    ucontext: u64,
    policy: Policy,
}

impl Crossing {
    fn of(g: &Goroutine, policy: Policy) -> Option<Box<Crossing>> {
        let (after, ucontext) = goruntime::unwind::signal_crossing(&g.frames)?;
        let interrupted = Goroutine {
            frames: g.frames.get(after..).unwrap_or_default().to_vec(),
            ..Goroutine::default()
        };
        Some(Box::new(Crossing {
            interrupted,
            ucontext,
            policy,
        }))
    }

    /// The first shown frame after the signal frame (the policy applied to the frames after it
    /// alone, as the runtime's traceback from a `sigctxt` sees them). `None` when the saved
    /// registers cannot be read.
    fn resolve<M: MemorySource>(&self, bin: &GoBinary, mem: &mut M) -> Option<Interrupted> {
        let saved = goruntime::unwind::signal_registers(mem, self.ucontext)?;
        Some(
            match first_shown_frame(bin, &self.interrupted, self.policy, false) {
                Some(f) => {
                    let (rip, rsp, rbp) = f.registers(bin);
                    Interrupted::Outer(rip, rsp, rbp)
                }
                None => Interrupted::Saved(saved),
            },
        )
    }
}

/// The `goroutines` view of one stop: the chosen goroutines, running ones first, then in goid
/// order; then the OS threads that run no shown goroutine.
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
pub(super) fn goroutine_label(bin: &GoBinary, g: &Goroutine, policy: Policy) -> String {
    let header = goruntime::header_line(g);
    let header = header.trim_end_matches(':');
    match goruntime::visible_frames(bin, g, policy).first() {
        Some(f) => format!("{header} {}", f.function),
        None => header.to_string(),
    }
}

/// Where a parked goroutine's client registers point: its first shown frame. The innermost frame
/// uses the saved scheduling registers; its pc is a return address too (mcall's, in the function
/// that parked: `runtime.gopark` under `system`, `runtime.Gosched` where it is not inlined,
/// `runtime.asyncPreempt2`), which the runtime looks up at pc - 1, unless the goroutine never
/// ran (its pc is its function's entry).
fn parked_frame(bin: &GoBinary, g: &Goroutine, policy: Policy) -> ShownFrame {
    first_shown_frame(bin, g, policy, true).unwrap_or(ShownFrame {
        pc: g.pc,
        sp: g.sp,
        bp: g.bp,
        returns_into: None,
    })
}

/// The first frame `g`'s policy shows, unless it is the innermost one and the walk's registers
/// are to be shown as they are: always when the innermost pc is exact (`innermost_returns`
/// false: a signal interrupted it there), and for a return address at a function's entry (a
/// goroutine that never ran). A pc that is a return address is shown at its call instruction,
/// so the client shows the line (and inlined function) the runtime shows; an outer frame's rbp
/// is its frame pointer (CFA - 16, as Go's amd64 prologue pushes rbp right below the return
/// address), the innermost one's the walk's.
fn first_shown_frame(
    bin: &GoBinary,
    g: &Goroutine,
    policy: Policy,
    innermost_returns: bool,
) -> Option<ShownFrame> {
    let visible = goruntime::visible_frames(bin, g, policy);
    let (f, innermost) = (visible.first()?, g.innermost()?);
    let is_innermost = (f.pc, f.sp) == innermost;
    if is_innermost && !(innermost_returns && f.pc > f.entry) {
        return None;
    }
    Some(ShownFrame {
        pc: f.pc,
        sp: f.sp,
        bp: if is_innermost {
            f.bp
        } else {
            f.fp.saturating_sub(16)
        },
        // An exact pc (the frame asyncPreempt or sigpanic was entered from) is shown as it is.
        returns_into: (!f.exact_pc).then(|| f.function.clone()),
    })
}

/// The call instruction before return address `ret` in `function`, unless a hidden runtime
/// function inlined there would then show as the innermost frame (the return address lies in
/// the shown function).
fn call_pc(bin: &GoBinary, ret: u64, function: &str) -> u64 {
    goruntime::unwind::call_site(bin, ret)
        .filter(|&call| {
            goruntime::symbolize(bin, call).is_some_and(|(func, _, _)| func == function)
        })
        .unwrap_or(ret)
}

/// Which goroutines are threads at a stop, and what the choice left open.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Choice {
    /// Indices into the list: running goroutines, then kept members, then newcomers.
    pub chosen: Vec<usize>,
    /// Goroutines the policy shows (chosen or not).
    pub shown: usize,
    /// Slots left after running goroutines and kept members, offered to the others by goid.
    pub room: usize,
}

/// The goroutines shown as threads, at most `max`, with a stable membership: every running
/// goroutine has a slot (the lowest goids first if there are more than `max`); a parked
/// `previous` member keeps its slot while it lives, unless a running goroutine needs it (then
/// the highest goids go); slots left go to the other goroutines by goid. So a parked member is
/// never swapped for another parked goroutine, and the set changes only when goroutines start,
/// exit or run. g0 and gsignal (goid 0) are no goroutines: a thread on them is an OS thread.
/// `previous` is sorted (empty at the first stop: then it is running first, then by goid).
pub(super) fn choose_threads(
    bin: &GoBinary,
    list: &[Goroutine],
    os_threads: &[Pid],
    policy: Policy,
    previous: &[u64],
    max: usize,
) -> Choice {
    let mut shown: Vec<usize> = (0..list.len())
        .filter(|&i| list[i].goid != 0 && goruntime::is_shown(bin, &list[i], policy))
        .collect();
    shown.sort_by_key(|&i| list[i].goid);
    let (mut running, parked): (Vec<usize>, Vec<usize>) = shown
        .iter()
        .partition(|&&i| live_thread(&list[i], os_threads).is_some());
    let (mut kept, mut others): (Vec<usize>, Vec<usize>) = parked
        .into_iter()
        .partition(|&i| previous.binary_search(&list[i].goid).is_ok());
    running.truncate(max);
    kept.truncate(max - running.len());
    let room = max - running.len() - kept.len();
    others.truncate(room);
    let mut chosen = running;
    chosen.extend(kept);
    chosen.extend(others);
    Choice {
        chosen,
        shown: shown.len(),
        room,
    }
}

/// The OS thread running `g`, if it is one of ours.
pub(super) fn live_thread(g: &Goroutine, os_threads: &[Pid]) -> Option<Pid> {
    g.thread
        .map(Pid::from_raw)
        .filter(|t| os_threads.contains(t))
}

/// The table for the goroutines at `chosen` (indices into `list`, unwound), then every OS
/// thread that runs none of them.
pub(super) fn build_thread_table(
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
                parked: os_tid.is_none().then(|| parked_frame(bin, g, policy)),
                parked_regs: OnceCell::new(),
                crossing: os_tid.and_then(|_| Crossing::of(g, policy)),
                interrupted: OnceCell::new(),
                label: goroutine_label(bin, g, policy),
            }
        })
        .collect();
    // (tid, goid) of the goroutines on threads, found in one pass over the list.
    let on_threads: Vec<(i32, u64)> = list
        .iter()
        .filter(|g| g.goid != 0 && !g.status.is_dead())
        .filter_map(|g| Some((g.thread?, g.goid)))
        .collect();
    for &tid in os_threads {
        if threads.iter().any(|t| t.os_tid == Some(tid)) {
            continue;
        }
        let running = on_threads.iter().find(|&&(t, _)| t == tid.as_raw());
        let label = match running {
            Some((_, goid)) => format!("thread running hidden goroutine {goid}"),
            None => "idle thread (no goroutine)".to_string(),
        };
        threads.push(ViewThread::os(tid, label));
    }
    ThreadTable { threads, hidden }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: ThreadRef, os: Option<i32>) -> ViewThread {
        ViewThread {
            id,
            os_tid: os.map(Pid::from_raw),
            ..ViewThread::os(Pid::from_raw(0), String::new())
        }
    }

    #[test]
    fn members_are_found_and_os_threads_map_to_their_goroutine() {
        let table = ThreadTable {
            threads: vec![
                view(ThreadRef::Goroutine(1), Some(100)),
                view(ThreadRef::Goroutine(7), None),
                view(ThreadRef::Os(Pid::from_raw(101)), Some(101)),
            ],
            hidden: 0,
        };
        assert!(table.find(ThreadRef::Goroutine(7)).is_some());
        assert!(table.find(ThreadRef::Goroutine(8)).is_none());
        assert_eq!(
            table.thread_of_os(Pid::from_raw(100)),
            ThreadRef::Goroutine(1)
        );
        assert_eq!(
            table.thread_of_os(Pid::from_raw(101)),
            ThreadRef::Os(Pid::from_raw(101))
        );
        assert_eq!(
            table.thread_of_os(Pid::from_raw(555)),
            ThreadRef::Os(Pid::from_raw(555))
        );
    }

    #[test]
    fn an_interrupted_frame_shows_the_saved_registers_over_the_live_ones() {
        let saved = SignalRegs {
            rax: 1,
            r15: 2,
            rsp: 3,
            rip: 4,
            rbp: 5,
            eflags: 0x246,
            ..SignalRegs::default()
        };
        // SAFETY: user_regs_struct is plain integers; all zeroes is a valid value.
        let mut live: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        live.rax = 99;
        live.fs_base = 7;
        let regs = Interrupted::Saved(saved).saved_over(&live).unwrap();
        assert_eq!((regs.rax, regs.r15, regs.rsp, regs.rip), (1, 2, 3, 4));
        assert_eq!((regs.eflags, regs.fs_base), (0x246, 7));
        assert_eq!(Interrupted::Saved(saved).frame(), (4, 3, 5));
        assert!(Interrupted::Outer(8, 9, 10).saved_over(&live).is_none());
        assert_eq!(Interrupted::Outer(8, 9, 10).frame(), (8, 9, 10));
    }

    #[test]
    fn a_goroutine_runs_on_a_thread_only_if_it_is_ours() {
        let g = Goroutine {
            thread: Some(100),
            ..Goroutine::default()
        };
        let ours = [Pid::from_raw(100)];
        assert_eq!(live_thread(&g, &ours), Some(Pid::from_raw(100)));
        assert_eq!(live_thread(&g, &[Pid::from_raw(5)]), None);
        assert_eq!(live_thread(&Goroutine::default(), &ours), None);
    }
}
