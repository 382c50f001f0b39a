//! `process_vm_readv` source: reads many ranges of a process with one syscall per
//! [`IOV_MAX`](crate::batch::IOV_MAX) remote iovecs.
//!
//! Kernel quirks met here:
//! - A transfer stops at the first page that faults. The man page promises only iovec granularity;
//!   `mm/process_vm_access.c` in fact copies the pages it could pin before failing, so the returned
//!   count may end inside an iovec. Both behaviours are handled: a fault that lands at the start of a
//!   multi-page iovec is confirmed by re-reading that iovec's first page on its own before the request
//!   is declared to end there.
//! - Nothing after the fault is transferred, so reading continues with a new call from the next
//!   request: one unreadable page costs one extra syscall, not the rest of the batch.
//! - `EFAULT` with nothing transferred is an ordinary fault; `ESRCH` means the process is gone.
//! - Pages without `PROT_READ` are refused even under ptrace (see `live.rs` for the fallback).
//! - The kernel pins every remote iovec's pages before copying, about a microsecond per iovec: a
//!   batch of thousands of small ranges (g structs, stack tops) costs more in that than in the
//!   copy. Such a batch is split in two halves read at once, one on a second thread: readers of
//!   one address space only share its lock for reading.

use std::collections::VecDeque;
use std::io::IoSliceMut;

use nix::errno::Errno;
use nix::sys::uio::{process_vm_readv, RemoteIoVec};
use nix::unistd::Pid;

use crate::addr::{last_byte, offset_in_page, PAGE_SIZE};
use crate::batch::next_group;
use crate::counters::SyscallCounters;
use crate::two_cores::{both, has_two_cores};
use crate::{source::read_through_batch, MemError, MemorySource, ReadRequest};

/// Reads a process's memory with `process_vm_readv`.
#[derive(Debug)]
pub struct VmReadv {
    pid: Pid,
    counters: SyscallCounters,
}

/// One remote iovec: `len` bytes of request `req` starting `off` bytes into it. `rest` is what
/// follows in the same request once this (single-page probe) segment has been read.
#[derive(Debug, Clone, Copy)]
struct Segment {
    req: usize,
    off: usize,
    len: usize,
    rest: usize,
}

impl VmReadv {
    pub fn new(pid: i32) -> Self {
        VmReadv {
            pid: Pid::from_raw(pid),
            counters: SyscallCounters::default(),
        }
    }

    /// Syscalls issued and bytes read so far.
    pub fn counters(&self) -> SyscallCounters {
        self.counters
    }

    /// One `process_vm_readv` over the leading group of `pending`. Returns the bytes transferred.
    fn read_group(
        &mut self,
        requests: &mut [ReadRequest<'_>],
        group: &[Segment],
    ) -> Result<usize, MemError> {
        let mut locals: Vec<IoSliceMut<'_>> = Vec::with_capacity(group.len());
        let mut remotes: Vec<RemoteIoVec> = Vec::with_capacity(group.len());
        let first_req = group.first().map_or(0, |s| s.req);
        let mut segs = group.iter().peekable();
        // Segments are ordered by request and name each request at most once.
        for (i, req) in requests.iter_mut().enumerate().skip(first_req) {
            let Some(seg) = segs.next_if(|s| s.req == i) else {
                if segs.peek().is_none() {
                    break;
                }
                continue;
            };
            let base = req.addr.wrapping_add(seg.off as u64);
            let Some(buf) = req.buf.get_mut(seg.off..seg.off.saturating_add(seg.len)) else {
                break;
            };
            locals.push(IoSliceMut::new(buf));
            remotes.push(RemoteIoVec {
                base: base as usize,
                len: seg.len,
            });
        }
        self.counters.process_vm_readv = self.counters.process_vm_readv.saturating_add(1);
        match process_vm_readv(self.pid, &mut locals, &remotes) {
            Ok(n) => {
                self.counters.bytes_read = self.counters.bytes_read.saturating_add(n as u64);
                Ok(n)
            }
            Err(Errno::EFAULT) => Ok(0),
            Err(Errno::ESRCH) => Err(MemError::ProcessGone {
                addr: remotes.first().map_or(0, |r| r.base as u64),
            }),
            Err(e) => {
                // EPERM (not allowed to trace), ENOMEM: nothing of this group is readable this way.
                log::debug!("process_vm_readv({}) failed: {e}", self.pid);
                Err(MemError::Unreadable {
                    addr: remotes.first().map_or(0, |r| r.base as u64),
                })
            }
        }
    }
}

/// Requests of a batch from which it is read by two threads (see the module doc).
const SPLIT_REQUESTS: usize = 2048;

impl MemorySource for VmReadv {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        read_through_batch(self, addr, buf)
    }

    /// Every request gets its readable prefix; a request whose range wraps fails the whole batch
    /// with `Overflow` before anything is read.
    fn read_batch(&mut self, requests: &mut [ReadRequest<'_>]) -> Result<(), MemError> {
        for req in requests.iter_mut() {
            last_byte(req.addr, req.buf.len())?;
            req.got = 0;
        }
        if requests.len() < SPLIT_REQUESTS || !has_two_cores() {
            return self.read_all(requests);
        }
        let (first, second) = requests.split_at_mut(requests.len() / 2);
        let mut helper = VmReadv::new(self.pid.as_raw());
        let (mine, theirs) = both(|| self.read_all(first), || helper.read_all(second));
        self.counters = self.counters.combined(helper.counters);
        mine?;
        match theirs {
            Some(result) => result,
            // The second half was not read (no thread): read it here.
            None => self.read_all(second),
        }
    }
}

impl VmReadv {
    /// [`MemorySource::read_batch`] on this thread, the requests' ranges checked.
    fn read_all(&mut self, requests: &mut [ReadRequest<'_>]) -> Result<(), MemError> {
        let mut pending: VecDeque<Segment> = requests
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.buf.is_empty())
            .map(|(req, r)| Segment {
                req,
                off: 0,
                len: r.buf.len(),
                rest: 0,
            })
            .collect();
        while !pending.is_empty() {
            let group: Vec<Segment> = next_group(pending.make_contiguous()).to_vec();
            let mut left = match self.read_group(requests, &group) {
                Ok(n) => n,
                // The whole group is refused: give up on these requests and go on with the rest.
                Err(MemError::Unreadable { .. }) => {
                    pending.drain(..group.len());
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut probed_rests: Vec<Segment> = Vec::new();
            let mut faulted: Option<(Segment, usize)> = None;
            for seg in &group {
                pending.pop_front();
                // Offsets and lengths are within the local buffers, so they cannot overflow;
                // saturating keeps the lint honest.
                let seg_end = seg.off.saturating_add(seg.len);
                if left >= seg.len {
                    left = left.saturating_sub(seg.len);
                    if let Some(req) = requests.get_mut(seg.req) {
                        req.got = seg_end;
                    }
                    if seg.rest > 0 {
                        let off = seg_end;
                        probed_rests.push(Segment {
                            req: seg.req,
                            off,
                            len: seg.rest,
                            rest: 0,
                        });
                    }
                } else {
                    faulted = Some((*seg, left));
                    break;
                }
            }
            if let Some((seg, prefix)) = faulted {
                let got = seg.off.saturating_add(prefix);
                let Some(req) = requests.get_mut(seg.req) else {
                    continue;
                };
                req.got = got;
                let at = req.addr.wrapping_add(got as u64);
                let to_page_end = PAGE_SIZE.saturating_sub(offset_in_page(at));
                // A fault at the very start of an iovec spanning several pages may be the kernel
                // refusing the iovec as a whole: read its first page alone to find out.
                if prefix == 0 && seg.len > to_page_end {
                    let probe = Segment {
                        req: seg.req,
                        off: seg.off,
                        len: to_page_end,
                        rest: seg.len.saturating_sub(to_page_end),
                    };
                    pending.push_front(probe);
                }
            }
            for seg in probed_rests.into_iter().rev() {
                pending.push_front(seg);
            }
        }
        Ok(())
    }
}
