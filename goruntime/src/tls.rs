//! The current g of an OS thread, from its `fs_base` (reference §1.3).
//!
//! With internal linking (no cgo) the runtime sets FS to `&m.tls[0] + 8`, so the g pointer is at
//! `fs_base - 8` — on every supported version, regabi or not. With cgo/external linking the slot
//! is `runtime.tlsg`'s offset from the end of PT_TLS, which is also −8 unless C code adds its
//! own `__thread` variables. R14 holds g only inside ABIInternal Go code and is not used here.

use memcache::{MemError, MemoryExt, MemorySource};

/// Offset of the g slot from `fs_base` on linux/amd64.
pub const G_TLS_OFFSET: i64 = -8;

/// Reads the g pointer of a thread; `Ok(0)` means a non-Go thread (or one not yet set up).
pub fn current_g<M: MemorySource>(mem: &mut M, fs_base: u64) -> Result<u64, MemError> {
    if fs_base < 8 {
        return Ok(0);
    }
    mem.read_u64(fs_base.wrapping_add(G_TLS_OFFSET as u64))
}
