//! The Go 1.18+ pclntab (`.gopclntab`): pc → function, file, line, frame size (pcsp) and the
//! inline tree. Works on stripped (`-s -w`) binaries: nothing here needs a symbol table.
//!
//! Formats (reference/go-runtime.md §4.3): magic `0xfffffff0` (Go 1.18–1.19, 40-byte `_func`,
//! 20-byte `inlinedCall`) and `0xfffffff1` (Go 1.20+, 44-byte `_func` with `startLine`,
//! 16-byte `inlinedCall`). Quirks met here:
//! - Go 1.26+ writes `textStart = 0` in the header; the caller must supply `moduledata.text`.
//! - funcdata offsets are relative to `moduledata.gofunc`, which may lie in `.rodata` or (1.27)
//!   inside the `.gopclntab` range; the caller resolves virtual addresses through [`ImageBytes`].
//! - pcvalue tables are varint streams; every read is bounds-checked and every loop is bounded
//!   by the table size, so a truncated or hostile table yields `None`, never a panic.

use crate::error::GoError;
use std::sync::Arc;

/// Magic of Go 1.18–1.19 tables.
pub const MAGIC_118: u32 = 0xffff_fff0;
/// Magic of Go 1.20+ tables.
pub const MAGIC_120: u32 = 0xffff_fff1;

/// PCDATA index of the inline tree index table.
pub const PCDATA_INL_TREE_INDEX: u32 = 2;
/// FUNCDATA index of the inline tree.
pub const FUNCDATA_INL_TREE: u32 = 3;

/// `_func.flag` bits.
pub const FUNC_FLAG_TOP_FRAME: u8 = 1;
pub const FUNC_FLAG_SP_WRITE: u8 = 2;
pub const FUNC_FLAG_ASM: u8 = 4;

/// Access to bytes of the binary's image by virtual address (for funcdata outside the table).
pub trait ImageBytes {
    /// Up to `len` bytes at `addr`, or fewer if the containing section ends earlier.
    fn bytes_at(&self, addr: u64, len: usize) -> Option<&[u8]>;
}

/// Bounds-checked little-endian reads from a byte slice.
pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}
pub(crate) fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}
pub(crate) fn cstr_at(b: &[u8], off: usize) -> Option<&[u8]> {
    let s = b.get(off..)?;
    let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
    s.get(..end)
}

/// Table format generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PclnVersion {
    /// Go 1.18–1.19.
    V118,
    /// Go 1.20+.
    V120,
}

/// One function's `_func` record, decoded.
#[derive(Debug, Clone)]
pub struct Func {
    /// Entry PC (absolute).
    pub entry: u64,
    /// End PC (entry of the next function, absolute).
    pub end: u64,
    pub name_off: i32,
    pub args: i32,
    pub pcsp: u32,
    pub pcfile: u32,
    pub pcln: u32,
    pub npcdata: u32,
    pub cu_offset: u32,
    pub start_line: i32,
    pub func_id: u8,
    pub flag: u8,
    pub nfuncdata: u8,
    /// Offset of the `_func` record inside the table.
    off: usize,
}

/// One logical frame produced by inline expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalFrame {
    pub function: Arc<str>,
    pub file: Arc<str>,
    pub line: u32,
    pub func_id: u8,
    /// True for frames that were inlined into their caller.
    pub inlined: bool,
    /// The PC used for the file/line lookup.
    pub pc: u64,
}

/// A parsed pclntab.
#[derive(Clone)]
pub struct Pclntab {
    data: Vec<u8>,
    /// Virtual address of the table (the `pcHeader`).
    pub addr: u64,
    pub version: PclnVersion,
    nfunc: usize,
    pub text_start: u64,
    funcname: usize,
    cutab: usize,
    filetab: usize,
    pctab: usize,
    functab: usize,
    /// `moduledata.gofunc`, base of funcdata offsets; `None` disables inline expansion.
    pub gofunc: Option<u64>,
}

impl std::fmt::Debug for Pclntab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pclntab")
            .field("addr", &format_args!("{:#x}", self.addr))
            .field("bytes", &self.data.len())
            .field("version", &self.version)
            .field("nfunc", &self.nfunc)
            .field("text_start", &format_args!("{:#x}", self.text_start))
            .field("gofunc", &self.gofunc)
            .finish()
    }
}

fn bad(offset: usize, what: &'static str) -> GoError {
    GoError::Pclntab {
        offset: offset as u64,
        what,
    }
}

impl Pclntab {
    /// Reads the magic of a table without parsing it.
    pub fn magic(data: &[u8]) -> Option<u32> {
        u32_at(data, 0)
    }

    /// Header's textStart word (0 in Go 1.26+).
    pub fn header_text_start(data: &[u8]) -> Option<u64> {
        u64_at(data, 8 + 2 * 8)
    }

    /// Moves the table's addresses (table, text start, `gofunc`) by a load bias.
    pub(crate) fn relocate(&mut self, bias: u64) {
        self.addr = self.addr.wrapping_add(bias);
        self.text_start = self.text_start.wrapping_add(bias);
        self.gofunc = self.gofunc.map(|g| g.wrapping_add(bias));
    }

    /// Parses a table. `text_start` overrides the header's textStart when the header holds 0.
    pub fn parse(
        data: Vec<u8>,
        addr: u64,
        text_start: Option<u64>,
        gofunc: Option<u64>,
    ) -> Result<Pclntab, GoError> {
        let magic = u32_at(&data, 0).ok_or(bad(0, "truncated header"))?;
        let version = match magic {
            MAGIC_118 => PclnVersion::V118,
            MAGIC_120 => PclnVersion::V120,
            _ => return Err(bad(0, "unknown magic (only Go 1.18+ tables are supported)")),
        };
        if data.get(4) != Some(&0)
            || data.get(5) != Some(&0)
            || data.get(6) != Some(&1)
            || data.get(7) != Some(&8)
        {
            return Err(bad(4, "unexpected pc quantum or pointer size (want amd64)"));
        }
        // Header word i (of 8) is at 8 + 8 * i.
        let word_off = |i: usize| i.saturating_mul(8).saturating_add(8);
        let word = |i: usize| -> Result<u64, GoError> {
            u64_at(&data, word_off(i)).ok_or(bad(word_off(i), "truncated header"))
        };
        let nfunc = word(0)?;
        let hdr_text = word(2)?;
        let off = |i: usize| -> Result<usize, GoError> {
            let v = word(i)?;
            if v as usize >= data.len() || v > usize::MAX as u64 {
                return Err(bad(word_off(i), "table offset beyond the end"));
            }
            Ok(v as usize)
        };
        let funcname = off(3)?;
        let cutab = off(4)?;
        let filetab = off(5)?;
        let pctab = off(6)?;
        let functab = off(7)?;
        // functab has nfunc+1 pairs of u32.
        let need = (nfunc as u128).saturating_add(1).saturating_mul(8);
        if need > data.len().saturating_sub(functab) as u128 {
            return Err(bad(functab, "functab truncated"));
        }
        let text_start = if hdr_text != 0 {
            hdr_text
        } else {
            text_start.ok_or(bad(24, "textStart is 0 and moduledata.text is unknown"))?
        };
        Ok(Pclntab {
            data,
            addr,
            version,
            nfunc: nfunc as usize,
            text_start,
            funcname,
            cutab,
            filetab,
            pctab,
            functab,
            gofunc,
        })
    }

    /// Number of functions.
    pub fn nfunc(&self) -> usize {
        self.nfunc
    }

    /// Raw table bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    fn functab_entry(&self, i: usize) -> Option<(u32, u32)> {
        let o = self.functab.checked_add(i.checked_mul(8)?)?;
        Some((
            u32_at(&self.data, o)?,
            u32_at(&self.data, o.checked_add(4)?)?,
        ))
    }

    /// Lowest and one-past-highest PC covered by the table.
    pub fn pc_range(&self) -> (u64, u64) {
        let lo = self.functab_entry(0).map(|e| e.0 as u64).unwrap_or(0);
        let hi = self
            .functab_entry(self.nfunc)
            .map(|e| e.0 as u64)
            .unwrap_or(0);
        // textStart comes from the header or moduledata: saturate rather than overflow.
        (
            self.text_start.saturating_add(lo),
            self.text_start.saturating_add(hi),
        )
    }

    /// The `i`th function.
    pub fn func_at_index(&self, i: usize) -> Option<Func> {
        if i >= self.nfunc {
            return None;
        }
        let (entry_off, func_off) = self.functab_entry(i)?;
        let (next_off, _) = self.functab_entry(i.checked_add(1)?)?;
        let off = self.functab.checked_add(func_off as usize)?;
        let d = &self.data;
        let w = |k: usize| u32_at(d, off.checked_add(k.checked_mul(4)?)?);
        let (start_line, tail) = match self.version {
            PclnVersion::V118 => (0i32, off.checked_add(36)?),
            PclnVersion::V120 => (w(9)? as i32, off.checked_add(40)?),
        };
        let f = Func {
            entry: self.text_start.checked_add(w(0)? as u64)?,
            end: self.text_start.checked_add(next_off as u64)?,
            name_off: w(1)? as i32,
            args: w(2)? as i32,
            pcsp: w(4)?,
            pcfile: w(5)?,
            pcln: w(6)?,
            npcdata: w(7)?,
            cu_offset: w(8)?,
            start_line,
            func_id: *d.get(tail)?,
            flag: *d.get(tail.checked_add(1)?)?,
            nfuncdata: *d.get(tail.checked_add(3)?)?,
            off,
        };
        if Some(f.entry) != self.text_start.checked_add(entry_off as u64) {
            return None;
        }
        Some(f)
    }

    /// The function containing `pc`.
    pub fn find_func(&self, pc: u64) -> Option<Func> {
        let rel = pc.checked_sub(self.text_start)?;
        if rel > u32::MAX as u64 || self.nfunc == 0 {
            return None;
        }
        let rel = rel as u32;
        // Binary search for the last entry with entryOff <= rel (bounded by log2(nfunc)).
        let (mut lo, mut hi) = (0usize, self.nfunc);
        while lo < hi {
            let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
            let (e, _) = self.functab_entry(mid)?;
            if e <= rel {
                lo = mid.saturating_add(1);
            } else {
                hi = mid;
            }
        }
        let f = self.func_at_index(lo.checked_sub(1)?)?;
        if pc >= f.entry && pc < f.end {
            Some(f)
        } else {
            None
        }
    }

    /// Name at `funcnametab[off]`.
    pub fn name_at(&self, off: i32) -> Option<String> {
        if off < 0 {
            return None;
        }
        let b = cstr_at(&self.data, self.funcname.checked_add(off as usize)?)?;
        Some(String::from_utf8_lossy(b).into_owned())
    }

    /// The function's name.
    pub fn func_name(&self, f: &Func) -> String {
        self.name_at(f.name_off).unwrap_or_else(|| "?".to_string())
    }

    /// Finds a function by exact name (linear scan; used once per binary for a few names).
    pub fn find_func_by_name(&self, name: &str) -> Option<Func> {
        let want = name.as_bytes();
        (0..self.nfunc)
            .filter_map(|i| self.func_at_index(i))
            .find(|f| {
                f.name_off >= 0
                    && self
                        .funcname
                        .checked_add(f.name_off as usize)
                        .and_then(|o| cstr_at(&self.data, o))
                        .map(|b| b == want)
                        .unwrap_or(false)
            })
    }

    /// Evaluates the pcvalue table at `off` (relative to pctab) for `target` in a function
    /// starting at `entry`. `None` when the table is absent, malformed, or does not cover `target`.
    pub fn pcvalue(&self, off: u32, entry: u64, target: u64) -> Option<i32> {
        if off == 0 {
            return None;
        }
        let mut p = self.pctab.checked_add(off as usize)?;
        let mut pc = entry;
        let mut val: i32 = -1;
        let mut first = true;
        // Each step consumes at least 2 bytes, so the table size bounds the loop.
        let max_steps = self.data.len();
        for _ in 0..max_steps {
            let (uvdelta, n) = read_uvarint(&self.data, p)?;
            p = p.checked_add(n)?;
            if uvdelta == 0 && !first {
                return None;
            }
            first = false;
            // Zig-zag: the low bit is the sign.
            let delta = ((uvdelta & 1) as i64).wrapping_neg() ^ ((uvdelta >> 1) as i64);
            val = val.wrapping_add(delta as i32);
            let (pcdelta, n) = read_uvarint(&self.data, p)?;
            p = p.checked_add(n)?;
            pc = pc.checked_add(pcdelta)?;
            if target < pc {
                return Some(val);
            }
        }
        None
    }

    /// Frame size (SP delta) at `pc`: 0 at the entry.
    pub fn sp_delta(&self, f: &Func, pc: u64) -> Option<i32> {
        if f.pcsp == 0 {
            return None;
        }
        self.pcvalue(f.pcsp, f.entry, pc)
    }

    /// File and line of `pc` (innermost position, including inlined code).
    pub fn file_line(&self, f: &Func, pc: u64) -> (String, u32) {
        let file = self
            .pcvalue(f.pcfile, f.entry, pc)
            .and_then(|fileno| self.file_name(f.cu_offset, fileno));
        let line = self.pcvalue(f.pcln, f.entry, pc);
        match (file, line) {
            (Some(file), Some(line)) if line >= 0 => (file, line as u32),
            _ => ("?".to_string(), 0),
        }
    }

    fn file_name(&self, cu_offset: u32, fileno: i32) -> Option<String> {
        if fileno < 0 {
            return None;
        }
        let idx = (cu_offset as usize).checked_add(fileno as usize)?;
        let fo = u32_at(&self.data, self.cutab.checked_add(idx.checked_mul(4)?)?)?;
        if fo == u32::MAX {
            return None;
        }
        let b = cstr_at(&self.data, self.filetab.checked_add(fo as usize)?)?;
        Some(String::from_utf8_lossy(b).into_owned())
    }

    /// Offset (into pctab) of pcdata table `idx`, or `None`.
    pub fn pcdata_off(&self, f: &Func, idx: u32) -> Option<u32> {
        if idx >= f.npcdata {
            return None;
        }
        let v = u32_at(
            &self.data,
            self.pcdata_base(f)?
                .checked_add((idx as usize).checked_mul(4)?)?,
        )?;
        (v != 0).then_some(v)
    }

    /// Offset of `f`'s pcdata array (just after its fixed-size `_func`).
    fn pcdata_base(&self, f: &Func) -> Option<usize> {
        f.off.checked_add(match self.version {
            PclnVersion::V118 => 40,
            PclnVersion::V120 => 44,
        })
    }

    /// Virtual address of funcdata `idx`, or `None`.
    pub fn funcdata_addr(&self, f: &Func, idx: u32) -> Option<u64> {
        if idx >= f.nfuncdata as u32 {
            return None;
        }
        let o = self
            .pcdata_base(f)?
            .checked_add((f.npcdata as usize).checked_mul(4)?)?
            .checked_add((idx as usize).checked_mul(4)?)?;
        let v = u32_at(&self.data, o)?;
        if v == u32::MAX {
            return None;
        }
        self.gofunc?.checked_add(v as u64)
    }

    /// Expands the physical frame of `f` at `sym_pc` into logical frames, innermost first; the
    /// last element is `f` itself. Bounded by the inline tree depth cap (1000).
    pub fn expand(&self, f: &Func, sym_pc: u64, image: &dyn ImageBytes) -> Vec<LogicalFrame> {
        let mut out = Vec::new();
        let mut pc = sym_pc;
        if let (Some(tab), Some(tree)) = (
            self.pcdata_off(f, PCDATA_INL_TREE_INDEX),
            self.funcdata_addr(f, FUNCDATA_INL_TREE),
        ) {
            let size = match self.version {
                PclnVersion::V118 => 20u64,
                PclnVersion::V120 => 16u64,
            };
            for _ in 0..1000 {
                let Some(ix) = self.pcvalue(tab, f.entry, pc) else {
                    break;
                };
                if ix < 0 {
                    break;
                }
                let Some(addr) = (ix as u64)
                    .checked_mul(size)
                    .and_then(|o| tree.checked_add(o))
                else {
                    break;
                };
                let Some(rec) = image.bytes_at(addr, size as usize) else {
                    break;
                };
                if rec.len() < size as usize {
                    break;
                }
                let byte = |i: usize| rec.get(i).copied().unwrap_or(0);
                let (func_id, name_off, parent_pc) = match self.version {
                    PclnVersion::V118 => (
                        byte(2),
                        u32_at(rec, 12).unwrap_or(0) as i32,
                        u32_at(rec, 16).unwrap_or(0) as i32,
                    ),
                    PclnVersion::V120 => (
                        byte(0),
                        u32_at(rec, 4).unwrap_or(0) as i32,
                        u32_at(rec, 8).unwrap_or(0) as i32,
                    ),
                };
                let (file, line) = self.file_line(f, pc);
                out.push(LogicalFrame {
                    function: self.name_at(name_off).unwrap_or_else(|| "?".into()).into(),
                    file: file.into(),
                    line,
                    func_id,
                    inlined: true,
                    pc,
                });
                let next = f.entry.wrapping_add(parent_pc as i64 as u64);
                if next < f.entry || next >= f.end {
                    break;
                }
                pc = next;
            }
        }
        let (file, line) = self.file_line(f, pc);
        out.push(LogicalFrame {
            function: self.func_name(f).into(),
            file: file.into(),
            line,
            func_id: f.func_id,
            inlined: false,
            pc,
        });
        out
    }
}

/// Reads an unsigned LEB128 varint; returns the value and its length.
pub(crate) fn read_uvarint(b: &[u8], mut p: usize) -> Option<(u64, usize)> {
    let start = p;
    let mut v: u64 = 0;
    let mut shift = 0u32;
    loop {
        let byte = *b.get(p)?;
        p = p.checked_add(1)?;
        if shift >= 64 {
            return None;
        }
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Some((v, p.checked_sub(start)?));
        }
        shift = shift.saturating_add(7);
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests;
