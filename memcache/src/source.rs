//! The memory-source trait every reader of target memory uses, and an in-memory source for tests
//! and recorded snapshots.

use std::collections::BTreeMap;

/// Why a read of target memory failed. Every variant carries the address it failed at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemError {
    /// No byte at `addr` could be read (unmapped, PROT_NONE, or beyond a snapshot).
    #[error("cannot read target memory at {addr:#x}")]
    Unreadable { addr: u64 },
    /// A write at `addr` was refused.
    #[error("cannot write target memory at {addr:#x}")]
    Unwritable { addr: u64 },
    /// The address range `addr..addr+len` wraps around the address space.
    #[error("address range {addr:#x}+{len:#x} overflows")]
    Overflow { addr: u64, len: u64 },
    /// The process went away (exited or was killed) while it was being read.
    #[error("target process is gone (reading {addr:#x})")]
    ProcessGone { addr: u64 },
}

/// One range of a batched read. `got` is set to the length of the readable prefix.
#[derive(Debug)]
pub struct ReadRequest<'a> {
    pub addr: u64,
    pub buf: &'a mut [u8],
    pub got: usize,
}

impl<'a> ReadRequest<'a> {
    pub fn new(addr: u64, buf: &'a mut [u8]) -> Self {
        ReadRequest { addr, buf, got: 0 }
    }
}

/// A readable image of a target's address space.
pub trait MemorySource {
    /// Reads into `buf` from `addr`. Returns the length of the readable prefix, which is short
    /// when a later part of the range is unreadable. When not even the first byte is readable
    /// the result is `Err(MemError::Unreadable)`.
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError>;

    /// Reads several ranges, in as few underlying operations as the source can manage. Each
    /// request's `got` receives its readable prefix length (0 when unreadable); an `Err` means the
    /// source itself failed (for example the process is gone).
    fn read_batch(&mut self, requests: &mut [ReadRequest<'_>]) -> Result<(), MemError> {
        for req in requests.iter_mut() {
            req.got = match self.read(req.addr, req.buf) {
                Ok(n) => n,
                Err(MemError::Unreadable { .. }) => 0,
                Err(e) => return Err(e),
            };
        }
        Ok(())
    }

    /// A hint that the `(addr, len)` ranges will be read soon: a caching source fetches what it
    /// lacks of them in one batch. Sources without a cache ignore it.
    fn prefetch(&mut self, _ranges: &[(u64, u64)]) -> Result<(), MemError> {
        Ok(())
    }
}

impl<T: MemorySource + ?Sized> MemorySource for &mut T {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        (**self).read(addr, buf)
    }
    fn read_batch(&mut self, requests: &mut [ReadRequest<'_>]) -> Result<(), MemError> {
        (**self).read_batch(requests)
    }
    fn prefetch(&mut self, ranges: &[(u64, u64)]) -> Result<(), MemError> {
        (**self).prefetch(ranges)
    }
}

/// `MemorySource::read` for a source whose real work is `read_batch`: one request, and
/// `Unreadable` when not even its first byte could be read.
pub fn read_through_batch<S: MemorySource + ?Sized>(
    source: &mut S,
    addr: u64,
    buf: &mut [u8],
) -> Result<usize, MemError> {
    let mut reqs = [ReadRequest::new(addr, buf)];
    source.read_batch(&mut reqs)?;
    match reqs[0].got {
        0 if !reqs[0].buf.is_empty() => Err(MemError::Unreadable { addr }),
        n => Ok(n),
    }
}

/// Convenience reads on any source.
pub trait MemoryExt: MemorySource {
    /// Reads exactly `buf.len()` bytes or fails with the first unreadable address.
    fn read_exact(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let n = self.read(addr, buf)?;
        if n < buf.len() {
            return Err(MemError::Unreadable {
                addr: addr.wrapping_add(n as u64),
            });
        }
        Ok(())
    }
    fn read_u64(&mut self, addr: u64) -> Result<u64, MemError> {
        let mut b = [0u8; 8];
        self.read_exact(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn read_u32(&mut self, addr: u64) -> Result<u32, MemError> {
        let mut b = [0u8; 4];
        self.read_exact(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn read_u8(&mut self, addr: u64) -> Result<u8, MemError> {
        let mut b = [0u8; 1];
        self.read_exact(addr, &mut b)?;
        Ok(b[0])
    }
}

impl<T: MemorySource + ?Sized> MemoryExt for T {}

/// An address space made of byte regions held in memory: unit tests and recorded snapshots.
#[derive(Debug, Default, Clone)]
pub struct SnapshotMemory {
    regions: BTreeMap<u64, Vec<u8>>,
}

impl SnapshotMemory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the region starting at `addr`. Regions must not overlap.
    pub fn add_region(&mut self, addr: u64, bytes: Vec<u8>) {
        self.regions.insert(addr, bytes);
    }

    /// Overwrites bytes inside existing regions; bytes that fall outside any region are dropped.
    pub fn patch(&mut self, addr: u64, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            let a = addr.wrapping_add(i as u64);
            if let Some((start, region)) = self.regions.range_mut(..=a).next_back() {
                if let Some(slot) = region.get_mut(a.wrapping_sub(*start) as usize) {
                    *slot = *b;
                }
            }
        }
    }
}

impl MemorySource for SnapshotMemory {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        let mut done = 0usize;
        // A read never wraps past the top of the address space.
        while let (Some(a), Some(dst)) = (addr.checked_add(done as u64), buf.get_mut(done..)) {
            if dst.is_empty() {
                break;
            }
            let Some((start, region)) = self.regions.range(..=a).next_back() else {
                break;
            };
            // range(..=a): start <= a.
            let Some(src) = region
                .get(a.wrapping_sub(*start) as usize..)
                .filter(|s| !s.is_empty())
            else {
                break;
            };
            let n = src.len().min(dst.len());
            if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
                d.copy_from_slice(s);
            }
            done = done.saturating_add(n);
        }
        if done == 0 && !buf.is_empty() {
            return Err(MemError::Unreadable { addr });
        }
        Ok(done)
    }
}
