//! What a listing or a batch of walks cost, for the debug log (`goruntime=debug`): the time it
//! took, the time the thread spent on a CPU meanwhile, and the bytes it got from the memory it
//! was given. Benchmarks read these lines.
//!
//! Quirks: bytes are those returned by reads and asked for by prefetches; a page cache below may
//! read more (whole pages) or less (pages it holds). CPU time is the first field of
//! `/proc/thread-self/schedstat` (ns on a CPU, kernel time included): on a loaded machine the
//! wall time also counts the waits for a CPU. It is read only while the debug log is on: five
//! syscalls per reading, four readings a stop.

use memcache::{MemError, MemorySource, ReadRequest};
use std::time::Instant;

/// A memory source that counts the bytes it passes on.
pub(super) struct Metered<'a, M> {
    inner: &'a mut M,
    bytes: u64,
    started: Instant,
    cpu_ns: Option<u64>,
}

/// Nanoseconds this thread has run on a CPU.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

impl<'a, M: MemorySource> Metered<'a, M> {
    pub(super) fn new(inner: &'a mut M) -> Self {
        Metered {
            inner,
            bytes: 0,
            started: Instant::now(),
            cpu_ns: log::log_enabled!(log::Level::Debug)
                .then(thread_cpu_ns)
                .flatten(),
        }
    }

    /// Logs `what` with the time since `new` and the bytes counted.
    pub(super) fn log(&self, what: std::fmt::Arguments<'_>) {
        if !log::log_enabled!(log::Level::Debug) {
            return;
        }
        let cpu = match (self.cpu_ns, thread_cpu_ns()) {
            (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 1e6,
            _ => f64::NAN,
        };
        log::debug!(
            "{what} in {:.1} ms ({cpu:.1} ms on a CPU), {} bytes read",
            self.started.elapsed().as_secs_f64() * 1e3,
            self.bytes
        );
    }

    fn add(&mut self, n: u64) {
        self.bytes = self.bytes.saturating_add(n);
    }
}

impl<M: MemorySource> MemorySource for Metered<'_, M> {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        let n = self.inner.read(addr, buf)?;
        self.add(n as u64);
        Ok(n)
    }

    fn read_batch(&mut self, requests: &mut [ReadRequest<'_>]) -> Result<(), MemError> {
        self.inner.read_batch(requests)?;
        let n: usize = requests.iter().map(|r| r.got).sum();
        self.add(n as u64);
        Ok(())
    }

    fn prefetch(&mut self, ranges: &[(u64, u64)]) -> Result<(), MemError> {
        let n = ranges
            .iter()
            .fold(0u64, |acc, &(_, len)| acc.saturating_add(len));
        self.add(n);
        self.inner.prefetch(ranges)
    }
}
