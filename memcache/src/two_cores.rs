//! Two pieces of work at once, on two cores: one on the caller's thread, the other on a scoped
//! thread started for it. The readers of target memory (a batch of thousands of ranges) and
//! goruntime's listing (decoding and walking a batch of goroutines) split their work with it.
//!
//! Quirks: a thread per call costs a few tens of microseconds, so callers split only batches
//! that take milliseconds. A pool of waiting workers (rayon's) was measured and rejected: its
//! idle workers spin, and on two cores that took the CPU from the serial work between batches.
//! When the kernel refuses a thread (or it panics), the second result is `None` and the caller
//! does that work itself.

use std::sync::OnceLock;

/// Whether this machine has a second core (asked once).
pub fn has_two_cores() -> bool {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get())) >= 2
}

/// Runs `here` on this thread while `there` runs on a second one; `there`'s result is `None`
/// when it could not run there.
pub fn both<A, B: Send>(
    here: impl FnOnce() -> A,
    there: impl FnOnce() -> B + Send,
) -> (A, Option<B>) {
    std::thread::scope(|s| {
        let spawned = std::thread::Builder::new()
            .name("gostub-half".into())
            .spawn_scoped(s, there);
        let mine = here();
        let theirs = match spawned {
            Ok(handle) => handle.join().ok(),
            Err(e) => {
                log::debug!("no second thread: {e}");
                None
            }
        };
        (mine, theirs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_pieces_run_and_come_back() {
        let left = [1u32, 2, 3];
        let mut right = vec![4u32, 5];
        let (a, b) = both(
            || left.iter().map(|x| x * 2).sum::<u32>(),
            || {
                right.push(6);
                right.len()
            },
        );
        assert_eq!(a, 12);
        assert_eq!(b, Some(3));
        assert_eq!(right, [4, 5, 6]);
    }
}
