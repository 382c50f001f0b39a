//! Page arithmetic on remote addresses (4 KiB pages), with overflow checks.
//!
//! A range is described by its first byte and its length; it is valid when its last byte does not
//! wrap past `u64::MAX`. Page numbers (`addr >> 12`) are used instead of exclusive end addresses so
//! that the very last page of the address space needs no special case.

use crate::MemError;

/// Size of a page of target memory (x86_64 Linux base pages).
pub const PAGE_SIZE: usize = 4096;

/// `log2(PAGE_SIZE)`.
pub const PAGE_SHIFT: u32 = 12;

/// The page number holding `addr`.
pub fn page_of(addr: u64) -> u64 {
    addr >> PAGE_SHIFT
}

/// The first address of page number `page`.
pub fn page_addr(page: u64) -> u64 {
    page << PAGE_SHIFT
}

/// The offset of `addr` inside its page.
pub fn offset_in_page(addr: u64) -> usize {
    (addr & (PAGE_SIZE as u64).wrapping_sub(1)) as usize
}

/// The pages a non-empty byte range touches, first and last inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSpan {
    pub first: u64,
    pub last: u64,
}

impl PageSpan {
    /// The pages touched by `len` bytes at `addr`: `Ok(None)` when `len` is 0, and
    /// `Err(MemError::Overflow)` when the last byte would wrap past `u64::MAX`.
    pub fn of(addr: u64, len: usize) -> Result<Option<PageSpan>, MemError> {
        if len == 0 {
            return Ok(None);
        }
        let last_byte = last_byte(addr, len)?;
        Ok(Some(PageSpan {
            first: page_of(addr),
            last: page_of(last_byte),
        }))
    }

    /// Number of pages in the span (at least 1).
    pub fn count(&self) -> u64 {
        // first <= last (from `of`); the whole address space is 2^52 pages.
        self.last.saturating_sub(self.first).saturating_add(1)
    }

    /// The page numbers of the span, in increasing order.
    pub fn pages(&self) -> std::ops::RangeInclusive<u64> {
        self.first..=self.last
    }
}

/// The address of the last byte of `len > 0` bytes at `addr`, or `MemError::Overflow` when the range
/// wraps. With `len == 0` the range is empty and `addr` itself is returned.
pub fn last_byte(addr: u64, len: usize) -> Result<u64, MemError> {
    let len = len as u64;
    addr.checked_add(len.saturating_sub(1))
        .ok_or(MemError::Overflow { addr, len })
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers_and_offsets() {
        assert_eq!(page_of(0x1fff), 1);
        assert_eq!(page_addr(2), 0x2000);
        assert_eq!(offset_in_page(0x1234), 0x234);
        assert_eq!(page_of(u64::MAX), u64::MAX >> 12);
        assert_eq!(page_addr(page_of(u64::MAX)), 0xffff_ffff_ffff_f000);
    }

    #[test]
    fn span_of_ranges() {
        assert_eq!(PageSpan::of(0x1000, 0).unwrap(), None);
        let s = PageSpan::of(0x1ffe, 4).unwrap().unwrap();
        assert_eq!((s.first, s.last, s.count()), (1, 2, 2));
        let s = PageSpan::of(0x1000, PAGE_SIZE).unwrap().unwrap();
        assert_eq!(s.count(), 1);
        assert_eq!(s.pages().collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn last_page_of_address_space_is_valid() {
        let s = PageSpan::of(u64::MAX - 3, 4).unwrap().unwrap();
        assert_eq!((s.first, s.last), (u64::MAX >> 12, u64::MAX >> 12));
        assert_eq!(last_byte(u64::MAX, 1), Ok(u64::MAX));
    }

    #[test]
    fn wrapping_range_is_overflow() {
        assert_eq!(
            PageSpan::of(u64::MAX, 2),
            Err(MemError::Overflow {
                addr: u64::MAX,
                len: 2
            })
        );
        assert_eq!(
            last_byte(u64::MAX - 10, usize::MAX),
            Err(MemError::Overflow {
                addr: u64::MAX - 10,
                len: usize::MAX as u64
            })
        );
    }
}
