//! The shared-library list gdb reads with `qXfer:libraries-svr4:read`, found by walking the
//! dynamic linker's `r_debug`/`link_map` chain in target memory. This returns the entries;
//! `gdb/xfer.rs` writes them in gdbserver's XML format.
//!
//! Path: auxv `AT_PHDR`/`AT_PHNUM` → program headers → load bias (`AT_PHDR - PT_PHDR.p_vaddr`,
//! which covers PIE) → `PT_DYNAMIC` → `DT_DEBUG` → `struct r_debug` → `r_map` → `link_map` chain.
//! Quirks it meets:
//!
//! * Before ld.so has run (a launched process stopped at its first instruction) `DT_DEBUG` and
//!   `r_map` are 0; that is an empty list, not an error. gdb finds ld.so through `AT_BASE` in
//!   `qXfer:auxv` and asks again after the solib event breakpoint, so `AT_BASE` is not needed here.
//! * A statically linked program has no `PT_DYNAMIC` (gdbserver answers `E01`); gostub answers an
//!   empty list, which gdb handles the same way.
//! * The first `link_map` is the main program with an empty name: it is skipped but reported as
//!   `main-lm`, as gdbserver does. Entries whose name is empty or unreadable are skipped too.
//! * The chain lives in a process that may be corrupt. Every entry's `l_prev` must point to the
//!   entry before it (gdbserver's "Corrupted shared library list" check); since a node has a single
//!   `l_prev`, that check also rules out cycles. The walk stops there, or after 4096 entries, and
//!   reports what it has, like gdbserver. Unreadable `r_debug`/`link_map` memory is an error.
//! * lldb asks `qShlibInfoAddr` for where `DT_DEBUG`'s value lies ([`dt_debug_slot`], what
//!   lldb-server answers); without it, lldb reads its `r_debug` pointer at gdb's `main-lm` (the
//!   main program's `link_map`, whose first word is the load bias) and lists no library.
//! * Only the base namespace (`lmid` 0) is listed; glibc's `r_debug_extended.r_next` namespaces
//!   (dlmopen) are not walked.
//! * Offsets are for LP64 glibc: `r_debug.r_map` at 8; `link_map` `l_addr` 0, `l_name` 8, `l_ld`
//!   16, `l_next` 24, `l_prev` 32; `Elf64_Phdr` is 56 bytes, `Elf64_Dyn` 16.

use memcache::{MemError, MemoryExt, MemorySource};

const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHNUM: u64 = 5;

const PT_DYNAMIC: u32 = 2;
const PT_PHDR: u32 = 6;
const PHDR_SIZE: usize = 56;
/// ELF's PN_XNUM: larger counts live in section 0, which a real executable never needs.
const MAX_PHNUM: u64 = 0xffff;

const DT_NULL: u64 = 0;
const DT_DEBUG: u64 = 21;
const DYN_SIZE: usize = 16;
/// Bound on the dynamic section read; real ones hold a few dozen entries.
const MAX_DYN_ENTRIES: u64 = 4096;

const R_MAP_OFFSET: u64 = 8;
const LINK_MAP_SIZE: usize = 40;
const MAX_LINK_MAPS: usize = 4096;
/// PATH_MAX: the longest library name read, as gdbserver does.
const MAX_NAME: usize = 4096;
const NAME_CHUNK: usize = 256;

/// Why the library list could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Svr4Error {
    #[error("auxv has no {0}")]
    MissingAuxv(&'static str),
    #[error("implausible program header count {0}")]
    BadPhnum(u64),
    #[error("program headers have PT_DYNAMIC but no PT_PHDR, so the load bias is unknown")]
    NoPtPhdr,
    #[error(transparent)]
    Memory(#[from] MemError),
}

/// Parses `/proc/PID/auxv` (native-endian `u64` type/value pairs) up to `AT_NULL` or the last
/// whole pair.
pub fn parse_auxv(bytes: &[u8]) -> Vec<(u64, u64)> {
    bytes
        .chunks_exact(16)
        .map(|pair| (u64_at(pair, 0), u64_at(pair, 8)))
        .take_while(|(kind, _)| *kind != AT_NULL)
        .collect()
}

/// One loaded object of the link map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Library {
    pub name: Vec<u8>,
    pub lm: u64,
    pub l_addr: u64,
    pub l_ld: u64,
}

/// The base namespace's link map: the main program's entry and the named objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkMap {
    /// The first `link_map` (the main program), once ld.so has set one.
    pub main_lm: Option<u64>,
    pub libraries: Vec<Library>,
}

/// Walks the link map of the process whose memory is `mem` and whose auxiliary vector is `auxv`
/// (raw `/proc/PID/auxv` bytes).
pub fn link_map<M: MemorySource>(mem: &mut M, auxv: &[u8]) -> Result<LinkMap, Svr4Error> {
    let mut map = LinkMap::default();
    let dt_debug = find_dt_debug(mem, &parse_auxv(auxv))?;
    let Some(r_debug) = dt_debug.map(|(_, value)| value).filter(|addr| *addr != 0) else {
        return Ok(map);
    };
    let mut lm = mem.read_u64(r_debug.wrapping_add(R_MAP_OFFSET))?;
    let mut prev = 0u64;
    let mut walked = 0;
    while lm != 0 {
        if walked == MAX_LINK_MAPS {
            log::warn!("shared library list truncated at {MAX_LINK_MAPS} entries");
            break;
        }
        walked += 1;
        let mut raw = [0u8; LINK_MAP_SIZE];
        mem.read_exact(lm, &mut raw)?;
        let [l_addr, l_name, l_ld, l_next, l_prev] =
            [0, 8, 16, 24, 32].map(|off| u64_at(&raw, off));
        if l_prev != prev {
            log::warn!(
                "corrupted shared library list: {lm:#x}'s l_prev is {l_prev:#x}, not {prev:#x}"
            );
            break;
        }
        if prev == 0 {
            map.main_lm = Some(lm);
        }
        let name = read_c_string(mem, l_name);
        if !name.is_empty() {
            map.libraries.push(Library {
                name,
                lm,
                l_addr,
                l_ld,
            });
        }
        (prev, lm) = (lm, l_next);
    }
    Ok(map)
}

/// Where the program's `DT_DEBUG` value lies, the word ld.so sets to `&r_debug` (`None`: a
/// static program, which has none).
pub fn dt_debug_slot<M: MemorySource>(mem: &mut M, auxv: &[u8]) -> Result<Option<u64>, Svr4Error> {
    Ok(find_dt_debug(mem, &parse_auxv(auxv))?.map(|(slot, _)| slot))
}

/// Where the `DT_DEBUG` value lies and the value (0 until ld.so has run), or `None` for a
/// program without one (static).
fn find_dt_debug<M: MemorySource>(
    mem: &mut M,
    auxv: &[(u64, u64)],
) -> Result<Option<(u64, u64)>, Svr4Error> {
    let lookup = |key| auxv.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let phdr = lookup(AT_PHDR).ok_or(Svr4Error::MissingAuxv("AT_PHDR"))?;
    let phnum = lookup(AT_PHNUM).ok_or(Svr4Error::MissingAuxv("AT_PHNUM"))?;
    if phnum == 0 || phnum > MAX_PHNUM {
        return Err(Svr4Error::BadPhnum(phnum));
    }
    let mut table = vec![0u8; phnum as usize * PHDR_SIZE];
    mem.read_exact(phdr, &mut table)?;
    let mut pt_phdr_vaddr = None;
    let mut dynamic = None;
    for ph in table.chunks_exact(PHDR_SIZE) {
        let p_type = u32::from_le_bytes([ph[0], ph[1], ph[2], ph[3]]);
        let (p_vaddr, p_memsz) = (u64_at(ph, 16), u64_at(ph, 40));
        match p_type {
            PT_PHDR => pt_phdr_vaddr = Some(p_vaddr),
            PT_DYNAMIC => dynamic = Some((p_vaddr, p_memsz)),
            _ => {}
        }
    }
    let Some((dyn_vaddr, dyn_size)) = dynamic else {
        return Ok(None);
    };
    let bias = phdr.wrapping_sub(pt_phdr_vaddr.ok_or(Svr4Error::NoPtPhdr)?);
    let count = (dyn_size / DYN_SIZE as u64).min(MAX_DYN_ENTRIES) as usize;
    let mut entries = vec![0u8; count * DYN_SIZE];
    // The section may end early in memory; a readable prefix is enough if it holds DT_NULL.
    let base = bias.wrapping_add(dyn_vaddr);
    let got = mem.read(base, &mut entries)?;
    for (i, entry) in entries[..got].chunks_exact(DYN_SIZE).enumerate() {
        match u64_at(entry, 0) {
            DT_NULL => break,
            DT_DEBUG => {
                let slot = base.wrapping_add((i * DYN_SIZE + 8) as u64);
                return Ok(Some((slot, u64_at(entry, 8))));
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Reads a NUL-terminated string of at most [`MAX_NAME`] bytes; unreadable memory ends it.
fn read_c_string<M: MemorySource>(mem: &mut M, addr: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = [0u8; NAME_CHUNK];
    while out.len() < MAX_NAME {
        let at = addr.wrapping_add(out.len() as u64);
        let got = mem.read(at, &mut chunk).unwrap_or(0);
        let piece = &chunk[..got];
        if let Some(end) = piece.iter().position(|b| *b == 0) {
            out.extend_from_slice(&piece[..end]);
            break;
        }
        out.extend_from_slice(piece);
        if got < NAME_CHUNK {
            break;
        }
    }
    out.truncate(MAX_NAME);
    out
}

/// `bytes[off..off + 8]` as a little-endian u64; callers pass slices long enough by construction.
fn u64_at(bytes: &[u8], off: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[off..off + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use memcache::SnapshotMemory;
    use std::fs::File;
    use std::os::unix::fs::FileExt;

    /// This test process's own memory through /proc/self/mem.
    struct SelfMem(File);

    impl MemorySource for SelfMem {
        fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
            match self.0.read_at(buf, addr) {
                Ok(n) if n > 0 || buf.is_empty() => Ok(n),
                _ => Err(MemError::Unreadable { addr }),
            }
        }
    }

    #[test]
    fn lists_libc_of_this_process() {
        let auxv = std::fs::read("/proc/self/auxv").unwrap();
        let mut mem = SelfMem(File::open("/proc/self/mem").unwrap());
        let map = link_map(&mut mem, &auxv).unwrap();
        assert!(map.main_lm.is_some(), "{map:?}");
        assert!(
            map.libraries.iter().any(|l| l.name.ends_with(b"libc.so.6")),
            "{map:?}"
        );
        // The main program (empty name) is not a library.
        assert!(map.libraries.iter().all(|l| !l.name.is_empty()), "{map:?}");
    }

    #[test]
    fn parses_auxv() {
        let mut bytes = Vec::new();
        for v in [3u64, 0x1000, 5, 9, 0, 0, 7, 7] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(parse_auxv(&bytes), vec![(3, 0x1000), (5, 9)]);
        assert_eq!(
            parse_auxv(&bytes[..20]),
            vec![(3, 0x1000)],
            "partial pair dropped"
        );
        assert!(parse_auxv(&[]).is_empty());
    }

    const PHDR: u64 = 0x40_0040;
    const DYNAMIC: u64 = 0x60_0000;
    const R_DEBUG: u64 = 0x70_0000;
    const LM: u64 = 0x80_0000;
    const NAMES: u64 = 0x1000_0000;

    fn auxv() -> Vec<u8> {
        [AT_PHDR, PHDR, AT_PHNUM, 2, AT_NULL, 0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }

    fn phdr(p_type: u32, vaddr: u64, memsz: u64) -> Vec<u8> {
        let mut ph = vec![0u8; PHDR_SIZE];
        ph[0..4].copy_from_slice(&p_type.to_le_bytes());
        ph[16..24].copy_from_slice(&vaddr.to_le_bytes());
        ph[40..48].copy_from_slice(&memsz.to_le_bytes());
        ph
    }

    fn words(values: &[u64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// A non-PIE image (bias 0) whose DT_DEBUG points at `r_debug_addr`, and an r_debug whose
    /// r_map is `r_map`.
    fn image(r_debug_addr: u64, r_map: u64) -> SnapshotMemory {
        let mut mem = SnapshotMemory::new();
        let mut phdrs = phdr(PT_PHDR, PHDR, 2 * PHDR_SIZE as u64);
        phdrs.extend(phdr(PT_DYNAMIC, DYNAMIC, 4 * DYN_SIZE as u64));
        mem.add_region(PHDR, phdrs);
        mem.add_region(
            DYNAMIC,
            words(&[1, 5, DT_DEBUG, r_debug_addr, DT_NULL, 0, 99, 99]),
        );
        mem.add_region(R_DEBUG, words(&[1, r_map, 0, 0, 0]));
        mem
    }

    /// link_maps at LM + 0x100*i from `(l_name, l_next, l_prev)` triples; names at NAMES.
    fn add_chain(mem: &mut SnapshotMemory, nodes: &[(u64, u64, u64)]) {
        for (i, (name, next, prev)) in nodes.iter().enumerate() {
            let lm = LM + 0x100 * i as u64;
            mem.add_region(
                lm,
                words(&[0x1000 * i as u64, *name, lm + 0x80, *next, *prev]),
            );
        }
    }

    fn lm(i: u64) -> u64 {
        LM + 0x100 * i
    }

    #[test]
    fn walks_a_synthetic_chain() {
        let mut mem = image(R_DEBUG, lm(0));
        let mut names = b"\0/lib/libc.so.6\0/tmp/a&b<\"'>.so\0".to_vec();
        names.resize(64, 0);
        mem.add_region(NAMES, names);
        add_chain(
            &mut mem,
            &[
                (NAMES, lm(1), 0),
                (NAMES + 1, lm(2), lm(0)),
                (NAMES + 16, 0, lm(1)),
            ],
        );
        assert_eq!(
            link_map(&mut mem, &auxv()).unwrap(),
            LinkMap {
                main_lm: Some(0x800000),
                libraries: vec![
                    Library {
                        name: b"/lib/libc.so.6".to_vec(),
                        lm: 0x800100,
                        l_addr: 0x1000,
                        l_ld: 0x800180,
                    },
                    Library {
                        name: b"/tmp/a&b<\"'>.so".to_vec(),
                        lm: 0x800200,
                        l_addr: 0x2000,
                        l_ld: 0x800280,
                    },
                ],
            }
        );
    }

    /// Issue 14 (lldb lists no library of a core): qShlibInfoAddr's answer is DT_DEBUG's value
    /// word, the second of its entry, whether or not ld.so has filled it.
    #[test]
    fn dt_debug_slot_is_the_value_word_of_the_entry() {
        assert_eq!(
            dt_debug_slot(&mut image(R_DEBUG, lm(0)), &auxv()).unwrap(),
            Some(DYNAMIC + DYN_SIZE as u64 + 8)
        );
        assert_eq!(
            dt_debug_slot(&mut image(0, 0), &auxv()).unwrap(),
            Some(DYNAMIC + DYN_SIZE as u64 + 8)
        );
    }

    #[test]
    fn not_yet_initialised_or_static_is_an_empty_list() {
        const EMPTY: LinkMap = LinkMap {
            main_lm: None,
            libraries: Vec::new(),
        };
        // DT_DEBUG still 0 (stopped at the first instruction).
        assert_eq!(link_map(&mut image(0, 0), &auxv()).unwrap(), EMPTY);
        // r_debug present, r_map not yet set.
        assert_eq!(link_map(&mut image(R_DEBUG, 0), &auxv()).unwrap(), EMPTY);
        // Static: no PT_DYNAMIC.
        let mut mem = SnapshotMemory::new();
        let mut phdrs = phdr(PT_PHDR, PHDR, 2 * PHDR_SIZE as u64);
        phdrs.extend(phdr(1, 0x40_0000, 0x1000));
        mem.add_region(PHDR, phdrs);
        assert_eq!(link_map(&mut mem, &auxv()).unwrap(), EMPTY);
        assert_eq!(dt_debug_slot(&mut mem, &auxv()).unwrap(), None);
        // Only the main program: main-lm but no libraries.
        let mut mem = image(R_DEBUG, lm(0));
        mem.add_region(NAMES, vec![0; 8]);
        add_chain(&mut mem, &[(NAMES, 0, 0)]);
        assert_eq!(
            link_map(&mut mem, &auxv()).unwrap(),
            LinkMap {
                main_lm: Some(0x800000),
                libraries: Vec::new(),
            }
        );
    }

    #[test]
    fn cyclic_chain_terminates_with_what_it_has() {
        let mut mem = image(R_DEBUG, lm(0));
        mem.add_region(NAMES, b"\0/lib/x.so\0".to_vec());
        // 0 -> 1 -> 2 -> 1: node 1's l_prev is 0, not 2, on the second visit.
        add_chain(
            &mut mem,
            &[
                (NAMES, lm(1), 0),
                (NAMES + 1, lm(2), lm(0)),
                (NAMES + 1, lm(1), lm(1)),
            ],
        );
        let map = link_map(&mut mem, &auxv()).unwrap();
        assert_eq!(map.libraries.len(), 2, "{map:?}");
        // A self-loop with a self-consistent l_prev is rejected at the first node.
        let mut mem = image(R_DEBUG, lm(0));
        add_chain(&mut mem, &[(NAMES, lm(0), lm(0))]);
        assert_eq!(link_map(&mut mem, &auxv()).unwrap(), LinkMap::default());
    }

    #[test]
    fn long_chain_is_bounded() {
        let mut mem = image(R_DEBUG, lm(0));
        mem.add_region(NAMES, b"/l.so\0".to_vec());
        let n = MAX_LINK_MAPS as u64 + 10;
        let nodes: Vec<_> = (0..n)
            .map(|i| (NAMES, lm(i + 1), if i == 0 { 0 } else { lm(i - 1) }))
            .collect();
        add_chain(&mut mem, &nodes);
        let map = link_map(&mut mem, &auxv()).unwrap();
        assert_eq!(map.libraries.len(), MAX_LINK_MAPS);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        // r_map points nowhere.
        let err = link_map(&mut image(R_DEBUG, 0xdead_0000), &auxv()).unwrap_err();
        assert_eq!(
            err,
            Svr4Error::Memory(MemError::Unreadable { addr: 0xdead_0000 })
        );
        // DT_DEBUG points nowhere.
        assert!(matches!(
            link_map(&mut image(0xbad0, 0), &auxv()),
            Err(Svr4Error::Memory(_))
        ));
        // l_next into the void after a good entry; l_name garbage is merely skipped.
        let mut mem = image(R_DEBUG, lm(0));
        add_chain(&mut mem, &[(0xffff_ffff_ffff_fff0, u64::MAX - 3, 0)]);
        assert!(matches!(
            link_map(&mut mem, &auxv()),
            Err(Svr4Error::Memory(_))
        ));
        // Broken auxv / program headers.
        assert_eq!(
            link_map(&mut image(0, 0), &[]),
            Err(Svr4Error::MissingAuxv("AT_PHDR"))
        );
        let huge: Vec<u8> = words(&[AT_PHDR, PHDR, AT_PHNUM, 1 << 40]);
        assert_eq!(
            link_map(&mut image(0, 0), &huge),
            Err(Svr4Error::BadPhnum(1 << 40))
        );
        let nowhere: Vec<u8> = words(&[AT_PHDR, 0x10, AT_PHNUM, 3]);
        assert!(matches!(
            link_map(&mut image(0, 0), &nowhere),
            Err(Svr4Error::Memory(_))
        ));
        // PT_DYNAMIC without PT_PHDR.
        let mut mem = SnapshotMemory::new();
        let mut phdrs = phdr(1, 0, 0);
        phdrs.extend(phdr(PT_DYNAMIC, DYNAMIC, 64));
        mem.add_region(PHDR, phdrs);
        assert_eq!(link_map(&mut mem, &auxv()), Err(Svr4Error::NoPtPhdr));
        // Odd-length auxv bytes and arbitrary memory never panic.
        for len in 0..40 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37) as u8).collect();
            let _ = link_map(&mut image(R_DEBUG, lm(0)), &junk);
        }
    }
}
