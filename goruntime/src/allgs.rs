//! Finding and reading the goroutine list (`runtime.allgs`, `runtime.allglen`).
//!
//! Location, in order: ELF symbols, DWARF variables, then — for `-s -w` binaries — decoding
//! `runtime.allgadd` with iced-x86 (reference §8): `allgs` is the RIP-relative target T that is
//! referenced together with T+8 and T+16 (slice ptr/len/cap), `allglen` is the target of the
//! `LEAQ sym(RIP)` immediately followed by `XCHGQ` (`atomic.Storeuintptr(&allglen, …)`).
//! Reading: allglen first (as the runtime's lock-free readers do), capped by the slice length
//! and by [`MAX_GOROUTINES`]; the pointer array in one batch; the g structs in one batch, as
//! runs of neighbouring structs (the kernel walks the page tables once per range).

use crate::dwarf::DwarfInfo;
use crate::error::GoError;
use crate::image::{Image, Symbol};
use crate::pclntab::{ImageBytes, Pclntab};
use iced_x86::{Code, Decoder, DecoderOptions, Mnemonic, OpKind, Register};
use memcache::{MemoryExt, MemorySource, ReadRequest};
use std::collections::{HashMap, HashSet};

/// Upper bound on the number of g pointers read (allglen beyond it is treated as corrupt).
pub const MAX_GOROUTINES: u64 = 4 << 20;

/// Where the goroutine list lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllgsLocation {
    /// Address of the `runtime.allgs` slice header (`ptr, len, cap`).
    pub allgs: u64,
    /// Address of `runtime.allglen`.
    pub allglen: u64,
}

/// Finds allgs/allglen from symbols, DWARF, or by decoding `runtime.allgadd`.
pub(crate) fn locate(
    symbols: &HashMap<String, Symbol>,
    dwarf: Option<&DwarfInfo>,
    pcln: &Pclntab,
    image: &Image,
) -> Option<AllgsLocation> {
    if let (Some(a), Some(l)) = (symbols.get("runtime.allgs"), symbols.get("runtime.allglen")) {
        if a.addr != 0 && l.addr != 0 {
            return Some(AllgsLocation {
                allgs: a.addr,
                allglen: l.addr,
            });
        }
    }
    if let Some(d) = dwarf {
        if let (Some(&a), Some(&l)) = (d.vars.get("runtime.allgs"), d.vars.get("runtime.allglen")) {
            return Some(AllgsLocation {
                allgs: a,
                allglen: l,
            });
        }
    }
    locate_by_disassembly(pcln, image)
}

/// Decodes `runtime.allgadd` to find the globals it writes.
pub fn locate_by_disassembly(pcln: &Pclntab, image: &Image) -> Option<AllgsLocation> {
    let f = pcln.find_func_by_name("runtime.allgadd")?;
    let len = f.end.saturating_sub(f.entry).min(4096) as usize;
    let code = image.bytes_at(f.entry, len)?;
    decode_allgadd(code, f.entry)
}

/// The decoding heuristic on raw code bytes at `ip`.
pub fn decode_allgadd(code: &[u8], ip: u64) -> Option<AllgsLocation> {
    let mut decoder = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut targets: HashSet<u64> = HashSet::new();
    let mut order: Vec<u64> = Vec::new();
    let mut allglen = None;
    let mut pending_lea: Option<(Register, u64)> = None;
    // Bounded by the code length (each instruction consumes ≥1 byte).
    while decoder.can_decode() {
        let ins = decoder.decode();
        if ins.code() == Code::INVALID {
            break;
        }
        let mut rip_target = None;
        for i in 0..ins.op_count() {
            if ins.op_kind(i) == OpKind::Memory && ins.memory_base() == Register::RIP {
                rip_target = Some(ins.ip_rel_memory_address());
            }
        }
        if ins.mnemonic() == Mnemonic::Xchg {
            if let Some((reg, t)) = pending_lea {
                if (0..ins.op_count())
                    .any(|i| ins.op_kind(i) == OpKind::Memory && ins.memory_base() == reg)
                {
                    allglen = Some(t);
                }
            }
        }
        pending_lea = None;
        if let Some(t) = rip_target {
            if ins.mnemonic() == Mnemonic::Lea {
                pending_lea = Some((ins.op0_register(), t));
            }
            if targets.insert(t) {
                order.push(t);
            }
        }
    }
    let allgs = order.iter().copied().find(|t| {
        [8, 16]
            .iter()
            .all(|d| t.checked_add(*d).is_some_and(|a| targets.contains(&a)))
    })?;
    Some(AllgsLocation {
        allgs,
        allglen: allglen?,
    })
}

/// Reads the list of g pointers (including dead gs), at most [`MAX_GOROUTINES`].
pub fn read_allg_pointers<M: MemorySource>(
    mem: &mut M,
    loc: AllgsLocation,
) -> Result<Vec<u64>, GoError> {
    read_allg_pointers_noting(mem, loc, &mut |_| {})
}

/// [`read_allg_pointers`], telling `seen` where the pointer array was (`(addr, bytes)`).
pub fn read_allg_pointers_noting<M: MemorySource>(
    mem: &mut M,
    loc: AllgsLocation,
    seen: &mut dyn FnMut((u64, u64)),
) -> Result<Vec<u64>, GoError> {
    let allglen = mem.read_u64(loc.allglen)?;
    let mut hdr = [0u8; 24];
    mem.read_exact(loc.allgs, &mut hdr)?;
    let word = |off: usize| crate::pclntab::u64_at(&hdr, off).unwrap_or(0);
    let (ptr, len, cap) = (word(0), word(8), word(16));
    if allglen > MAX_GOROUTINES || len > cap {
        return Err(GoError::Corrupt {
            what: "runtime.allglen",
            addr: loc.allglen,
        });
    }
    let n = allglen.min(len);
    if n == 0 {
        return Ok(Vec::new());
    }
    // n <= MAX_GOROUTINES: the byte count cannot overflow.
    let bytes = n.saturating_mul(8);
    seen((ptr, bytes));
    // One batch of reads of at most a page cache's longest read each (a million goroutines'
    // array is 8 MB): past the first short one, nothing more is taken.
    let mut buf = vec![0u8; bytes as usize];
    let mut got = Vec::new();
    {
        let mut reqs: Vec<ReadRequest<'_>> = buf
            .chunks_mut(POINTER_READ)
            .enumerate()
            .map(|(i, b)| {
                ReadRequest::new(ptr.wrapping_add(i.saturating_mul(POINTER_READ) as u64), b)
            })
            .collect();
        mem.read_batch(&mut reqs)?;
        got.extend(reqs.iter().map(|r| (r.got, r.buf.len())));
    }
    let mut readable = 0usize;
    for (n, len) in got {
        readable = readable.saturating_add(n);
        if n < len {
            break;
        }
    }
    if readable == 0 {
        return Err(GoError::Mem(memcache::MemError::Unreadable { addr: ptr }));
    }
    buf.truncate(readable);
    Ok(buf
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect())
}

/// Bytes of the allgs pointer array per read request.
const POINTER_READ: usize = 1 << 20;

/// Neighbouring structs at most this far apart are read as one range (the gap is read too):
/// g structs sit side by side in their heap spans, and one range for a span's worth of them costs
/// the kernel one page walk instead of one per struct.
const MAX_GAP: u64 = 256;

/// `size` bytes at each of many addresses, read in one batch as runs of neighbours into one
/// buffer (reused from call to call). Unreadable structs come back short.
#[derive(Debug, Default)]
pub struct StructReads {
    buf: Vec<u8>,
    /// Per address: offset in `buf` and readable length.
    at: Vec<(usize, usize)>,
}

impl StructReads {
    /// Reads into `buf` (its old contents go): a buffer kept across calls spares page faults.
    pub fn with_buffer(buf: Vec<u8>) -> StructReads {
        StructReads {
            buf,
            at: Vec::new(),
        }
    }

    /// The buffer, to keep for the next reads.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// Reads `size` bytes at each of `addrs` (replacing what was read before).
    pub fn read<M: MemorySource>(
        &mut self,
        mem: &mut M,
        addrs: &[u64],
        size: usize,
    ) -> Result<(), GoError> {
        let mut order: Vec<usize> = (0..addrs.len()).collect();
        order.sort_unstable_by_key(|&i| addrs.get(i).copied().unwrap_or(0));
        // Runs: (start address, end address, offset in buf).
        let mut runs: Vec<(u64, u64, usize)> = Vec::new();
        let mut total = 0usize;
        let mut run_of = vec![0usize; addrs.len()];
        for &i in &order {
            let addr = addrs.get(i).copied().unwrap_or(0);
            let end = addr.saturating_add(size as u64);
            match runs.last_mut() {
                Some(run) if addr <= run.1.saturating_add(MAX_GAP) => {
                    let grow = end.saturating_sub(run.1);
                    run.1 = run.1.max(end);
                    total = total.saturating_add(grow as usize);
                }
                _ => {
                    runs.push((addr, end, total));
                    total = total.saturating_add(size);
                }
            }
            if let Some(slot) = run_of.get_mut(i) {
                *slot = runs.len().saturating_sub(1);
            }
        }
        self.buf.clear();
        self.buf.resize(total, 0);
        let mut got = Vec::with_capacity(runs.len());
        {
            let mut reqs = Vec::with_capacity(runs.len());
            let mut rest = self.buf.as_mut_slice();
            for &(start, end, _) in &runs {
                let len = (end.saturating_sub(start) as usize).min(rest.len());
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
                reqs.push(ReadRequest::new(start, head));
                rest = tail;
            }
            mem.read_batch(&mut reqs)?;
            got.extend(reqs.iter().map(|r| r.got));
        }
        self.at.clear();
        self.at.extend(addrs.iter().zip(&run_of).map(|(&addr, &r)| {
            let (Some(&(start, _, off)), Some(&got)) = (runs.get(r), got.get(r)) else {
                return (0, 0);
            };
            // The run of addr starts at or below it.
            let into = addr.saturating_sub(start) as usize;
            (off.saturating_add(into), got.saturating_sub(into).min(size))
        }));
        Ok(())
    }

    /// The readable bytes of the `i`th struct of the last read.
    pub fn get(&self, i: usize) -> &[u8] {
        self.at
            .get(i)
            .and_then(|&(off, len)| self.buf.get(off..off.saturating_add(len)))
            .unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use memcache::SnapshotMemory;

    #[test]
    fn huge_allglen_is_an_error() {
        let mut mem = SnapshotMemory::new();
        let mut d = vec![0u8; 64];
        d[0..8].copy_from_slice(&3_000_000_000u64.to_le_bytes());
        d[8..16].copy_from_slice(&0x9000u64.to_le_bytes());
        d[16..24].copy_from_slice(&3_000_000_000u64.to_le_bytes());
        d[24..32].copy_from_slice(&3_000_000_000u64.to_le_bytes());
        mem.add_region(0x1000, d);
        let loc = AllgsLocation {
            allgs: 0x1008,
            allglen: 0x1000,
        };
        assert!(matches!(
            read_allg_pointers(&mut mem, loc),
            Err(GoError::Corrupt { addr: 0x1000, .. })
        ));
    }

    #[test]
    fn short_pointer_array_is_truncated() {
        let mut mem = SnapshotMemory::new();
        let mut d = vec![0u8; 32];
        d[0..8].copy_from_slice(&4u64.to_le_bytes());
        d[8..16].copy_from_slice(&0x2000u64.to_le_bytes());
        d[16..24].copy_from_slice(&4u64.to_le_bytes());
        d[24..32].copy_from_slice(&4u64.to_le_bytes());
        mem.add_region(0x1000, d);
        mem.add_region(0x2000, vec![1u8; 12]);
        let loc = AllgsLocation {
            allgs: 0x1008,
            allglen: 0x1000,
        };
        assert_eq!(read_allg_pointers(&mut mem, loc).unwrap().len(), 1);
    }

    #[test]
    fn decode_synthetic_allgadd() {
        // mov rax,[rip+X]; mov rcx,[rip+X+8]; mov rdx,[rip+X+16]; lea rdx,[rip+Y]; xchg [rdx],rax
        let mut code = Vec::new();
        let ip = 0x400000u64;
        let x = 0x500000u64;
        let y = 0x500100u64;
        let emit = |code: &mut Vec<u8>, prefix: &[u8], target: u64| {
            let next = ip + code.len() as u64 + prefix.len() as u64 + 4;
            code.extend_from_slice(prefix);
            code.extend_from_slice(&((target as i64 - next as i64) as i32).to_le_bytes());
        };
        emit(&mut code, &[0x48, 0x8b, 0x05], x);
        emit(&mut code, &[0x48, 0x8b, 0x0d], x + 8);
        emit(&mut code, &[0x48, 0x8b, 0x15], x + 16);
        emit(&mut code, &[0x48, 0x8d, 0x15], y);
        code.extend_from_slice(&[0x48, 0x87, 0x02]);
        let loc = decode_allgadd(&code, ip).unwrap();
        assert_eq!(
            loc,
            AllgsLocation {
                allgs: x,
                allglen: y
            }
        );
        assert!(decode_allgadd(&[0xff; 7], ip).is_none());
    }
}
