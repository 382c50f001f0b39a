//! Thread-local storage addresses (`qGetTLSAddr`): where a thread's copy of a module's TLS
//! block starts, found as glibc's libthread_db finds it (`td_thr_tls_get_addr`), from target
//! memory alone, with no libthread_db. gdb names the module by its `link_map` address and the
//! variable by its offset in the block; the thread by its thread pointer (x86_64 `fs_base`).
//!
//! Path (x86_64 is TLS variant II, the TCB at the thread pointer):
//!
//! * the module id is the `link_map`'s `l_tls_modid` (0: the module has no TLS); a static
//!   program, which has no link map, is module 1;
//! * the thread's dynamic thread vector is the TCB's `dtv` field (`tcbhead_t.dtv`, at the thread
//!   pointer + 8). `dtv[-1].counter` is the number of slots allocated, `dtv[0]` the generation,
//!   and `dtv[modid].pointer.val` the block (16-byte `dtv_t` entries);
//! * a slot past the vector's end, 0, or `TLS_DTV_UNALLOCATED` (odd: -1) has no block yet; a module
//!   in static TLS (the program, libraries loaded at startup, initial-exec TLS) is then still at
//!   the thread pointer − `l_tls_offset`, unless the offset is `NO_TLS_OFFSET` (0) or
//!   `FORCED_DYNAMIC_TLS_OFFSET` (-1): a dlopened module whose block this thread has not
//!   touched, which has no address yet (libthread_db's `TD_TLSDEFER`).
//!
//! Limits: the `link_map` field offsets are the loaded glibc's, from the descriptors it publishes
//! for libthread_db (`thread_db.rs`); without them (another libc, a glibc that moved or dropped
//! them) TLS is refused rather than read at guessed offsets. libthread_db also compares the
//! dtv's generation with the module's slotinfo generation (a slot left from a dlclosed module
//! whose id was reused); that needs `_rtld_global` and is not done here.

use memcache::{MemError, MemoryExt, MemorySource};

/// Where `struct link_map` keeps `l_tls_modid` and `l_tls_offset` (byte offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkMapTls {
    pub modid: u64,
    pub offset: u64,
}
/// `tcbhead_t.dtv`.
const TCB_DTV: u64 = 8;
/// `sizeof (dtv_t)`.
const DTV_ENTRY: u64 = 16;
const NO_TLS_OFFSET: u64 = 0;
const FORCED_DYNAMIC_TLS_OFFSET: u64 = u64::MAX;

/// Why a TLS address could not be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("the object at link map {0:#x} has no thread-local storage")]
    NoTls(u64),
    #[error("this thread has no TLS block for the object at link map {0:#x} yet")]
    NotAllocated(u64),
    #[error("TLS address overflows: module block {base:#x} + offset {offset:#x}")]
    Overflow { base: u64, offset: u64 },
    #[error("the link_map layout is unknown, so TLS is not read: {0}")]
    UnknownGlibc(String),
    #[error(transparent)]
    Memory(#[from] MemError),
}

/// The address of `offset` in the TLS block of the module whose `link_map` is at `lm` (its
/// fields where `fields` says), for the thread whose thread pointer is `thread_pointer`.
pub fn tls_address<M: MemorySource + ?Sized>(
    mem: &mut M,
    fields: LinkMapTls,
    thread_pointer: u64,
    lm: u64,
    offset: u64,
) -> Result<u64, TlsError> {
    let base = block_base(mem, fields, thread_pointer, lm)?;
    base.checked_add(offset)
        .ok_or(TlsError::Overflow { base, offset })
}

/// The address of `offset` in the TLS block of a static program's own module (id 1), which
/// gdb names with link map 0 (a static program has no link map): as gdbserver asks
/// libthread_db's `td_thr_tlsbase(1)` then, the block is the thread's dtv slot 1.
pub fn static_program_tls_address<M: MemorySource + ?Sized>(
    mem: &mut M,
    thread_pointer: u64,
    offset: u64,
) -> Result<u64, TlsError> {
    let base = dtv_block(mem, thread_pointer, 1)?.ok_or(TlsError::NotAllocated(0))?;
    base.checked_add(offset)
        .ok_or(TlsError::Overflow { base, offset })
}

fn block_base<M: MemorySource + ?Sized>(
    mem: &mut M,
    fields: LinkMapTls,
    thread_pointer: u64,
    lm: u64,
) -> Result<u64, TlsError> {
    let field = |off: u64| lm.checked_add(off).ok_or(MemError::Unreadable { addr: lm });
    let modid = mem.read_u64(field(fields.modid)?)?;
    if modid == 0 {
        return Err(TlsError::NoTls(lm));
    }
    if let Some(block) = dtv_block(mem, thread_pointer, modid)? {
        return Ok(block);
    }
    match mem.read_u64(field(fields.offset)?)? {
        NO_TLS_OFFSET | FORCED_DYNAMIC_TLS_OFFSET => Err(TlsError::NotAllocated(lm)),
        static_offset => Ok(thread_pointer.wrapping_sub(static_offset)),
    }
}

/// The block in the thread's dtv slot `modid`, if the slot is there and allocated.
fn dtv_block<M: MemorySource + ?Sized>(
    mem: &mut M,
    thread_pointer: u64,
    modid: u64,
) -> Result<Option<u64>, TlsError> {
    let dtv = mem.read_u64(thread_pointer.wrapping_add(TCB_DTV))?;
    let slots = mem.read_u64(dtv.wrapping_sub(DTV_ENTRY))?;
    if modid > slots {
        return Ok(None);
    }
    let slot = modid
        .checked_mul(DTV_ENTRY)
        .and_then(|o| dtv.checked_add(o))
        .ok_or(MemError::Unreadable { addr: dtv })?;
    let block = mem.read_u64(slot)?;
    Ok((block != 0 && block & 1 == 0).then_some(block))
}

#[cfg(test)]
mod tests {
    use super::*;
    use memcache::SnapshotMemory;

    const TP: u64 = 0x7000_1000;
    const DTV: u64 = 0x5000_0010;
    const LM: u64 = 0x6000_0000;
    /// glibc 2.36's, x86_64.
    const F: LinkMapTls = LinkMapTls {
        modid: 1152,
        offset: 1144,
    };
    const L_TLS_MODID: u64 = F.modid;
    const L_TLS_OFFSET: u64 = F.offset;

    /// A thread whose dtv has `slots` slots holding `blocks` (from slot 1), and a link map
    /// entry with `modid` and `tls_offset`.
    fn image(slots: u64, blocks: &[u64], modid: u64, tls_offset: u64) -> SnapshotMemory {
        let mut mem = SnapshotMemory::new();
        let mut tcb = TP.to_le_bytes().to_vec();
        tcb.extend(DTV.to_le_bytes());
        mem.add_region(TP, tcb);
        let mut dtv = slots.to_le_bytes().to_vec();
        dtv.extend([0u8; 8]);
        dtv.extend(1u64.to_le_bytes()); // generation
        dtv.extend([0u8; 8]);
        for b in blocks {
            dtv.extend(b.to_le_bytes());
            dtv.extend([0u8; 8]);
        }
        mem.add_region(DTV - DTV_ENTRY, dtv);
        let mut lm = vec![0u8; L_TLS_MODID as usize + 8];
        lm[L_TLS_OFFSET as usize..][..8].copy_from_slice(&tls_offset.to_le_bytes());
        lm[L_TLS_MODID as usize..][..8].copy_from_slice(&modid.to_le_bytes());
        mem.add_region(LM, lm);
        mem
    }

    #[test]
    fn an_allocated_dtv_slot_is_the_block() {
        let mut mem = image(4, &[0x1111_0000, 0x2222_0000], 2, 0x80);
        assert_eq!(tls_address(&mut mem, F, TP, LM, 0x10), Ok(0x2222_0010));
    }

    #[test]
    fn a_static_programs_block_is_dtv_slot_one() {
        let mut mem = image(4, &[0x1111_0000], 0, 0);
        assert_eq!(
            static_program_tls_address(&mut mem, TP, 0x20),
            Ok(0x1111_0020)
        );
        let mut mem = image(4, &[u64::MAX], 0, 0);
        assert_eq!(
            static_program_tls_address(&mut mem, TP, 0),
            Err(TlsError::NotAllocated(0))
        );
    }

    #[test]
    fn static_tls_is_below_the_thread_pointer_when_the_slot_is_empty() {
        // Unallocated (-1), zero, and past the vector's end: the static offset decides.
        for (slots, blocks, modid) in [(4, vec![u64::MAX], 1), (4, vec![0, 0], 2), (1, vec![0], 3)]
        {
            let mut mem = image(slots, &blocks, modid, 0x80);
            assert_eq!(tls_address(&mut mem, F, TP, LM, 8), Ok(TP - 0x80 + 8));
        }
    }

    #[test]
    fn a_module_without_tls_or_without_a_block_is_an_error() {
        let mut mem = image(4, &[0x1111_0000], 0, 0x80);
        assert_eq!(
            tls_address(&mut mem, F, TP, LM, 0),
            Err(TlsError::NoTls(LM))
        );
        for offset in [NO_TLS_OFFSET, FORCED_DYNAMIC_TLS_OFFSET] {
            let mut mem = image(4, &[u64::MAX], 1, offset);
            assert_eq!(
                tls_address(&mut mem, F, TP, LM, 0),
                Err(TlsError::NotAllocated(LM))
            );
        }
        let mut mem = image(4, &[0x1111_0000], 1, 0x80);
        assert!(matches!(
            tls_address(&mut mem, F, TP, LM, u64::MAX),
            Err(TlsError::Overflow { .. })
        ));
        assert!(matches!(
            tls_address(&mut mem, F, TP, 0x10, 0),
            Err(TlsError::Memory(_))
        ));
        assert!(matches!(
            tls_address(&mut mem, F, 0x99, LM, 0),
            Err(TlsError::Memory(_))
        ));
    }
}
