//! Live sources against this test process's own memory: pages are mapped with `mmap`, one is made
//! `PROT_NONE`, and they are read back through `process_vm_readv` and `/proc/self/mem`.
//!
//! Kernel behaviour these tests pin down (Linux x86_64):
//! - `process_vm_readv` refuses a `PROT_NONE` page and copies the pages before it, even inside one
//!   iovec (page granularity, finer than the man page promises).
//! - `/proc/self/mem` reads a `PROT_NONE` page and writes a read-only page only when the kernel
//!   grants `FOLL_FORCE` to this opener (`proc_mem.force_override`; the default "always" does).
//!   The tests check whichever the running kernel does and print it.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
#![cfg(feature = "live")]

use std::io::IoSliceMut;

use memcache::{
    LiveMemory, MemError, MemorySource, PageCache, ProcMem, ReadRequest, SyscallCounters, VmReadv,
    PAGE_SIZE,
};

const P: usize = PAGE_SIZE;

/// `pages` anonymous read-write pages of this process, filled with a pattern, unmapped on drop.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    fn new(pages: usize) -> Mapping {
        let len = pages * P;
        // SAFETY: a fresh private anonymous mapping; checked against MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        let m = Mapping {
            ptr: ptr.cast(),
            len,
        };
        for i in 0..len {
            // SAFETY: inside the mapping, which is writable.
            unsafe { m.ptr.add(i).write(pattern(i)) };
        }
        m
    }

    fn addr(&self, offset: usize) -> u64 {
        self.ptr as u64 + offset as u64
    }

    fn protect(&self, page: usize, prot: libc::c_int) {
        // SAFETY: the page lies inside the mapping.
        let rc = unsafe { libc::mprotect(self.ptr.add(page * P).cast(), P, prot) };
        assert_eq!(rc, 0);
    }

    /// Reads a byte directly (the page must be readable).
    fn byte(&self, offset: usize) -> u8 {
        assert!(offset < self.len);
        // SAFETY: inside the mapping.
        unsafe { self.ptr.add(offset).read_volatile() }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `new` mapped.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

fn pid() -> i32 {
    std::process::id() as i32
}

/// Four pages with page 2 `PROT_NONE`.
fn holed() -> Mapping {
    let m = Mapping::new(4);
    m.protect(2, libc::PROT_NONE);
    m
}

#[test]
fn vm_readv_multi_page_read_is_one_syscall() {
    let m = Mapping::new(8);
    let mut vm = VmReadv::new(pid());
    let mut buf = vec![0u8; 8 * P - 100];
    assert_eq!(vm.read(m.addr(50), &mut buf), Ok(buf.len()));
    assert!(buf.iter().enumerate().all(|(i, b)| *b == pattern(i + 50)));
    assert_eq!(vm.counters().process_vm_readv, 1);
    assert_eq!(vm.counters().bytes_read, buf.len() as u64);
}

#[test]
fn kernel_process_vm_readv_stops_inside_an_iovec_at_the_faulting_page() {
    let m = holed();
    let mut buf = vec![0u8; 3 * P];
    let remote = [nix::sys::uio::RemoteIoVec {
        base: m.addr(0) as usize,
        len: 3 * P,
    }];
    let n = nix::sys::uio::process_vm_readv(
        nix::unistd::Pid::from_raw(pid()),
        &mut [IoSliceMut::new(&mut buf)],
        &remote,
    );
    assert_eq!(n, Ok(2 * P), "partial transfer at page granularity");
}

#[test]
fn vm_readv_prot_none_page_gives_readable_prefix() {
    let m = holed();
    let mut vm = VmReadv::new(pid());
    let mut buf = vec![0u8; 4 * P];
    assert_eq!(vm.read(m.addr(P / 2), &mut buf[..3 * P]), Ok(P + P / 2));
    assert_eq!(
        vm.read(m.addr(2 * P + 8), &mut buf[..8]),
        Err(MemError::Unreadable {
            addr: m.addr(2 * P + 8)
        })
    );
    assert_eq!(vm.counters().process_vm_readv, 2);
}

#[test]
fn vm_readv_continues_after_the_faulting_page() {
    let m = holed();
    let mut vm = VmReadv::new(pid());
    let (mut a, mut b, mut c) = (vec![0u8; 4 * P], vec![0u8; 16], vec![0u8; P]);
    let mut reqs = [
        ReadRequest::new(m.addr(0), &mut a),
        ReadRequest::new(m.addr(2 * P), &mut b),
        ReadRequest::new(m.addr(3 * P), &mut c),
    ];
    vm.read_batch(&mut reqs).unwrap();
    assert_eq!(
        reqs.iter().map(|r| r.got).collect::<Vec<_>>(),
        vec![2 * P, 0, P]
    );
    assert!(c.iter().enumerate().all(|(i, x)| *x == pattern(3 * P + i)));
    // Call 1 stops in request 0 at page 2; call 2 starts at request 1, which faults at once;
    // call 3 reads request 2.
    assert_eq!(vm.counters().process_vm_readv, 3);
}

#[test]
fn vm_readv_fault_at_start_of_multi_page_iovec_is_confirmed_by_one_probe() {
    let m = holed();
    let mut vm = VmReadv::new(pid());
    let mut buf = vec![0u8; 2 * P];
    assert_eq!(
        vm.read(m.addr(2 * P), &mut buf),
        Err(MemError::Unreadable {
            addr: m.addr(2 * P)
        })
    );
    assert_eq!(vm.counters().process_vm_readv, 2);
}

#[test]
fn vm_readv_splits_at_iov_max() {
    let m = Mapping::new(1);
    let mut vm = VmReadv::new(pid());
    let mut bufs: Vec<[u8; 2]> = vec![[0; 2]; 1500];
    let mut reqs: Vec<ReadRequest<'_>> = bufs
        .iter_mut()
        .enumerate()
        .map(|(i, b)| ReadRequest::new(m.addr(i % (P - 1)), b))
        .collect();
    vm.read_batch(&mut reqs).unwrap();
    assert!(reqs.iter().all(|r| r.got == 2));
    assert_eq!(vm.counters().process_vm_readv, 2);
    assert_eq!(bufs[1499], [pattern(1499), pattern(1500)]);
}

#[test]
fn vm_readv_of_a_gone_process_is_process_gone() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let gone = child.id() as i32;
    child.wait().unwrap();
    let mut vm = VmReadv::new(gone);
    let err = vm.read(0x400000, &mut [0u8; 8]).unwrap_err();
    assert_eq!(err, MemError::ProcessGone { addr: 0x400000 });
}

#[test]
fn proc_mem_reads_and_writes() {
    let m = Mapping::new(3);
    let mut mem = ProcMem::open(pid()).unwrap();
    let mut buf = vec![0u8; 2 * P];
    assert_eq!(mem.read(m.addr(P / 2), &mut buf), Ok(2 * P));
    assert!(buf
        .iter()
        .enumerate()
        .all(|(i, b)| *b == pattern(P / 2 + i)));
    assert_eq!(mem.write(m.addr(P - 2), &[0xde, 0xad, 0xbe, 0xef]), Ok(4));
    assert_eq!(
        [m.byte(P - 2), m.byte(P - 1), m.byte(P), m.byte(P + 1)],
        [0xde, 0xad, 0xbe, 0xef]
    );
    let c = mem.counters();
    assert_eq!((c.pwrite64, c.bytes_written), (1, 4));
    assert!(c.pread64 >= 1);
    assert_eq!(
        mem.read(u64::MAX - 1, &mut [0u8; 4]),
        Err(MemError::Overflow {
            addr: u64::MAX - 1,
            len: 4
        })
    );
    assert_eq!(
        mem.read(1 << 63, &mut [0u8; 4]),
        Err(MemError::Unreadable { addr: 1 << 63 })
    );
    assert_eq!(mem.write(8, &[1]), Err(MemError::Unwritable { addr: 8 }));
}

#[test]
fn proc_mem_on_prot_none_and_read_only_pages_follows_the_kernel_policy() {
    let m = holed();
    m.protect(1, libc::PROT_READ);
    let mut mem = ProcMem::open(pid()).unwrap();
    let mut buf = vec![0u8; 4 * P];
    let n = mem.read(m.addr(0), &mut buf).unwrap();
    let forced = n == 4 * P;
    println!("/proc/self/mem FOLL_FORCE granted: {forced}");
    if forced {
        assert!(buf.iter().enumerate().all(|(i, b)| *b == pattern(i)));
        // The read-only page is writable through /proc/PID/mem too (how breakpoints go into text).
        assert_eq!(mem.write(m.addr(P + 5), &[0xcc]), Ok(1));
        assert_eq!(m.byte(P + 5), 0xcc);
    } else {
        assert_eq!(n, 2 * P);
        assert_eq!(
            mem.write(m.addr(P + 5), &[0xcc]),
            Err(MemError::Unwritable {
                addr: m.addr(P + 5)
            })
        );
    }
}

#[test]
fn live_memory_retries_refused_pages_through_proc_mem() {
    let m = holed();
    let mut live = LiveMemory::new(pid()).unwrap();
    let mut buf = vec![0u8; 4 * P];
    let n = live.read(m.addr(0), &mut buf).unwrap();
    let c = live.counters();
    assert_eq!(c.process_vm_readv, 1);
    assert!(c.pread64 >= 1, "the refused tail was retried with pread64");
    if n == 4 * P {
        assert!(buf.iter().enumerate().all(|(i, b)| *b == pattern(i)));
    } else {
        assert_eq!(
            n,
            2 * P,
            "without FOLL_FORCE the prefix before the PROT_NONE page"
        );
    }
    assert_eq!(c.bytes_read, n as u64);
}

#[test]
fn live_memory_writes_through_proc_mem() {
    let m = Mapping::new(1);
    let mut live = LiveMemory::new(pid()).unwrap();
    assert_eq!(live.write(m.addr(10), b"gostub"), Ok(6));
    assert_eq!(m.byte(10), b'g');
    let c = live.counters();
    assert_eq!(
        c,
        SyscallCounters {
            pwrite64: 1,
            bytes_written: 6,
            ..SyscallCounters::default()
        }
    );
}

#[test]
fn page_cache_over_live_memory_reads_missing_pages_with_one_syscall() {
    let m = Mapping::new(16);
    let mut cache = PageCache::new(LiveMemory::new(pid()).unwrap(), 64);
    let mut buf = vec![0u8; 12 * P];
    assert_eq!(cache.read(m.addr(P), &mut buf), Ok(12 * P));
    assert!(buf.iter().enumerate().all(|(i, b)| *b == pattern(P + i)));
    assert_eq!(cache.read(m.addr(2 * P), &mut buf[..P]), Ok(P));
    let c = cache.source().counters();
    assert_eq!((c.process_vm_readv, c.pread64), (1, 0));
    // A stub write goes through the source and is noted in the cache.
    assert_eq!(cache.source_mut().write(m.addr(2 * P), &[0xcc]), Ok(1));
    cache.note_write(m.addr(2 * P), &[0xcc]);
    assert_eq!(cache.read(m.addr(2 * P), &mut buf[..1]), Ok(1));
    assert_eq!(buf[0], 0xcc);
    assert_eq!(cache.source().counters().process_vm_readv, 1);
}

#[test]
fn vm_readv_a_batch_of_thousands_read_on_two_threads_matches_one_by_one() {
    // 5,000 small ranges, every fifth in the PROT_NONE page: the halves are read at once on two
    // threads (on a machine with two cores) and every request still gets exactly its prefix.
    let m = holed();
    let mut vm = VmReadv::new(pid());
    let offsets: Vec<usize> = (0..5000usize)
        .map(|i| {
            if i % 5 == 0 {
                2 * P + i % 97
            } else {
                (i * 37) % (2 * P - 64)
            }
        })
        .collect();
    let mut bufs: Vec<Vec<u8>> = offsets.iter().map(|_| vec![0u8; 48]).collect();
    let mut reqs: Vec<ReadRequest<'_>> = offsets
        .iter()
        .zip(bufs.iter_mut())
        .map(|(&o, b)| ReadRequest::new(m.addr(o), b))
        .collect();
    assert_eq!(vm.read_batch(&mut reqs), Ok(()));
    let got: Vec<usize> = reqs.iter().map(|r| r.got).collect();
    drop(reqs);
    for ((&o, b), got) in offsets.iter().zip(&bufs).zip(got) {
        if o >= 2 * P {
            assert_eq!(got, 0, "offset {o}");
        } else {
            assert_eq!(got, 48, "offset {o}");
            assert!(b.iter().enumerate().all(|(i, &x)| x == m.byte(o + i)));
        }
    }
    let c = vm.counters();
    assert_eq!(c.bytes_read, 4000 * 48);
    // One call per IOV_MAX iovecs and one more after each fault, on whichever thread.
    assert!(c.process_vm_readv >= 5000 / 1024, "{c:?}");
}
