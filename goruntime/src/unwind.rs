//! The goroutine stack walk, Go-runtime style (reference §4.2, §4.4): frame size from pcsp,
//! return address at `fp-8`, inline expansion per physical frame.
//!
//! Quirks handled: `sched.pc`/`syscallpc` are return addresses (symbolize at pc−1) while live
//! thread registers and frames called by `sigpanic`/`asyncPreempt`/`debugCallV2` are exact PCs;
//! `goexit`/`mstart`/`rt0_go` are TOPFRAME (bottom); at `sigtramp`/`cgoSigtramp`/`sigreturn`
//! the walk continues at the interrupted rip/rsp/rbp of the kernel's `rt_sigframe` ucontext (an
//! exact pc, treated as innermost); an SPWRITE function other than
//! the innermost stops the walk, except `cgocallback`, which the walk crosses from a callback's
//! frames back into the Go frames that made the C call; on g0 `runtime.systemstack` continues at `curg.sched.sp` and
//! `runtime.morestack`/`runtime.mcall` continue at `curg.sched`. Bounded by the stack range, a
//! physical frame cap, and strictly increasing SP. A thread stopped inside `runtime.clone` may be
//! the new child on an empty stack, so the walk ends there.

use crate::binary::GoBinary;
use crate::error::GoroutineError;
use rustc_hash::FxHashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};

use crate::pclntab::{Func, ImageBytes, FUNC_FLAG_SP_WRITE, FUNC_FLAG_TOP_FRAME};
use crate::{Frame, FrameSym};
use iced_x86::{Decoder, DecoderOptions, Mnemonic};
use memcache::{MemoryExt, MemorySource};

/// Physical frame cap.
pub const MAX_PHYSICAL_FRAMES: usize = 10_000;

/// Where a walk starts.
#[derive(Debug, Clone, Copy)]
pub struct UnwindStart {
    pub pc: u64,
    pub sp: u64,
    pub bp: u64,
    /// `pc` is an exact (not return) address: live registers.
    pub trap: bool,
}

/// The goroutine context to continue with when the walk reaches a stack switch on g0.
#[derive(Debug, Clone, Copy)]
pub struct StackSwitch {
    pub pc: u64,
    pub sp: u64,
    pub bp: u64,
    pub bounds: (u64, u64),
}

/// Walks the stack, learning pc facts into `pcs`. Returns the frames found and, if the walk
/// ended abnormally, why.
pub fn unwind<M: MemorySource>(
    bin: &GoBinary,
    pcs: &PcMemo,
    mem: &mut M,
    start: UnwindStart,
    bounds: Option<(u64, u64)>,
    switch: Option<StackSwitch>,
) -> (Vec<Frame>, Option<GoroutineError>) {
    let mut pcs = PcCache::new(pcs);
    let (frames, err, _) = unwind_to(bin, &mut pcs, mem, start, bounds, switch, None);
    (frames, err)
}

/// [`unwind`], stopping at the first frame traceback level `stop` shows (when given): the walk
/// then returns that frame alone, no error, and `true`. A walk that finds no shown frame goes to
/// its end (the runtime then shows every frame) and returns them all, and `false`. The frames
/// the policy shows first depend only on the frames before them, so the frame found is the one
/// the full walk shows first.
pub(crate) fn unwind_to<M: MemorySource>(
    bin: &GoBinary,
    pcs: &mut PcCache<'_>,
    mem: &mut M,
    start: UnwindStart,
    bounds: Option<(u64, u64)>,
    switch: Option<StackSwitch>,
    stop: Option<u32>,
) -> (Vec<Frame>, Option<GoroutineError>, bool) {
    let (frames, err) = walk(bin, pcs, mem, start, bounds, switch, stop);
    match err {
        Walked::Cut(frame) => (vec![frame], None, true),
        Walked::End(err) => (frames, err, false),
    }
}

/// How a walk ended: at its end (maybe with an error), or cut at a shown frame.
enum Walked {
    End(Option<GoroutineError>),
    Cut(Frame),
}

fn walk<M: MemorySource>(
    bin: &GoBinary,
    pcs: &mut PcCache<'_>,
    mem: &mut M,
    start: UnwindStart,
    bounds: Option<(u64, u64)>,
    mut switch: Option<StackSwitch>,
    stop: Option<u32>,
) -> (Vec<Frame>, Walked) {
    let mut frames = Vec::new();
    let minor = bin.version().minor;
    let (mut pc, mut sp, mut bp) = (start.pc, start.sp, start.bp);
    let mut trap = start.trap;
    let mut innermost = true;
    let mut bounds = bounds.filter(|(lo, hi)| lo < hi && sp >= *lo && sp <= *hi);
    for _ in 0..MAX_PHYSICAL_FRAMES {
        let Some(facts) = pcs.facts(bin, pc, trap) else {
            return (frames, Walked::End(Some(GoroutineError::UnknownPc { pc })));
        };
        let f = &facts.func;
        let name = &facts.name;
        // Stack switches on the system stack.
        if let Some(sw) = switch {
            match name.as_str() {
                "runtime.morestack" | "runtime.mcall" => {
                    if name == "runtime.mcall" {
                        push_frames(&mut frames, facts, (pc, sp, sp.saturating_add(8), bp));
                    }
                    pc = sw.pc;
                    sp = sw.sp;
                    bp = sw.bp;
                    bounds = Some(sw.bounds);
                    switch = None;
                    trap = false;
                    innermost = false;
                    continue;
                }
                "runtime.systemstack" => {
                    sp = sw.sp;
                    bp = sw.bp;
                    bounds = Some(sw.bounds);
                    switch = None;
                }
                _ => {}
            }
        }
        let Some(delta) = facts.sp_delta else {
            let function = name.clone();
            return (
                frames,
                Walked::End(Some(GoroutineError::NoFrameSize { function, pc })),
            );
        };
        if delta < 0 {
            let function = name.clone();
            return (
                frames,
                Walked::End(Some(GoroutineError::NegativeFrameSize { function, pc })),
            );
        }
        let fp = sp.saturating_add(delta as u64).saturating_add(8);
        if let Some(level) = stop {
            let callee = frames.last().map(|f| &*f.function);
            if let Some(sym) = crate::traceback::first_shown_of(&facts.syms, callee, level, minor) {
                let sym = Arc::clone(sym);
                return (
                    Vec::new(),
                    Walked::Cut(Frame {
                        pc,
                        sp,
                        fp,
                        bp,
                        sym,
                    }),
                );
            }
        }
        push_frames(&mut frames, facts, (pc, sp, fp, bp));
        // A signal handler's frames: continue at the interrupted context in the ucontext.
        if let Some(uc) = signal_ucontext(name, fp) {
            let Some(ctx) = interrupted_context(mem, uc) else {
                return (
                    frames,
                    Walked::End(Some(GoroutineError::UnreadableSignalContext { at: uc })),
                );
            };
            (pc, sp, bp) = (ctx.pc, ctx.sp, ctx.bp);
            // Interrupted on the goroutine's own stack: nothing left to switch to.
            if let Some(sw) = switch.filter(|sw| (sw.bounds.0..sw.bounds.1).contains(&sp)) {
                bounds = Some(sw.bounds);
                switch = None;
            } else {
                bounds = None;
            }
            trap = true;
            innermost = true;
            continue;
        }
        if f.flag & FUNC_FLAG_TOP_FRAME != 0 {
            return (frames, Walked::End(None));
        }
        // A thread inside clone may already be the child on its fresh stack: nothing above.
        if innermost && name == "runtime.clone" {
            return (frames, Walked::End(None));
        }
        // cgocallback writes SP to switch from g0 to curg, but keeps a frame valid for unwinding
        // on both stacks: on curg's its return address is the pc saved at the C call
        // (`curg.sched.pc`, pushed) and its frame ends at `curg.sched.sp` (traceback.go).
        let sp_write_ok = matches!(name.as_str(), "runtime.systemstack" | "runtime.cgocallback");
        if f.flag & FUNC_FLAG_SP_WRITE != 0 && !innermost && !sp_write_ok {
            // On a system stack with no goroutine to continue on, these are the natural bottom.
            if matches!(name.as_str(), "runtime.mcall" | "runtime.morestack") {
                return (frames, Walked::End(None));
            }
            let function = name.clone();
            return (
                frames,
                Walked::End(Some(GoroutineError::SpWrite { function })),
            );
        }
        if let Some((_, hi)) = bounds {
            if fp > hi {
                let function = name.clone();
                return (
                    frames,
                    Walked::End(Some(GoroutineError::LeavesStack { function, sp, hi })),
                );
            }
        }
        // fp >= 8 (a saturating sum of sp and 8); the words below it are plain addresses.
        let lr = match mem.read_u64(fp.wrapping_sub(8)) {
            Ok(v) => v,
            Err(e) => return (frames, Walked::End(Some(e.into()))),
        };
        if lr == 0 {
            return (frames, Walked::End(None));
        }
        // An innermost SP-writing function may be past its stack switch (racecall runs C code on
        // g0's stack with the goroutine's SP in R12, which the walk does not have): the word at
        // fp-8 is then no return address.
        if innermost && f.flag & FUNC_FLAG_SP_WRITE != 0 && bin.pclntab().find_func(lr).is_none() {
            let function = name.clone();
            return (
                frames,
                Walked::End(Some(GoroutineError::SpWrite { function })),
            );
        }
        trap = matches!(
            name.as_str(),
            "runtime.sigpanic" | "runtime.asyncPreempt" | "runtime.debugCallV2"
        );
        // A function with a frame saved its caller's RBP just below the return address.
        if delta > 0 {
            bp = mem.read_u64(fp.wrapping_sub(16)).unwrap_or(0);
        }
        pc = lr;
        sp = fp;
        innermost = false;
    }
    (frames, Walked::End(Some(GoroutineError::TooManyFrames)))
}

/// Offset of `uc_mcontext` in the kernel's `struct ucontext` (x86_64: `uc_flags`, `uc_link`,
/// `uc_stack`); `struct sigcontext` opens with the 18 words of [`SignalRegs`].
const UC_MCONTEXT: u64 = 40;
const SIGCONTEXT_WORDS: usize = 18;

/// Where the kernel's `ucontext` is, for a frame of the signal path whose caller's SP is `fp`:
/// the kernel enters the handler (`sigtramp`, `cgoSigtramp`) with SP at `rt_sigframe.pretcode`,
/// the return address, and `uc` follows it; the restorer (`sigreturn`, entered by sigtramp's
/// RET) runs with SP at `uc` (no frame).
fn signal_ucontext(name: &str, fp: u64) -> Option<u64> {
    match name {
        "runtime.sigtramp" | "runtime.cgoSigtramp" => Some(fp),
        "runtime.sigreturn" | "runtime.sigreturn__sigaction" => fp.checked_sub(8),
        _ => None,
    }
}

/// The interrupted pc/sp/bp saved in the `ucontext` at `uc` (its mcontext, as the runtime's
/// `sigctxt` reads it).
fn interrupted_context<M: MemorySource>(mem: &mut M, uc: u64) -> Option<UnwindStart> {
    let r = signal_registers(mem, uc)?;
    Some(UnwindStart {
        pc: r.rip,
        sp: r.rsp,
        bp: r.rbp,
        trap: true,
    })
}

/// The general registers the kernel saved when a signal interrupted a thread (the head of
/// x86_64's `struct sigcontext`, in its order); `sigreturn` restores them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignalRegs {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub eflags: u64,
}

/// The registers saved in the `ucontext` at `uc` (see [`signal_crossing`]).
pub fn signal_registers<M: MemorySource>(mem: &mut M, uc: u64) -> Option<SignalRegs> {
    let mut b = [0u8; SIGCONTEXT_WORDS * 8];
    mem.read_exact(uc.checked_add(UC_MCONTEXT)?, &mut b).ok()?;
    let mut w = [0u64; SIGCONTEXT_WORDS];
    for (word, bytes) in w.iter_mut().zip(b.chunks_exact(8)) {
        *word = u64::from_le_bytes(bytes.try_into().ok()?);
    }
    let [r8, r9, r10, r11, r12, r13, r14, r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags] =
        w;
    Some(SignalRegs {
        r8,
        r9,
        r10,
        r11,
        r12,
        r13,
        r14,
        r15,
        rdi,
        rsi,
        rbp,
        rbx,
        rdx,
        rax,
        rcx,
        rsp,
        rip,
        eflags,
    })
}

/// Where a walk crossed its outermost signal frame: the index in `frames` of the first frame
/// after it (the frame the signal interrupted; `frames.len()` if the walk ended there) and the
/// address of the kernel's `ucontext`. The frames before it are the handler's, on the signal
/// stack; a goroutine's own traceback starts after it, as the runtime's from a `sigctxt`.
pub fn signal_crossing(frames: &[Frame]) -> Option<(usize, u64)> {
    frames.iter().enumerate().rev().find_map(|(i, f)| {
        let uc = signal_ucontext(&f.function, f.fp)?;
        Some((i.checked_add(1)?, uc))
    })
}

/// Unwinds an OS thread from its live registers alone (no goroutine context), e.g. an idle M on
/// its g0 stack (`futex ← … ← schedule ← park_m ← mcall`) or sysmon (`… ← mstart`).
pub fn unwind_thread<M: MemorySource>(
    bin: &GoBinary,
    mem: &mut M,
    t: &crate::ThreadState,
) -> (Vec<Frame>, Option<GoroutineError>) {
    let start = UnwindStart {
        pc: t.rip,
        sp: t.rsp,
        bp: t.rbp,
        trap: true,
    };
    unwind(bin, &PcMemo::default(), mem, start, None, None)
}

fn push_frames(frames: &mut Vec<Frame>, facts: &PcFacts, regs: (u64, u64, u64, u64)) {
    let (pc, sp, fp, bp) = regs;
    for sym in &facts.syms {
        frames.push(Frame {
            pc,
            sp,
            fp,
            bp,
            sym: Arc::clone(sym),
        });
    }
}

/// What the walk needs to know about one pc: its function, frame size and logical (inline-
/// expanded) frames. Parked goroutines stop at a handful of pcs, so this is computed once per pc
/// and not once per frame.
#[derive(Debug)]
pub struct PcFacts {
    pub func: Func,
    pub name: String,
    pub sp_delta: Option<i32>,
    /// The logical frames at the pc, innermost first.
    pub syms: Vec<Arc<FrameSym>>,
}

/// The memo of [`PcFacts`] (part of [`crate::ProcessMemo`]), keyed by pc and by whether the pc is a trap pc (then the
/// pc itself is symbolized, else pc - 1, as the runtime does). Bounded: it is emptied when full.
#[derive(Debug, Default)]
pub struct PcMemo(Mutex<FxHashMap<(u64, bool), Arc<PcFacts>>>);

const PC_MEMO_LIMIT: usize = 1 << 16;

/// A walker's own view of a [`PcMemo`]: the facts it looked up once, without the memo's lock
/// (a listing's walks look up a few pcs millions of times). Bounded like the memo.
///
/// The facts are the walker's own copies, down to each frame's [`FrameSym`], and so are the
/// wait-reason texts it hands out: every frame of a walk clones one of these `Arc`s, and walkers
/// on two cores cloning the same ones would bounce its count's cache line between them at every
/// frame (which made two walkers slower than one).
pub(crate) struct PcCache<'a> {
    memo: &'a PcMemo,
    local: FxHashMap<(u64, bool), Arc<PcFacts>>,
    wait_texts: FxHashMap<u8, Arc<str>>,
}

impl<'a> PcCache<'a> {
    pub(crate) fn new(memo: &'a PcMemo) -> PcCache<'a> {
        PcCache {
            memo,
            local: FxHashMap::default(),
            wait_texts: FxHashMap::default(),
        }
    }

    /// [`GoBinary::wait_reason_text`], as this walker's own copy.
    pub(crate) fn wait_reason_text(&mut self, bin: &GoBinary, reason: u8) -> Arc<str> {
        let text = self
            .wait_texts
            .entry(reason)
            .or_insert_with(|| Arc::from(&*bin.wait_reason_text(reason)));
        Arc::clone(text)
    }

    /// [`PcMemo::facts`], from the walker's own map when it has them.
    pub(crate) fn facts(&mut self, bin: &GoBinary, pc: u64, trap: bool) -> Option<&PcFacts> {
        if self.local.len() >= PC_MEMO_LIMIT {
            self.local.clear();
        }
        match self.local.entry((pc, trap)) {
            Entry::Occupied(e) => Some(&**e.into_mut()),
            Entry::Vacant(e) => {
                let shared = self.memo.facts(bin, pc, trap)?;
                let own = PcFacts {
                    func: shared.func.clone(),
                    name: shared.name.clone(),
                    sp_delta: shared.sp_delta,
                    syms: shared
                        .syms
                        .iter()
                        .map(|sym| Arc::new(FrameSym::clone(sym)))
                        .collect(),
                };
                Some(&**e.insert(Arc::new(own)))
            }
        }
    }
}

impl PcMemo {
    pub fn facts(&self, bin: &GoBinary, pc: u64, trap: bool) -> Option<Arc<PcFacts>> {
        let mut memo = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(facts) = memo.get(&(pc, trap)) {
            return Some(Arc::clone(facts));
        }
        let t = bin.pclntab();
        let func = t.find_func(pc)?;
        let sym_pc = if !trap && pc > func.entry {
            pc.wrapping_sub(1)
        } else {
            pc
        };
        let facts = Arc::new(PcFacts {
            name: t.func_name(&func),
            sp_delta: t.sp_delta(&func, pc),
            syms: t
                .expand(&func, sym_pc, bin.image())
                .into_iter()
                .map(|lf| {
                    Arc::new(FrameSym {
                        function: lf.function,
                        file: lf.file,
                        line: lf.line,
                        inlined: lf.inlined,
                        entry: func.entry,
                        func_id: lf.func_id,
                        exact_pc: trap,
                    })
                })
                .collect(),
            func,
        });
        if memo.len() >= PC_MEMO_LIMIT {
            memo.clear();
        }
        memo.insert((pc, trap), Arc::clone(&facts));
        Some(facts)
    }
}

/// The address of the call instruction whose return address is `ret`, decoded from the binary's
/// own text (memory may hold a debugger's int3 bytes). A debugger showing an outer frame as the
/// innermost one should point at the call, as the runtime's traceback does (it symbolizes
/// `ret - 1`); the stack is the same at the call as after it returns.
pub fn call_site(bin: &GoBinary, ret: u64) -> Option<u64> {
    // x86 calls are 2 (`call reg`) to 7 bytes long; the common `call rel32` first.
    for len in [5u64, 2, 3, 6, 7, 4] {
        let start = ret.checked_sub(len)?;
        let Some(code) = bin
            .image()
            .bytes_at(start, len as usize)
            .filter(|c| c.len() as u64 == len)
        else {
            continue;
        };
        let mut decoder = Decoder::with_ip(64, code, start, DecoderOptions::NONE);
        let ins = decoder.decode();
        if !ins.is_invalid() && ins.len() as u64 == len && ins.mnemonic() == Mnemonic::Call {
            return Some(start);
        }
    }
    None
}
