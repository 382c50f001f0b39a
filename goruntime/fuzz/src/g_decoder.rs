//! The `g_decoder` target: goroutine listing over fuzzed target memory.
//!
//! The Go binaries are real fixtures (`fixtures/build/go/…`, built by `fixtures/build.sh`),
//! parsed once per process. The input describes a small address space ([`Input`]); every
//! address-like value is a [`W`] that can name a real function pc, a spot in one of the stacks,
//! gs, Ms or the heap page, or a raw 64-bit value, so mutations stay meaningful.
//!
//! Fixed map (all regions are `SnapshotMemory` regions):
//! - `runtime.allgs` header and `runtime.allglen` at the binary's own addresses;
//! - the allgs array at [`ARR`]; g `i` at `G_BASE + i*G_SPAN` (absent, short or full);
//! - m `i` at `M_BASE + i*M_SPAN`; stack `i` at `STACK_BASE + i*STACK_SPAN` (`STACK_LEN` bytes);
//! - one heap page at [`HEAP`] (labels, TLS slots, anything pointers lead to).

use crate::{Reader, Writer};
use goruntime::{
    goroutine::decode_g, header_line, is_shown, list_goroutines_with, render_traceback,
    unwind::unwind_thread, visible_frames, GoBinary, Layout, ListOptions, Policy, ThreadState,
};
use memcache::SnapshotMemory;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::OnceLock;

pub const ARR: u64 = 0x6000_0000;
pub const G_BASE: u64 = 0x6100_0000;
pub const G_SPAN: u64 = 0x1000;
pub const M_BASE: u64 = 0x6200_0000;
pub const M_SPAN: u64 = 0x1000;
pub const STACK_BASE: u64 = 0x6400_0000;
pub const STACK_SPAN: u64 = 0x10000;
pub const STACK_LEN: u64 = 0x4000;
pub const NSTACK: usize = 3;
pub const HEAP: u64 = 0x6800_0000;
pub const HEAP_LEN: u64 = 0x1000;
pub const MAX_GS: usize = 8;
pub const MAX_MS: usize = 4;
pub const MAX_THREADS: usize = 4;

/// Functions a [`W::Sym`] can name (missing ones resolve to 0).
pub const SYMS: &[&str] = &[
    "runtime.goexit",
    "runtime.main",
    "runtime.mcall",
    "runtime.morestack",
    "runtime.systemstack",
    "runtime.gopark",
    "runtime.sigpanic",
    "runtime.asyncPreempt",
    "main.main",
    "runtime.clone",
    "runtime.mstart",
    "runtime.futex",
    "runtime.chanrecv",
    "runtime.chanrecv1",
    "main.callsInlined",
    "runtime.rt0_go",
];

/// g fields a [`GSpec`] can set, by index.
pub mod gf {
    pub const STATUS: u8 = 0;
    pub const GOID: u8 = 1;
    pub const WAITSINCE: u8 = 2;
    pub const WAITREASON: u8 = 3;
    pub const STARTPC: u8 = 4;
    pub const GOPC: u8 = 5;
    pub const LOCKEDM: u8 = 6;
    pub const PARENT_GOID: u8 = 7;
    pub const SCHED_PC: u8 = 8;
    pub const SCHED_SP: u8 = 9;
    pub const SCHED_BP: u8 = 10;
    pub const STACK_LO: u8 = 11;
    pub const STACK_HI: u8 = 12;
    pub const M: u8 = 13;
    pub const LABELS: u8 = 14;
    pub const SYSCALLSP: u8 = 15;
    pub const SYSCALLPC: u8 = 16;
    pub const SYSCALLBP: u8 = 17;
    pub const STKTOPSP: u8 = 18;
    pub const COUNT: u8 = 19;
}

/// m fields an [`MSpec`] can set, by index.
pub mod mf {
    pub const PROCID: u8 = 0;
    pub const CURG: u8 = 1;
    pub const G0: u8 = 2;
    pub const GSIGNAL: u8 = 3;
    pub const ID: u8 = 4;
    pub const TLS: u8 = 5;
    pub const COUNT: u8 = 6;
}

/// A 64-bit value, symbolic where useful.
#[derive(Debug, Clone, Copy)]
pub enum W {
    Raw(u64),
    /// `entry + off % size` of the pclntab's function number `func % nfunc`.
    Pc { func: u16, off: u16 },
    Stack { idx: u8, off: u16 },
    G { idx: u8, off: u16 },
    M { idx: u8, off: u16 },
    Heap(u16),
    Small(u8),
    /// `entry + off % size` of `SYMS[sym]`.
    Sym { sym: u8, off: u16 },
}

impl W {
    fn decode(r: &mut Reader) -> W {
        match r.u8() % 8 {
            0 => W::Raw(r.u64()),
            1 => W::Pc {
                func: r.u16(),
                off: r.u16(),
            },
            2 => W::Stack {
                idx: r.u8(),
                off: r.u16(),
            },
            3 => W::G {
                idx: r.u8(),
                off: r.u16(),
            },
            4 => W::M {
                idx: r.u8(),
                off: r.u16(),
            },
            5 => W::Heap(r.u16()),
            6 => W::Small(r.u8()),
            _ => W::Sym {
                sym: r.u8(),
                off: r.u16(),
            },
        }
    }
    fn encode(&self, w: &mut Writer) {
        match *self {
            W::Raw(v) => {
                w.u8(0).u64(v);
            }
            W::Pc { func, off } => {
                w.u8(1).u16(func).u16(off);
            }
            W::Stack { idx, off } => {
                w.u8(2).u8(idx).u16(off);
            }
            W::G { idx, off } => {
                w.u8(3).u8(idx).u16(off);
            }
            W::M { idx, off } => {
                w.u8(4).u8(idx).u16(off);
            }
            W::Heap(off) => {
                w.u8(5).u16(off);
            }
            W::Small(v) => {
                w.u8(6).u8(v);
            }
            W::Sym { sym, off } => {
                w.u8(7).u8(sym).u16(off);
            }
        }
    }
    /// The concrete value for a binary.
    pub fn resolve(&self, b: &Loaded) -> u64 {
        let in_func = |entry: u64, end: u64, off: u16| {
            let size = end.saturating_sub(entry).max(1);
            entry.wrapping_add(off as u64 % size)
        };
        match *self {
            W::Raw(v) => v,
            W::Pc { func, off } => {
                let t = b.bin.pclntab();
                let n = t.nfunc();
                if n == 0 {
                    return 0;
                }
                match t.func_at_index(func as usize % n) {
                    Some(f) => in_func(f.entry, f.end, off),
                    None => 0,
                }
            }
            W::Stack { idx, off } => {
                STACK_BASE + (idx as usize % NSTACK) as u64 * STACK_SPAN + off as u64
            }
            W::G { idx, off } => G_BASE + (idx as usize % MAX_GS) as u64 * G_SPAN + off as u64,
            W::M { idx, off } => M_BASE + (idx as usize % MAX_MS) as u64 * M_SPAN + off as u64,
            W::Heap(off) => HEAP + off as u64,
            W::Small(v) => v as u64,
            W::Sym { sym, off } => match b.syms[sym as usize % SYMS.len()] {
                Some((entry, end)) => in_func(entry, end, off),
                None => 0,
            },
        }
    }
}

/// One g slot in allgs.
#[derive(Debug, Clone, Default)]
pub struct GSpec {
    /// % 4: 0 full g struct, 1 short (`len % g_size` bytes), 2 unmapped, 3 pointer is `ptr`.
    pub kind: u8,
    pub ptr: Option<W>,
    pub len: u16,
    pub fields: Vec<(u8, W)>,
    /// 8-byte writes at `off % g_size` (truncated at the end).
    pub patches: Vec<(u16, W)>,
}

#[derive(Debug, Clone, Default)]
pub struct MSpec {
    pub fields: Vec<(u8, W)>,
}

#[derive(Debug, Clone)]
pub struct ThreadSpec {
    pub tid: u32,
    pub rip: W,
    pub rsp: W,
    pub rbp: W,
    pub fs_base: W,
}

/// Input flags.
pub mod flags {
    /// `now_nanotime` is present.
    pub const NOW: u8 = 1;
    /// Do not unwind.
    pub const NO_UNWIND: u8 = 2;
    /// allglen is `allglen` instead of the number of gs.
    pub const ALLGLEN: u8 = 4;
    /// allgs cap is len − 1 (corrupt slice).
    pub const BAD_CAP: u8 = 8;
    /// No allgs header in memory.
    pub const NO_ALLGS: u8 = 16;
}

/// A whole input.
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub bin_sel: u8,
    pub flags: u8,
    pub now: u64,
    pub allglen: Option<W>,
    pub gs: Vec<GSpec>,
    pub ms: Vec<MSpec>,
    pub stacks: [Vec<(u16, W)>; NSTACK],
    pub heap: Vec<(u16, W)>,
    pub threads: Vec<ThreadSpec>,
    /// Length of the bytes given to a direct `decode_g` of g 0.
    pub decode_len: u16,
}

impl Input {
    pub fn decode(data: &[u8]) -> Input {
        let mut r = Reader::new(data);
        let mut inp = Input {
            bin_sel: r.u8(),
            flags: r.u8(),
            ..Default::default()
        };
        if inp.flags & flags::NOW != 0 {
            inp.now = r.u64();
        }
        if inp.flags & flags::ALLGLEN != 0 {
            inp.allglen = Some(W::decode(&mut r));
        }
        let ngs = r.u8() as usize % (MAX_GS + 1);
        for _ in 0..ngs {
            let mut g = GSpec {
                kind: r.u8() % 4,
                ..Default::default()
            };
            match g.kind {
                1 => g.len = r.u16(),
                3 => g.ptr = Some(W::decode(&mut r)),
                _ => {}
            }
            let nf = r.u8() as usize % 32;
            for _ in 0..nf {
                let f = r.u8() % gf::COUNT;
                g.fields.push((f, W::decode(&mut r)));
            }
            let np = r.u8() as usize % 8;
            for _ in 0..np {
                let off = r.u16();
                g.patches.push((off, W::decode(&mut r)));
            }
            inp.gs.push(g);
        }
        let nms = r.u8() as usize % (MAX_MS + 1);
        for _ in 0..nms {
            let mut m = MSpec::default();
            let nf = r.u8() as usize % 12;
            for _ in 0..nf {
                let f = r.u8() % mf::COUNT;
                m.fields.push((f, W::decode(&mut r)));
            }
            inp.ms.push(m);
        }
        for s in 0..NSTACK {
            let n = r.u16() as usize % 1025;
            for _ in 0..n {
                if r.exhausted() {
                    break;
                }
                let i = r.u16();
                inp.stacks[s].push((i, W::decode(&mut r)));
            }
        }
        let nh = r.u8() as usize % 64;
        for _ in 0..nh {
            let off = r.u16();
            inp.heap.push((off, W::decode(&mut r)));
        }
        let nt = r.u8() as usize % (MAX_THREADS + 1);
        for _ in 0..nt {
            inp.threads.push(ThreadSpec {
                tid: r.u32(),
                rip: W::decode(&mut r),
                rsp: W::decode(&mut r),
                rbp: W::decode(&mut r),
                fs_base: W::decode(&mut r),
            });
        }
        inp.decode_len = r.u16();
        inp
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(self.bin_sel).u8(self.flags);
        if self.flags & flags::NOW != 0 {
            w.u64(self.now);
        }
        if self.flags & flags::ALLGLEN != 0 {
            self.allglen.unwrap_or(W::Small(0)).encode(&mut w);
        }
        w.u8(self.gs.len() as u8);
        for g in &self.gs {
            w.u8(g.kind);
            match g.kind {
                1 => {
                    w.u16(g.len);
                }
                3 => g.ptr.unwrap_or(W::Small(0)).encode(&mut w),
                _ => {}
            }
            w.u8(g.fields.len() as u8);
            for (f, v) in &g.fields {
                w.u8(*f);
                v.encode(&mut w);
            }
            w.u8(g.patches.len() as u8);
            for (o, v) in &g.patches {
                w.u16(*o);
                v.encode(&mut w);
            }
        }
        w.u8(self.ms.len() as u8);
        for m in &self.ms {
            w.u8(m.fields.len() as u8);
            for (f, v) in &m.fields {
                w.u8(*f);
                v.encode(&mut w);
            }
        }
        for s in &self.stacks {
            w.u16(s.len() as u16);
            for (i, v) in s {
                w.u16(*i);
                v.encode(&mut w);
            }
        }
        w.u8(self.heap.len() as u8);
        for (o, v) in &self.heap {
            w.u16(*o);
            v.encode(&mut w);
        }
        w.u8(self.threads.len() as u8);
        for t in &self.threads {
            w.u32(t.tid);
            t.rip.encode(&mut w);
            t.rsp.encode(&mut w);
            t.rbp.encode(&mut w);
            t.fs_base.encode(&mut w);
        }
        w.u16(self.decode_len);
        w.buf
    }
}

/// A fixture binary and the entry/end of each of [`SYMS`].
pub struct Loaded {
    pub name: String,
    pub bin: GoBinary,
    pub syms: Vec<Option<(u64, u64)>>,
}

/// Fixture binaries used, relative to the fixtures directory. `GORUNTIME_FUZZ_BINS`
/// (colon-separated paths) overrides the list.
pub const DEFAULT_BINS: &[&str] = &[
    "states-go1.19-default",
    "states-go1.21.13-stripped",
    "states-go1.27.3-default",
    "states-go1.27.3-stripped",
];

pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("GORUNTIME_FUZZ_FIXTURES") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/build/go")),
    }
}

pub fn bin_paths() -> Vec<PathBuf> {
    match std::env::var("GORUNTIME_FUZZ_BINS") {
        Ok(list) if !list.is_empty() => list.split(':').map(PathBuf::from).collect(),
        _ => DEFAULT_BINS.iter().map(|n| fixtures_dir().join(n)).collect(),
    }
}

pub fn load(path: &std::path::Path) -> Option<Loaded> {
    let bin = GoBinary::load(path).ok()?;
    let t = bin.pclntab();
    let syms = SYMS
        .iter()
        .map(|n| t.find_func_by_name(n).map(|f| (f.entry, f.end)))
        .collect();
    Some(Loaded {
        name: path.file_name()?.to_string_lossy().into_owned(),
        bin,
        syms,
    })
}

/// The fixture binaries, loaded once.
pub fn binaries() -> &'static [Loaded] {
    static BINS: OnceLock<Vec<Loaded>> = OnceLock::new();
    BINS.get_or_init(|| {
        let v: Vec<Loaded> = bin_paths().iter().filter_map(|p| load(p)).collect();
        assert!(
            !v.is_empty(),
            "g_decoder: no fixture binary could be loaded from {:?}; run fixtures/build.sh \
             or set GORUNTIME_FUZZ_BINS",
            bin_paths()
        );
        v
    })
}

fn g_field(l: &Layout, f: u8) -> Option<(u64, usize)> {
    Some(match f {
        gf::STATUS => (l.g_atomicstatus, 4),
        gf::GOID => (l.g_goid, 8),
        gf::WAITSINCE => (l.g_waitsince, 8),
        gf::WAITREASON => (l.g_waitreason, 1),
        gf::STARTPC => (l.g_startpc, 8),
        gf::GOPC => (l.g_gopc, 8),
        gf::LOCKEDM => (l.g_lockedm, 8),
        gf::PARENT_GOID => (l.g_parent_goid?, 8),
        gf::SCHED_PC => (l.g_sched + l.gobuf_pc, 8),
        gf::SCHED_SP => (l.g_sched + l.gobuf_sp, 8),
        gf::SCHED_BP => (l.g_sched + l.gobuf_bp, 8),
        gf::STACK_LO => (l.g_stack_lo, 8),
        gf::STACK_HI => (l.g_stack_hi, 8),
        gf::M => (l.g_m, 8),
        gf::LABELS => (l.g_labels, 8),
        gf::SYSCALLSP => (l.g_syscallsp, 8),
        gf::SYSCALLPC => (l.g_syscallpc, 8),
        gf::SYSCALLBP => (l.g_syscallbp?, 8),
        _ => (l.g_stktopsp, 8),
    })
}

fn m_field(l: &Layout, f: u8) -> u64 {
    match f {
        mf::PROCID => l.m_procid,
        mf::CURG => l.m_curg,
        mf::G0 => l.m_g0,
        mf::GSIGNAL => l.m_gsignal,
        mf::ID => l.m_id,
        _ => l.m_tls,
    }
}

fn m_size(l: &Layout) -> u64 {
    [l.m_procid, l.m_curg, l.m_g0, l.m_gsignal, l.m_id, l.m_tls]
        .into_iter()
        .max()
        .unwrap_or(0)
        + 8
}

/// Writes the low `width` bytes of `v` at `off`, dropping what falls outside `buf`.
fn put(buf: &mut [u8], off: u64, v: u64, width: usize) {
    for (i, b) in v.to_le_bytes().iter().take(width).enumerate() {
        if let Some(slot) = off
            .checked_add(i as u64)
            .and_then(|o| buf.get_mut(usize::try_from(o).ok()?))
        {
            *slot = *b;
        }
    }
}

/// The memory, threads and options an input describes, for binary `b`.
pub fn materialize(inp: &Input, b: &Loaded) -> (SnapshotMemory, Vec<ThreadState>, ListOptions) {
    let l = b.bin.layout();
    let mut mem = SnapshotMemory::new();
    let n = inp.gs.len() as u64;
    if let Some(loc) = b.bin.allgs_location() {
        if inp.flags & flags::NO_ALLGS == 0 {
            let cap = if inp.flags & flags::BAD_CAP != 0 {
                n.wrapping_sub(1)
            } else {
                n
            };
            let mut hdr = Vec::new();
            for w in [ARR, n, cap] {
                hdr.extend_from_slice(&w.to_le_bytes());
            }
            mem.add_region(loc.allgs, hdr);
        }
        let allglen = inp.allglen.map(|w| w.resolve(b)).unwrap_or(n);
        mem.add_region(loc.allglen, allglen.to_le_bytes().to_vec());
    }
    let mut ptrs = Vec::new();
    for (i, g) in inp.gs.iter().enumerate() {
        let addr = G_BASE + i as u64 * G_SPAN;
        let len = match g.kind {
            0 => Some(l.g_size),
            1 => Some(g.len as u64 % l.g_size.max(1)),
            _ => None,
        };
        ptrs.push(match g.kind {
            3 => g.ptr.map(|w| w.resolve(b)).unwrap_or(0),
            _ => addr,
        });
        let Some(len) = len else { continue };
        let mut buf = vec![0u8; len as usize];
        for &(f, w) in &g.fields {
            if let Some((off, width)) = g_field(l, f) {
                put(&mut buf, off, w.resolve(b), width);
            }
        }
        for &(off, w) in &g.patches {
            put(&mut buf, off as u64 % l.g_size.max(1), w.resolve(b), 8);
        }
        mem.add_region(addr, buf);
    }
    mem.add_region(ARR, ptrs.iter().flat_map(|p| p.to_le_bytes()).collect());
    let msz = m_size(l);
    for (i, m) in inp.ms.iter().enumerate() {
        let mut buf = vec![0u8; msz as usize];
        for &(f, w) in &m.fields {
            put(&mut buf, m_field(l, f), w.resolve(b), 8);
        }
        mem.add_region(M_BASE + i as u64 * M_SPAN, buf);
    }
    for (s, writes) in inp.stacks.iter().enumerate() {
        let mut buf = vec![0u8; STACK_LEN as usize];
        for &(i, w) in writes {
            let off = (i as u64 % (STACK_LEN / 8)) * 8;
            put(&mut buf, off, w.resolve(b), 8);
        }
        mem.add_region(STACK_BASE + s as u64 * STACK_SPAN, buf);
    }
    let mut heap = vec![0u8; HEAP_LEN as usize];
    for &(off, w) in &inp.heap {
        put(&mut heap, off as u64 % HEAP_LEN, w.resolve(b), 8);
    }
    mem.add_region(HEAP, heap);
    let threads = inp
        .threads
        .iter()
        .map(|t| ThreadState {
            tid: t.tid as i32,
            rip: t.rip.resolve(b),
            rsp: t.rsp.resolve(b),
            rbp: t.rbp.resolve(b),
            fs_base: t.fs_base.resolve(b),
        })
        .collect();
    let opts = ListOptions {
        now_nanotime: (inp.flags & flags::NOW != 0).then_some(inp.now),
        unwind: inp.flags & flags::NO_UNWIND == 0,
    };
    (mem, threads, opts)
}

const POLICIES: [Policy; 5] = [
    Policy::None,
    Policy::Single,
    Policy::All,
    Policy::System,
    Policy::Crash,
];

/// Runs one input.
pub fn run(data: &[u8]) {
    let bins = binaries();
    let inp = Input::decode(data);
    let b = &bins[inp.bin_sel as usize % bins.len()];
    let (mut mem, threads, opts) = materialize(&inp, b);
    let bin = &b.bin;

    // Direct decode of g 0's bytes, truncated.
    if let Some(g0) = inp.gs.first() {
        let _ = g0;
        let mut buf = vec![0u8; bin.layout().g_size as usize];
        let _ = memcache::MemoryExt::read_exact(&mut mem, G_BASE, &mut buf);
        let n = (inp.decode_len as usize).min(buf.len());
        for bytes in [&buf[..], &buf[..n]] {
            if let Ok(g) = decode_g(bin, &Default::default(), bin.layout(), G_BASE, bytes, &opts) {
                black_box(header_line(&g));
            }
        }
    }

    match list_goroutines_with(bin, &mut mem, &threads, &opts) {
        Ok(gs) => {
            assert!(gs.len() <= inp.gs.len(), "more goroutines than allgs entries");
            for w in gs.windows(2) {
                assert!(
                    (w[0].goid, w[0].g_addr) <= (w[1].goid, w[1].g_addr),
                    "listing not ordered by goid"
                );
            }
            for g in &gs {
                assert!(
                    g.frames.len() <= 1001 * goruntime::unwind::MAX_PHYSICAL_FRAMES,
                    "unbounded walk"
                );
                black_box(header_line(g));
                for p in POLICIES {
                    black_box(is_shown(bin, g, p));
                    black_box(visible_frames(bin, g, p).len());
                    black_box(render_traceback(bin, g, p));
                }
                for f in g.frames.iter().take(16) {
                    black_box(goruntime::unwind::call_site(bin, f.pc));
                }
            }
        }
        Err(e) => {
            black_box(e.to_string());
        }
    }
    for t in &threads {
        let (frames, err) = unwind_thread(bin, &mut mem, t);
        black_box((frames.len(), err));
        black_box(goruntime::tls::current_g(&mut mem, t.fs_base).ok());
    }
}
