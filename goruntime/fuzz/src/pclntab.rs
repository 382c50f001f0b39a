//! The `pclntab` target.
//!
//! Input, when it does not start with `\x7fELF` (a raw `.gopclntab` section):
//!
//! | bytes  | field |
//! | ------ | ----- |
//! | 0..8   | table address (`Pclntab::addr`) |
//! | 8..16  | `moduledata.text` passed to `Pclntab::parse` (0 = none) |
//! | 16..20 | table length (clamped to what follows the header) |
//! | 20..24 | gofunc offset |
//! | 24     | gofunc mode % 3: 0 none, 1 table address + offset, 2 [`EXTRA_ADDR`] + offset |
//! | 25..29 | pc seed (picks extra functions and pcs) |
//! | 29..32 | unused |
//! | 32..   | the table, then the "extra" bytes mapped at [`EXTRA_ADDR`] (funcdata outside it) |
//!
//! The table and the extra bytes are both visible through [`ImageBytes`], so inline trees
//! resolve whether `gofunc` lies inside the table (Go 1.27) or in `.rodata` (older).
//!
//! An input starting with `\x7fELF` goes to `GoBinary::parse` whole, and the parsed binary's
//! pclntab is exercised the same way (plus symbolize, call_site, func_entry, wait reasons).

use crate::{Reader, Writer};
use goruntime::pclntab::{ImageBytes, Pclntab};
use goruntime::GoBinary;
use std::hint::black_box;

/// Where the extra bytes are mapped.
pub const EXTRA_ADDR: u64 = 0x7e00_0000_0000;
pub const HEADER_LEN: usize = 32;

/// Parameters of a raw-section input.
#[derive(Debug, Clone, Default)]
pub struct SectionParams {
    pub table_addr: u64,
    pub text_start: u64,
    pub gofunc_off: u32,
    pub gofunc_mode: u8,
    pub pc_seed: u32,
}

/// Encodes a raw-section input.
pub fn encode_section(p: &SectionParams, table: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut w = Writer::default();
    w.u64(p.table_addr)
        .u64(p.text_start)
        .u32(table.len() as u32)
        .u32(p.gofunc_off)
        .u8(p.gofunc_mode)
        .u32(p.pc_seed)
        .raw(&[0, 0, 0])
        .raw(table)
        .raw(extra);
    w.buf
}

struct Regions<'a> {
    regions: [(u64, &'a [u8]); 2],
}

impl ImageBytes for Regions<'_> {
    fn bytes_at(&self, addr: u64, len: usize) -> Option<&[u8]> {
        for &(base, b) in &self.regions {
            if addr >= base && addr - base < b.len() as u64 {
                let off = (addr - base) as usize;
                let n = len.min(b.len() - off);
                return Some(&b[off..off + n]);
            }
        }
        None
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    if data.starts_with(b"\x7fELF") {
        run_elf(data);
    } else {
        run_section(data);
    }
}

fn run_section(data: &[u8]) {
    let mut r = Reader::new(data);
    let table_addr = r.u64();
    let text_start = r.u64();
    let table_len = r.u32() as usize;
    let gofunc_off = r.u32() as u64;
    let gofunc_mode = r.u8() % 3;
    let pc_seed = r.u32();
    r.take(3);
    let table = r.take(table_len);
    let extra = r.rest();
    let gofunc = match gofunc_mode {
        0 => None,
        1 => table_addr.checked_add(gofunc_off),
        _ => Some(EXTRA_ADDR + gofunc_off),
    };
    black_box(Pclntab::magic(table));
    black_box(Pclntab::header_text_start(table));
    let text = (text_start != 0).then_some(text_start);
    let Ok(t) = Pclntab::parse(table.to_vec(), table_addr, text, gofunc) else {
        return;
    };
    let image = Regions {
        regions: [(table_addr, table), (EXTRA_ADDR, extra)],
    };
    exercise(&t, &image, pc_seed);
}

fn run_elf(data: &[u8]) {
    let Ok(bin) = GoBinary::parse(data.to_vec()) else {
        return;
    };
    let seed = data.len() as u32;
    let t = bin.pclntab();
    exercise(t, bin.image(), seed);
    let (lo, hi) = t.pc_range();
    let step = (hi.saturating_sub(lo) / 64).max(1);
    for k in 0..64u64 {
        let pc = lo.wrapping_add(k.wrapping_mul(step));
        black_box(goruntime::symbolize(&bin, pc));
        black_box(goruntime::unwind::call_site(&bin, pc));
        black_box(goruntime::goroutine::is_system_goroutine(&bin, &Default::default(), pc));
    }
    for name in [
        "runtime.goexit",
        "runtime.main",
        "runtime.morestack",
        "runtime.systemstack",
        "runtime.allgadd",
        "main.main",
    ] {
        black_box(bin.func_entry(name));
        black_box(bin.symbol(name));
    }
    for reason in 0..=255u8 {
        black_box(bin.wait_reason_text(reason));
    }
    black_box(bin.version());
    black_box(bin.layout());
    black_box(bin.allgs_location());
    black_box(bin.has_dwarf());
    black_box(format!("{bin:?}"));
    if let Some(entry) = bin.func_entry("runtime.allgadd") {
        if let Some(code) = bin.image().bytes_at(entry, 512) {
            black_box(goruntime::allgs::decode_allgadd(code, entry));
        }
    }
}

/// Exercises lookups over a spread of functions and pcs. Every call is bounded; results are
/// only checked for consistency the API promises.
pub fn exercise(t: &Pclntab, image: &dyn ImageBytes, seed: u32) {
    black_box(format!("{t:?}"));
    let n = t.nfunc();
    let (lo, hi) = t.pc_range();
    // Functions: 32 evenly spread, plus 8 consecutive from a seed-chosen index.
    let mut idx: Vec<usize> = (0..32).map(|i| i * n / 32).collect();
    if n > 0 {
        let s = seed as usize % n;
        idx.extend((s..s + 8).map(|i| i % n));
    }
    idx.push(n);
    idx.push(usize::MAX);
    let mut first_name = None;
    for i in idx {
        let Some(f) = t.func_at_index(i) else {
            continue;
        };
        let name = t.func_name(&f);
        black_box(t.name_at(f.name_off));
        if first_name.is_none() {
            first_name = Some(name);
        }
        exercise_func(t, &f, image, seed);
    }
    // find_func over the covered range and its edges.
    let span = hi.saturating_sub(lo);
    let step = (span / 64).max(1);
    let mut pcs: Vec<u64> = (0..64u64)
        .map(|k| lo.wrapping_add(k.wrapping_mul(step)).wrapping_add(seed as u64 % step))
        .collect();
    pcs.extend([
        0,
        u64::MAX,
        lo.wrapping_sub(1),
        lo,
        hi.wrapping_sub(1),
        hi,
        t.text_start,
        t.text_start.wrapping_add(seed as u64),
    ]);
    for pc in pcs {
        if let Some(f) = t.find_func(pc) {
            assert!(f.entry <= pc && pc < f.end, "find_func returned a non-covering function");
            black_box(t.sp_delta(&f, pc));
            black_box(t.file_line(&f, pc));
            black_box(t.expand(&f, pc, image));
        }
    }
    // Linear scans: once per input.
    if let Some(name) = first_name {
        black_box(t.find_func_by_name(&name));
    }
    black_box(t.find_func_by_name("runtime.goexit"));
    black_box(t.pcvalue(seed, t.text_start, t.text_start.wrapping_add(seed as u64 & 0xffff)));
}

fn exercise_func(t: &Pclntab, f: &goruntime::pclntab::Func, image: &dyn ImageBytes, seed: u32) {
    let len = f.end.saturating_sub(f.entry);
    let step = (len / 16).max(1);
    let mut pcs: Vec<u64> = (0..16u64)
        .map(|k| f.entry.wrapping_add(k.wrapping_mul(step)))
        .filter(|&pc| pc < f.end)
        .collect();
    pcs.push(f.entry.wrapping_add(seed as u64 % len.max(1)));
    pcs.push(f.end.wrapping_sub(1));
    pcs.push(f.end);
    for pc in pcs {
        black_box(t.sp_delta(f, pc));
        black_box(t.file_line(f, pc));
        let frames = t.expand(f, pc, image);
        assert!(!frames.is_empty(), "expand returned no frame");
        assert!(frames.len() <= 1001, "expand exceeded its depth cap");
    }
    for i in 0..4 {
        black_box(t.pcdata_off(f, i));
    }
    for i in 0..8 {
        black_box(t.funcdata_addr(f, i));
    }
}
