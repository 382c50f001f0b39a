//! Work on bytes already read, spread over two cores: a batch of g structs to decode or of stack
//! windows to walk is cut in two halves, the second done on another thread while the caller
//! does the first (`memcache::two_cores`). Reads of target memory stay on the caller's thread
//! (a [`memcache::MemorySource`] is one `&mut`).
//!
//! Quirks: when the machine has one core, or a batch is small (under [`MIN_SPLIT`] items), or
//! no second thread could start, the caller does all of it; the results are the same.

use memcache::two_cores::{both, has_two_cores};

/// Items below which a batch is not split: a listing of a few thousand goroutines decodes in a
/// fraction of a millisecond, less than a thread's start and the kernel's bookkeeping for it
/// (a stop of a program with 1,000 goroutines would start a thread for nothing).
const MIN_SPLIT: usize = 4096;

/// `f` over every item and its index, results in the items' order. `init` makes the state each
/// half's worker keeps (a pc cache).
pub(super) fn map_with<T, S, R>(
    items: &[T],
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize, &T) -> R + Sync,
) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    let run = |from: usize, part: &[T]| {
        let mut state = init();
        part.iter()
            .enumerate()
            .map(|(i, item)| f(&mut state, from.saturating_add(i), item))
            .collect::<Vec<R>>()
    };
    if items.len() < MIN_SPLIT || !has_two_cores() {
        return run(0, items);
    }
    let mid = items.len() / 2;
    let (first, second) = items.split_at(mid);
    let (mut out, theirs) = both(|| run(0, first), || run(mid, second));
    out.extend(theirs.unwrap_or_else(|| run(mid, second)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_items_order_small_and_large() {
        for n in [0usize, 3, MIN_SPLIT, 10 * MIN_SPLIT + 7] {
            let items: Vec<u64> = (0..n as u64).collect();
            let got = map_with(
                &items,
                || 0u64,
                |seen, i, &x| {
                    assert_eq!(i as u64, x);
                    *seen = seen.saturating_add(1);
                    x.wrapping_mul(3)
                },
            );
            let want: Vec<u64> = items.iter().map(|x| x.wrapping_mul(3)).collect();
            assert_eq!(got, want, "{n} items");
        }
    }
}
