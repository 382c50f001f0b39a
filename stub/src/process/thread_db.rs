//! Where glibc keeps a `link_map`'s TLS fields, read as libthread_db reads them: libc.so.6
//! publishes the layout of the fields libthread_db needs as `_thread_db_*` descriptors, so the
//! offsets are the loaded glibc's own, not a release's guessed ones. A glibc that does not
//! publish them (or not as expected) is refused, never read with offsets it may not have.
//!
//! Quirks met here:
//! * The descriptors are `GLIBC_PRIVATE` symbols of libc.so.6's `.dynsym` (glibc 2.34 on, when
//!   libpthread moved into libc): `_thread_db_link_map_l_tls_modid` and
//!   `_thread_db_link_map_l_tls_offset`, each `uint32_t[3]` = {size in bits, count, offset}
//!   (glibc 2.36, x86_64: {64, 1, 1152} and {64, 1, 1144}).
//! * The symbols come from libc's file (named by the link map), the descriptor values from the
//!   process's memory at the library's load bias plus the symbol's value, as libthread_db's
//!   `ps_pglobal_lookup` and `ps_pdread` give them.

use memcache::{MemoryExt, MemorySource};
use object::{Object, ObjectSymbol};

use super::svr4::LinkMap;
use super::tls::{LinkMapTls, TlsError};

const MODID: &str = "_thread_db_link_map_l_tls_modid";
const OFFSET: &str = "_thread_db_link_map_l_tls_offset";

/// The `link_map` TLS field offsets of the glibc loaded in the process (`map` its link map).
pub fn link_map_tls_fields<M: MemorySource + ?Sized>(
    mem: &mut M,
    map: &LinkMap,
) -> Result<LinkMapTls, TlsError> {
    let libc = map
        .libraries
        .iter()
        .find(|l| is_libc(&l.name))
        .ok_or_else(|| TlsError::UnknownGlibc("no libc.so.6 in the link map".into()))?;
    let path = String::from_utf8_lossy(&libc.name).into_owned();
    let unknown = |why: String| TlsError::UnknownGlibc(format!("{path}: {why}"));
    let file = std::fs::File::open(&path).map_err(|e| unknown(e.to_string()))?;
    // SAFETY: a read-only private mapping; a library rewritten under us gives wrong symbols
    // (then refused below), never unsafety in this process's own memory.
    let bytes = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| unknown(e.to_string()))?;
    let elf = object::File::parse(&*bytes).map_err(|e| unknown(e.to_string()))?;
    let field = |mem: &mut M, name: &str| -> Result<u64, TlsError> {
        let sym = elf
            .dynamic_symbols()
            .find(|s| s.name() == Ok(name))
            .ok_or_else(|| unknown(format!("no {name} (not a glibc with libthread_db support)")))?;
        let addr = libc
            .l_addr
            .checked_add(sym.address())
            .ok_or_else(|| unknown(format!("{name} overflows")))?;
        let mut raw = [0u8; 12];
        mem.read_exact(addr, &mut raw)?;
        let word = |i: usize| u32::from_le_bytes(raw[i * 4..i * 4 + 4].try_into().expect("4"));
        match [word(0), word(1), word(2)] {
            [64, 1, offset] => Ok(offset.into()),
            other => Err(unknown(format!("{name} is {other:?}, not a 64-bit field"))),
        }
    };
    Ok(LinkMapTls {
        modid: field(mem, MODID)?,
        offset: field(mem, OFFSET)?,
    })
}

/// Whether a link map name is glibc's libc (`…/libc.so.6`).
fn is_libc(name: &[u8]) -> bool {
    name.rsplit(|&b| b == b'/').next() == Some(b"libc.so.6")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::svr4::{self, Library};

    #[test]
    fn libc_is_found_by_its_file_name() {
        assert!(is_libc(b"/lib/x86_64-linux-gnu/libc.so.6"));
        assert!(is_libc(b"libc.so.6"));
        assert!(!is_libc(b"/usr/lib/libc.so.6.bak"));
        assert!(!is_libc(b"/lib/ld-musl-x86_64.so.1"));
    }

    /// This process's own glibc publishes the offsets (glibc 2.36: 1152 and 1144).
    #[test]
    fn this_processs_glibc_publishes_the_fields() {
        let auxv = std::fs::read("/proc/self/auxv").unwrap();
        let mut mem = memcache::ProcMem::open(std::process::id() as i32).unwrap();
        let map = svr4::link_map(&mut mem, &auxv).unwrap();
        let fields = link_map_tls_fields(&mut mem, &map).unwrap();
        assert!(fields.modid > 0 && fields.offset > 0 && fields.modid < 4096);
        assert_eq!(fields.modid, fields.offset + 8);
    }

    #[test]
    fn a_program_without_glibc_is_refused() {
        let mut mem = memcache::SnapshotMemory::new();
        let map = LinkMap {
            main_lm: Some(0x1000),
            libraries: vec![Library {
                name: b"/lib/ld-musl-x86_64.so.1".to_vec(),
                lm: 0x2000,
                l_addr: 0,
                l_ld: 0,
            }],
        };
        assert!(matches!(
            link_map_tls_fields(&mut mem, &map),
            Err(TlsError::UnknownGlibc(_))
        ));
    }
}
