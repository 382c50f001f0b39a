//! Batching: a set of missing pages becomes runs of contiguous pages (one remote iovec each), and a
//! list of iovecs becomes groups of at most [`IOV_MAX`] per `process_vm_readv` call (the kernel
//! refuses larger vectors with `EINVAL`).

use crate::addr::{page_addr, PAGE_SIZE};

/// Most iovecs one `process_vm_readv` call accepts (`UIO_MAXIOV` on Linux).
pub const IOV_MAX: usize = 1024;

/// Contiguous pages `first .. first + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRun {
    pub first: u64,
    pub count: u64,
}

impl PageRun {
    /// Address of the run's first byte.
    pub fn addr(&self) -> u64 {
        page_addr(self.first)
    }

    /// Length of the run in bytes.
    pub fn byte_len(&self) -> usize {
        (self.count as usize).saturating_mul(PAGE_SIZE)
    }
}

/// Merges page numbers into maximal runs of contiguous pages, in increasing order. The input may be
/// unsorted and contain duplicates.
pub fn page_runs(pages: impl IntoIterator<Item = u64>) -> Vec<PageRun> {
    let mut sorted: Vec<u64> = pages.into_iter().collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<PageRun> = Vec::new();
    for page in sorted {
        match runs.last_mut() {
            Some(run) if run.first.checked_add(run.count) == Some(page) => {
                run.count = run.count.saturating_add(1)
            }
            _ => runs.push(PageRun {
                first: page,
                count: 1,
            }),
        }
    }
    runs
}

/// The leading group of `items` that one syscall may carry: at most [`IOV_MAX`] entries.
pub fn next_group<T>(items: &[T]) -> &[T] {
    items.get(..IOV_MAX).unwrap_or(items)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_contiguous_pages() {
        let runs = page_runs([7, 3, 4, 5, 9, 4, 10]);
        assert_eq!(
            runs,
            vec![
                PageRun { first: 3, count: 3 },
                PageRun { first: 7, count: 1 },
                PageRun { first: 9, count: 2 }
            ]
        );
        assert_eq!(runs[0].addr(), 0x3000);
        assert_eq!(runs[0].byte_len(), 3 * PAGE_SIZE);
    }

    #[test]
    fn runs_of_nothing_and_of_the_last_page() {
        assert!(page_runs([]).is_empty());
        let top = u64::MAX >> 12;
        assert_eq!(
            page_runs([top, top - 1]),
            vec![PageRun {
                first: top - 1,
                count: 2
            }]
        );
    }

    #[test]
    fn groups_hold_at_most_iov_max() {
        let items: Vec<u32> = (0..2500).collect();
        assert_eq!(next_group(&items).len(), IOV_MAX);
        assert_eq!(next_group(&items[2048..]).len(), 452);
        assert!(next_group::<u32>(&[]).is_empty());
    }
}
