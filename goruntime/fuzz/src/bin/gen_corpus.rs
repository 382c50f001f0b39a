//! Writes the seed corpora from the fixture binaries:
//!
//!     cargo run --release --bin gen_corpus [OUT_DIR]   # default: corpus/ beside Cargo.toml
//!
//! - `OUT/pclntab/`: each fixture's real `.gopclntab` (with its funcdata bytes and parameters),
//!   a small synthetic table of each format, and a few whole ELF files (stripped Go binaries and
//!   a C one).
//! - `OUT/g_decoder/`: for each fixture binary, goroutine scenarios built with its real pclntab:
//!   parked, running, in a syscall, on g0 (systemstack / mcall switches), labels, and bad input
//!   (unmapped and short gs, cyclic stacks, huge allglen).

use goruntime::pclntab::{MAGIC_118, MAGIC_120};
use goruntime::GoBinary;
use goruntime_fuzz::g_decoder::{self as gd, flags, gf, mf, GSpec, Input, Loaded, MSpec, ThreadSpec, W};
use goruntime_fuzz::pclntab::{encode_section, SectionParams};
use std::path::{Path, PathBuf};

fn main() {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/corpus")));
    let pdir = out.join("pclntab");
    let gdir = out.join("g_decoder");
    std::fs::create_dir_all(&pdir).unwrap();
    std::fs::create_dir_all(&gdir).unwrap();
    let fixtures = gd::fixtures_dir();

    // pclntab: real sections.
    let mut n = 0;
    for name in [
        "states-go1.19-default",
        "states-go1.21.13-default",
        "states-go1.27.3-default",
        "states-go1.27.3-stripped",
        "hot-go1.21.13-noopt",
    ] {
        let path = fixtures.join(name);
        let Ok(bin) = GoBinary::load(&path) else {
            eprintln!("skip {}: not loadable", path.display());
            continue;
        };
        let t = bin.pclntab();
        let img = bin.image();
        let table = t.data();
        let mut p = SectionParams {
            table_addr: t.addr,
            text_start: if goruntime::pclntab::Pclntab::header_text_start(table) == Some(0) {
                t.text_start
            } else {
                0
            },
            pc_seed: 0x1234,
            ..Default::default()
        };
        let mut extra: &[u8] = &[];
        if let Some(gofunc) = t.gofunc {
            if gofunc >= t.addr && gofunc - t.addr < table.len() as u64 {
                p.gofunc_mode = 1;
                p.gofunc_off = (gofunc - t.addr) as u32;
            } else if let Some(s) = img.section_for(gofunc) {
                p.gofunc_mode = 2;
                p.gofunc_off = 0;
                let avail = (s.addr + s.size - gofunc).min(1 << 20) as usize;
                extra = goruntime::pclntab::ImageBytes::bytes_at(img, gofunc, avail).unwrap_or(&[]);
            }
        }
        write(&pdir, &format!("section-{name}"), &encode_section(&p, table, extra));
        n += 1;
    }
    // Synthetic small tables of both formats.
    for (magic, tag) in [(MAGIC_120, "v120"), (MAGIC_118, "v118")] {
        let p = SectionParams {
            table_addr: 0x5000,
            pc_seed: 7,
            gofunc_mode: 2,
            ..Default::default()
        };
        // One inlinedCall record: main.b inlined at parentPc 4.
        let rec: Vec<u8> = if magic == MAGIC_118 {
            [0u32, 0, 0, 7, 4].iter().flat_map(|w| w.to_le_bytes()).collect()
        } else {
            [0u32, 7, 4, 0].iter().flat_map(|w| w.to_le_bytes()).collect()
        };
        write(&pdir, &format!("synthetic-{tag}"), &encode_section(&p, &synthetic(magic), &rec));
        n += 1;
    }
    // Whole ELF files.
    for name in ["states-go1.19-stripped", "states-go1.27.3-stripped"] {
        if let Ok(b) = std::fs::read(fixtures.join(name)) {
            write(&pdir, &format!("elf-{name}"), &b);
            n += 1;
        }
    }
    if let Ok(b) = std::fs::read(fixtures.join("../c_exit")) {
        write(&pdir, "elf-c_exit", &b);
        n += 1;
    }
    eprintln!("pclntab: {n} seeds in {}", pdir.display());

    // g_decoder.
    let mut n = 0;
    for (sel, path) in gd::bin_paths().iter().enumerate() {
        let Some(b) = gd::load(path) else {
            eprintln!("skip {}: not loadable", path.display());
            continue;
        };
        for (tag, inp) in scenarios(&b, sel as u8) {
            write(&gdir, &format!("{}-{tag}", b.name), &inp.encode());
            n += 1;
        }
    }
    for i in 0..4u8 {
        write(&gdir, &format!("empty-{i}"), &[i, 0]);
        n += 1;
    }
    eprintln!("g_decoder: {n} seeds in {}", gdir.display());
}

fn write(dir: &Path, name: &str, data: &[u8]) {
    std::fs::write(dir.join(name), data).unwrap();
}

/// A Pc word for an absolute pc of `b`.
fn pc_word(b: &Loaded, pc: u64) -> W {
    let t = b.bin.pclntab();
    if let Some(f) = t.find_func(pc) {
        for i in 0..t.nfunc().min(u16::MAX as usize + 1) {
            if t.func_at_index(i).map(|g| g.entry) == Some(f.entry) && pc - f.entry <= u16::MAX as u64 {
                return W::Pc {
                    func: i as u16,
                    off: (pc - f.entry) as u16,
                };
            }
        }
    }
    W::Raw(pc)
}

/// A pc in `name` with a positive frame, as a return address (prefers inlined positions).
fn pick_pc(b: &Loaded, name: &str, exact: bool) -> Option<(u64, i32)> {
    let t = b.bin.pclntab();
    let f = t.find_func_by_name(name)?;
    if name == "runtime.goexit" {
        return Some((f.entry + 1, t.sp_delta(&f, f.entry + 1).unwrap_or(0)));
    }
    let mut best = None;
    for pc in f.entry + 1..f.end.min(f.entry + 0x2000) {
        let Some(d) = t.sp_delta(&f, pc) else { continue };
        if d <= 0 {
            continue;
        }
        let sym = if exact { pc } else { pc - 1 };
        let inl = t.expand(&f, sym, b.bin.image()).len() > 1;
        if inl {
            return Some((pc, d));
        }
        if best.is_none() {
            best = Some((pc, d));
        }
    }
    best.or(Some((f.entry, 0)))
}

/// Lays out the frames of `names` (innermost first) at the top of stack `idx`, ending with
/// `margin` bytes free above. Returns (pc, sp, bp) of the innermost frame as words.
fn chain(
    b: &Loaded,
    inp: &mut Input,
    idx: u8,
    names: &[&str],
    first_exact: bool,
    margin: u64,
) -> Option<(W, W, W)> {
    let frames: Vec<(u64, i32)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| pick_pc(b, n, i == 0 && first_exact))
        .collect::<Option<_>>()?;
    let total: u64 = frames.iter().map(|&(_, d)| d as u64 + 8).sum();
    let top = gd::STACK_LEN - margin;
    let mut sp = top.checked_sub(total)?;
    let sp0 = sp;
    let mut bp0 = 0;
    for (i, &(_, d)) in frames.iter().enumerate() {
        let fp = sp + d as u64 + 8;
        if let Some(&(next, _)) = frames.get(i + 1) {
            inp.stacks[idx as usize].push((((fp - 8) / 8) as u16, pc_word(b, next)));
            if d > 0 {
                inp.stacks[idx as usize].push((((fp - 16) / 8) as u16, W::Stack { idx, off: (fp + 8) as u16 }));
            }
        }
        if i == 0 {
            bp0 = sp + d as u64 - 8;
        }
        sp = fp;
    }
    Some((
        pc_word(b, frames[0].0),
        W::Stack { idx, off: sp0 as u16 },
        W::Stack { idx, off: bp0 as u16 },
    ))
}

fn stack_bounds(g: &mut GSpec, idx: u8) {
    g.fields.push((gf::STACK_LO, W::Stack { idx, off: 0 }));
    g.fields.push((gf::STACK_HI, W::Stack { idx, off: gd::STACK_LEN as u16 }));
}

fn sched(g: &mut GSpec, (pc, sp, bp): (W, W, W)) {
    g.fields.push((gf::SCHED_PC, pc));
    g.fields.push((gf::SCHED_SP, sp));
    g.fields.push((gf::SCHED_BP, bp));
}

fn sym(name: &str) -> W {
    let i = gd::SYMS.iter().position(|s| *s == name).unwrap_or(0);
    W::Sym { sym: i as u8, off: 0 }
}

const PARKED: &[&str] = &[
    "runtime.gopark",
    "runtime.chanrecv",
    "runtime.chanrecv1",
    "main.callsInlined",
    "runtime.main",
    "runtime.goexit",
];

fn scenarios(b: &Loaded, sel: u8) -> Vec<(&'static str, Input)> {
    let mut out = Vec::new();
    let minor = b.bin.version().minor;
    let base = || Input {
        bin_sel: sel,
        ..Default::default()
    };

    // 1. Parked + running + syscall + the m's g0; labels; wait minutes.
    {
        let mut inp = base();
        inp.flags = flags::NOW;
        inp.now = 10 * 60_000_000_000;
        let mut g0 = GSpec::default();
        g0.fields.push((gf::STATUS, W::Small(4)));
        g0.fields.push((gf::GOID, W::Small(1)));
        g0.fields.push((gf::WAITREASON, W::Small(14)));
        g0.fields.push((gf::WAITSINCE, W::Small(1)));
        g0.fields.push((gf::STARTPC, sym("runtime.main")));
        g0.fields.push((gf::GOPC, sym("main.main")));
        g0.fields.push((gf::PARENT_GOID, W::Small(0)));
        stack_bounds(&mut g0, 0);
        if let Some(regs) = chain(b, &mut inp, 0, PARKED, false, 64) {
            sched(&mut g0, regs);
        }
        if minor >= 24 {
            g0.fields.push((gf::LABELS, W::Heap(0x200)));
            inp.heap.push((0x200, W::Heap(0x240)));
            inp.heap.push((0x208, W::Small(1)));
            inp.heap.push((0x210, W::Small(1)));
            inp.heap.push((0x240, W::Heap(0x300)));
            inp.heap.push((0x248, W::Small(3)));
            inp.heap.push((0x250, W::Heap(0x310)));
            inp.heap.push((0x258, W::Small(5)));
            inp.heap.push((0x300, W::Raw(u64::from_le_bytes(*b"key\0\0\0\0\0"))));
            inp.heap.push((0x310, W::Raw(u64::from_le_bytes(*b"value\0\0\0"))));
        }
        inp.gs.push(g0);

        let mut g1 = GSpec::default();
        g1.fields.push((gf::STATUS, W::Small(2)));
        g1.fields.push((gf::GOID, W::Small(17)));
        g1.fields.push((gf::STARTPC, sym("main.callsInlined")));
        g1.fields.push((gf::M, W::M { idx: 0, off: 0 }));
        g1.fields.push((gf::LOCKEDM, W::M { idx: 0, off: 0 }));
        stack_bounds(&mut g1, 1);
        let regs = chain(
            b,
            &mut inp,
            1,
            &["main.callsInlined", "runtime.main", "runtime.goexit"],
            true,
            64,
        );
        inp.gs.push(g1);
        let mut m0 = MSpec::default();
        m0.fields.push((mf::PROCID, W::Small(100)));
        m0.fields.push((mf::CURG, W::G { idx: 1, off: 0 }));
        m0.fields.push((mf::G0, W::G { idx: 2, off: 0 }));
        m0.fields.push((mf::ID, W::Small(3)));
        inp.ms.push(m0);
        if let Some((pc, sp, bp)) = regs {
            inp.threads.push(ThreadSpec {
                tid: 100,
                rip: pc,
                rsp: sp,
                rbp: bp,
                fs_base: W::Small(0),
            });
        }
        let mut g2 = GSpec::default();
        g2.fields.push((gf::STATUS, W::Small(6)));
        inp.gs.push(g2);

        let mut g3 = GSpec::default();
        g3.fields.push((gf::STATUS, W::Small(3)));
        g3.fields.push((gf::GOID, W::Small(30)));
        g3.fields.push((gf::WAITSINCE, W::Small(1)));
        stack_bounds(&mut g3, 2);
        if let Some((pc, sp, bp)) = chain(
            b,
            &mut inp,
            2,
            &["runtime.futex", "main.main", "runtime.main", "runtime.goexit"],
            false,
            64,
        ) {
            g3.fields.push((gf::SYSCALLPC, pc));
            g3.fields.push((gf::SYSCALLSP, sp));
            g3.fields.push((gf::SYSCALLBP, bp));
        }
        inp.gs.push(g3);
        inp.decode_len = 100;
        out.push(("mixed", inp));
    }

    // 2/3. Running on g0 inside systemstack / mcall: switch to curg.sched.
    for (tag, inner) in [
        ("g0-systemstack", "runtime.systemstack"),
        ("g0-mcall", "runtime.mcall"),
    ] {
        let mut inp = base();
        let mut g0 = GSpec::default();
        g0.fields.push((gf::STATUS, W::Small(2)));
        g0.fields.push((gf::GOID, W::Small(5)));
        g0.fields.push((gf::M, W::M { idx: 0, off: 0 }));
        g0.fields.push((gf::STARTPC, sym("main.main")));
        stack_bounds(&mut g0, 0);
        if let Some(regs) = chain(b, &mut inp, 0, PARKED, false, 64) {
            sched(&mut g0, regs);
        }
        inp.gs.push(g0);
        let mut sys = GSpec {
            kind: 0,
            ..Default::default()
        };
        sys.fields.push((gf::STATUS, W::Small(6)));
        stack_bounds(&mut sys, 2);
        inp.gs.push(sys);
        let mut m0 = MSpec::default();
        m0.fields.push((mf::PROCID, W::Small(200)));
        m0.fields.push((mf::CURG, W::G { idx: 0, off: 0 }));
        m0.fields.push((mf::G0, W::G { idx: 1, off: 0 }));
        m0.fields.push((mf::GSIGNAL, W::G { idx: 3, off: 0 }));
        inp.ms.push(m0);
        // TLS slot: fs_base - 8 holds g0.
        inp.heap.push((0x100, W::G { idx: 1, off: 0 }));
        if let Some((pc, sp, bp)) =
            chain(b, &mut inp, 2, &["runtime.futex", inner], true, 128)
        {
            inp.threads.push(ThreadSpec {
                tid: 200,
                rip: pc,
                rsp: sp,
                rbp: bp,
                fs_base: if tag == "g0-mcall" { W::Heap(0x108) } else { W::Small(0) },
            });
        }
        out.push((tag, inp));
    }

    // 4. Bad input: unmapped g, short g, pointer into a stack, cyclic stack, huge allglen.
    {
        let mut inp = base();
        inp.flags = flags::ALLGLEN;
        inp.allglen = Some(W::Small(5));
        inp.gs.push(GSpec {
            kind: 2,
            ..Default::default()
        });
        inp.gs.push(GSpec {
            kind: 1,
            len: 40,
            ..Default::default()
        });
        inp.gs.push(GSpec {
            kind: 3,
            ptr: Some(W::Stack { idx: 1, off: 8 }),
            ..Default::default()
        });
        // Cyclic: every return address is the same pc, each frame at the next slot.
        let mut g = GSpec::default();
        g.fields.push((gf::STATUS, W::Small(4)));
        g.fields.push((gf::GOID, W::Small(9)));
        stack_bounds(&mut g, 0);
        if let Some((pc, d)) = pick_pc(b, "runtime.chanrecv", false) {
            let w = pc_word(b, pc);
            let step = d as u64 + 8;
            let mut sp = 0u64;
            while sp + step <= gd::STACK_LEN {
                inp.stacks[0].push((((sp + step - 8) / 8) as u16, w));
                sp += step;
            }
            sched(&mut g, (w, W::Stack { idx: 0, off: 0 }, W::Small(0)));
        }
        inp.gs.push(g);
        // Stack bounds inverted and sp outside them.
        let mut g = GSpec::default();
        g.fields.push((gf::STATUS, W::Small(4)));
        g.fields.push((gf::GOID, W::Small(10)));
        g.fields.push((gf::STACK_LO, W::Stack { idx: 2, off: 0x3000 }));
        g.fields.push((gf::STACK_HI, W::Stack { idx: 2, off: 0x100 }));
        g.fields.push((gf::SCHED_PC, sym("runtime.gopark")));
        g.fields.push((gf::SCHED_SP, W::Raw(u64::MAX - 4)));
        inp.gs.push(g);
        inp.threads.push(ThreadSpec {
            tid: -1i32 as u32,
            rip: W::Raw(u64::MAX),
            rsp: W::Raw(u64::MAX - 7),
            rbp: W::Raw(0),
            fs_base: W::Raw(u64::MAX),
        });
        out.push(("bad", inp));
    }
    {
        let mut inp = base();
        inp.flags = flags::ALLGLEN;
        inp.allglen = Some(W::Raw(3_000_000_000));
        inp.gs.push(GSpec::default());
        out.push(("huge-allglen", inp));
        let mut inp = base();
        inp.flags = flags::BAD_CAP | flags::NO_UNWIND;
        inp.gs.push(GSpec::default());
        inp.gs.push(GSpec::default());
        out.push(("bad-cap", inp));
    }
    out
}

/// A tiny table with two functions (as goruntime's own unit test builds it).
fn synthetic(magic: u32) -> Vec<u8> {
    let v118 = magic == MAGIC_118;
    let mut d = vec![0u8; 0x48];
    d[0..4].copy_from_slice(&magic.to_le_bytes());
    d[6] = 1;
    d[7] = 8;
    let put = |d: &mut Vec<u8>, i: usize, v: u64| d[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_le_bytes());
    put(&mut d, 0, 2);
    put(&mut d, 1, 1);
    put(&mut d, 2, 0x1000);
    let funcname = d.len();
    d.extend_from_slice(b"main.a\0main.b\0");
    let cutab = d.len();
    d.extend_from_slice(&0u32.to_le_bytes());
    let filetab = d.len();
    d.extend_from_slice(b"/x.go\0");
    let pctab = d.len();
    d.push(0);
    let pcsp = d.len() - pctab;
    d.extend_from_slice(&[2, 0x10, 16, 0x10, 0]);
    let pcfile = d.len() - pctab;
    d.extend_from_slice(&[2, 0x20, 0]);
    let pcln = d.len() - pctab;
    d.extend_from_slice(&[22, 0x8, 2, 0x18, 0]);
    let inl = d.len() - pctab;
    d.extend_from_slice(&[2, 0x20, 0]);
    while d.len() & 7 != 0 {
        d.push(0);
    }
    let functab = d.len();
    let fsize: u32 = if v118 { 40 } else { 44 } + 4 * 3 + 4 * 4;
    let funcs_start = 3 * 8;
    d.extend_from_slice(&0u32.to_le_bytes());
    d.extend_from_slice(&(funcs_start as u32).to_le_bytes());
    d.extend_from_slice(&0x20u32.to_le_bytes());
    d.extend_from_slice(&(funcs_start as u32 + fsize).to_le_bytes());
    d.extend_from_slice(&0x40u32.to_le_bytes());
    d.extend_from_slice(&0u32.to_le_bytes());
    for (entry, name) in [(0u32, 0u32), (0x20, 7)] {
        let mut words = vec![entry, name, 0, 0, pcsp as u32, pcfile as u32, pcln as u32, 3, 0];
        if !v118 {
            words.push(1);
        }
        for w in words {
            d.extend_from_slice(&w.to_le_bytes());
        }
        d.extend_from_slice(&[0, 0, 0, 4]); // funcID, flag, pad, nfuncdata
        for w in [0u32, 0, inl as u32] {
            d.extend_from_slice(&w.to_le_bytes()); // pcdata
        }
        for w in [u32::MAX, u32::MAX, u32::MAX, 0] {
            d.extend_from_slice(&w.to_le_bytes()); // funcdata (inline tree at gofunc+0)
        }
    }
    put(&mut d, 3, funcname as u64);
    put(&mut d, 4, cutab as u64);
    put(&mut d, 5, filetab as u64);
    put(&mut d, 6, pctab as u64);
    put(&mut d, 7, functab as u64);
    d
}
