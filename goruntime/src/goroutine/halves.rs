//! Work on bytes already read, spread over two cores: a batch of g structs to decode or of stack
//! windows to walk is cut in two halves, the second done on a scoped thread while the caller
//! does the first. Reads of target memory stay on the caller's thread (a
//! [`memcache::MemorySource`] is one `&mut`).
//!
//! Quirks: a pool of waiting workers (rayon's) spins for work after each batch, and on a machine
//! of two cores that spinning took the CPU from the serial work between batches: a listing of
//! 100,000 goroutines got slower, not faster. A scoped thread per batch costs a few tens of
//! microseconds against milliseconds of work and leaves nothing running afterwards. When the
//! kernel refuses a thread, or the machine has one core, or a batch is small
//! (under [`MIN_SPLIT`] items), the caller does all of it; the results are the same.

use std::sync::OnceLock;

/// Items below which a batch is not split: a listing of a few thousand goroutines decodes in a
/// fraction of a millisecond, less than a thread's start and the kernel's bookkeeping for it
/// (a stop of a program with 1,000 goroutines would start a thread for nothing).
const MIN_SPLIT: usize = 4096;

/// Whether this machine has a second core (asked once).
fn two_cores() -> bool {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get())) >= 2
}

/// `f` over every item, results in the items' order. `init` makes the state each half's worker
/// keeps (a pc cache).
pub(super) fn map_with<T, S, R>(
    items: &[T],
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    let run = |part: &[T]| {
        let mut state = init();
        part.iter()
            .map(|item| f(&mut state, item))
            .collect::<Vec<R>>()
    };
    if items.len() < MIN_SPLIT || !two_cores() {
        return run(items);
    }
    let (first, second) = items.split_at(items.len() / 2);
    let (mut out, theirs) = std::thread::scope(|s| {
        let spawned = std::thread::Builder::new()
            .name("gostub-walk".into())
            .spawn_scoped(s, || run(second));
        let mine = run(first);
        let theirs = match spawned {
            Ok(handle) => handle.join().ok(),
            Err(e) => {
                log::debug!("no second worker: {e}");
                None
            }
        };
        (mine, theirs)
    });
    out.extend(theirs.unwrap_or_else(|| run(second)));
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
                |seen, &x| {
                    *seen = seen.saturating_add(1);
                    x.wrapping_mul(3)
                },
            );
            let want: Vec<u64> = items.iter().map(|x| x.wrapping_mul(3)).collect();
            assert_eq!(got, want, "{n} items");
        }
    }
}
