//! The traced process's memory as the stub reads it: a page cache over batched
//! process_vm_readv, kept honest with /proc/PID/maps.
//!
//! The maps are read once per stop, at the first access. They serve twice:
//! - a read of an address no mapping covers fails at once, with no syscall (gdb probes address 0
//!   and other unmapped addresses at many stops);
//! - pages of immutable file mappings (text, rodata) outlive a resume only while every such
//!   mapping is still there unchanged. Go maps new heap arenas all the time; that alone does not
//!   drop the cached text.
//!
//! Kernel quirk: a mapping without read permission (PROT_NONE guard pages) is still tried,
//! because /proc/PID/mem can read some pages process_vm_readv refuses.

use memcache::{LiveMemory, MemError, MemorySource, PageCache, ReadRequest};
use nix::unistd::Pid;

/// What one reading of /proc/PID/maps tells.
#[derive(Debug)]
struct Maps {
    text: String,
    /// Every mapped range, sorted, adjacent ranges merged.
    mapped: Vec<(u64, u64)>,
    /// The lines of the immutable file mappings.
    immutable_lines: Vec<String>,
}

impl Maps {
    fn parse(text: String) -> Maps {
        let immutable = memcache::immutable_file_ranges(&text);
        let mut mapped: Vec<(u64, u64)> = Vec::new();
        let mut immutable_lines = Vec::new();
        for line in text.lines() {
            let Some(range) = memcache::maps::parse_line(line).map(|m| (m.start, m.end)) else {
                continue;
            };
            if immutable.contains(&range) {
                immutable_lines.push(line.to_string());
            }
            match mapped.last_mut() {
                Some(last) if last.1 == range.0 => last.1 = range.1,
                _ => mapped.push(range),
            }
        }
        mapped.sort_unstable();
        Maps {
            text,
            mapped,
            immutable_lines,
        }
    }

    /// How many bytes from `addr` (up to `len`) lie in mapped memory.
    fn mapped_len(&self, addr: u64, len: usize) -> usize {
        let i = self.mapped.partition_point(|&(start, _)| start <= addr);
        match i.checked_sub(1).and_then(|i| self.mapped.get(i)) {
            Some(&(_, end)) if end > addr => {
                len.min(usize::try_from(end - addr).unwrap_or(usize::MAX))
            }
            _ => 0,
        }
    }
}

pub struct TargetMemory {
    pid: Pid,
    cache: PageCache<LiveMemory>,
    maps: Option<Maps>,
    checked_this_stop: bool,
    /// Ranges to fetch with the first read of this stop (none is made when the client reads
    /// nothing, as when gdb steps over a breakpoint).
    stop_prefetch: Vec<(u64, u64)>,
}

impl TargetMemory {
    pub fn new(pid: Pid, cache_pages: usize) -> std::io::Result<TargetMemory> {
        let live = LiveMemory::new(pid.as_raw())?;
        Ok(TargetMemory {
            pid,
            cache: PageCache::new(live, cache_pages),
            maps: None,
            checked_this_stop: false,
            stop_prefetch: Vec::new(),
        })
    }

    pub fn cache(&self) -> &PageCache<LiveMemory> {
        &self.cache
    }

    /// Starts the per-stop cache figures.
    pub fn begin_stop(&mut self) {
        self.cache.begin_stop();
    }

    /// The process runs again: what it may change is forgotten, and the maps are read afresh.
    pub fn on_resume(&mut self) {
        self.cache.invalidate_volatile();
        self.checked_this_stop = false;
        self.stop_prefetch.clear();
    }

    /// Fetches `ranges` together with the first read of this stop, in the same batch.
    pub fn prefetch_with_first_read(&mut self, ranges: Vec<(u64, u64)>) {
        self.stop_prefetch = ranges;
    }

    /// Runs before every access: the maps are checked, and the first access of a stop takes
    /// the planned ranges along with what it `wants`.
    fn before_access(&mut self, wants: &[(u64, u64)]) {
        self.refresh_maps();
        if self.stop_prefetch.is_empty() {
            return;
        }
        let mut ranges = std::mem::take(&mut self.stop_prefetch);
        ranges.extend_from_slice(wants);
        if let Err(e) = self.prefetch(&ranges) {
            log::debug!("stop prefetch: {e}");
        }
    }

    /// Reaches the memory through thread `tid` from now on. Kernel quirk: once the thread-group
    /// leader has exited alone, `process_vm_readv` and /proc of its pid find no memory (a zombie
    /// has no mm), while every other thread's do.
    pub fn reach_through(&mut self, tid: Pid) -> std::io::Result<()> {
        *self.cache.source_mut() = LiveMemory::new(tid.as_raw())?;
        self.pid = tid;
        self.forget_all();
        Ok(())
    }

    /// The program was replaced (exec) and `leader` is its one thread: memory is reached through
    /// it again. Kernel quirk: a thread other than the leader that execs takes the leader's id,
    /// so memory reached through that thread (the leader had exited alone) must move back.
    pub fn after_exec(&mut self, leader: Pid) {
        if self.pid == leader {
            return self.forget_all();
        }
        if let Err(e) = self.reach_through(leader) {
            log::warn!("after exec: cannot reach memory through {leader}: {e}");
        }
    }

    /// The program was replaced (exec): nothing cached holds, and /proc/PID/mem is opened
    /// again (the open file reaches the old address space only).
    pub fn forget_all(&mut self) {
        if let Err(e) = self.cache.source_mut().reopen(self.pid.as_raw()) {
            log::warn!("after exec: cannot reopen /proc/{}/mem: {e}", self.pid);
        }
        self.cache.invalidate_all();
        self.maps = None;
        self.checked_this_stop = false;
    }

    fn refresh_maps(&mut self) {
        if self.checked_this_stop {
            return;
        }
        self.checked_this_stop = true;
        let Ok(text) = super::procfs::read_text(&format!("/proc/{}/maps", self.pid)) else {
            self.cache.invalidate_all();
            self.maps = None;
            return;
        };
        if self.maps.as_ref().is_some_and(|m| m.text == text) {
            return;
        }
        let new = Maps::parse(text);
        let text_kept = self.maps.as_ref().is_some_and(|old| {
            old.immutable_lines
                .iter()
                .all(|l| new.immutable_lines.contains(l))
        });
        if !text_kept {
            self.cache.invalidate_all();
        }
        self.cache
            .set_immutable_ranges(memcache::immutable_file_ranges(&new.text));
        self.maps = Some(new);
    }

    /// The readable length at `addr` as the maps say (`len` when the maps are unknown).
    fn mapped_len(&mut self, addr: u64, len: usize) -> usize {
        self.refresh_maps();
        self.maps.as_ref().map_or(len, |m| m.mapped_len(addr, len))
    }

    pub fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        let n = self.mapped_len(addr, buf.len());
        if n == 0 && !buf.is_empty() {
            return Err(MemError::Unreadable { addr });
        }
        self.before_access(&[(addr, n as u64)]);
        self.cache.read(addr, &mut buf[..n])
    }

    pub fn read_batch(&mut self, requests: &mut [ReadRequest<'_>]) -> Result<(), MemError> {
        let lens: Vec<usize> = requests
            .iter()
            .map(|r| self.mapped_len(r.addr, r.buf.len()))
            .collect();
        let wants: Vec<(u64, u64)> = requests
            .iter()
            .zip(&lens)
            .map(|(r, &n)| (r.addr, n as u64))
            .collect();
        self.before_access(&wants);
        let mut mapped: Vec<ReadRequest<'_>> = requests
            .iter_mut()
            .zip(&lens)
            .filter(|(_, &n)| n > 0)
            .map(|(r, &n)| ReadRequest::new(r.addr, &mut r.buf[..n]))
            .collect();
        self.cache.read_batch(&mut mapped)?;
        let got: Vec<usize> = mapped.iter().map(|r| r.got).collect();
        drop(mapped);
        let mut got = got.into_iter();
        for (r, &n) in requests.iter_mut().zip(&lens) {
            r.got = if n > 0 { got.next().unwrap_or(0) } else { 0 };
        }
        Ok(())
    }

    pub fn prefetch(&mut self, ranges: &[(u64, u64)]) -> Result<(), MemError> {
        let clamped: Vec<(u64, u64)> = ranges
            .iter()
            .map(|&(addr, len)| {
                (
                    addr,
                    self.mapped_len(addr, usize::try_from(len).unwrap_or(usize::MAX)) as u64,
                )
            })
            .filter(|&(_, len)| len > 0)
            .collect();
        self.cache.prefetch(&clamped)
    }

    /// Writes through /proc/PID/mem and keeps the cache exact.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), MemError> {
        let n = self.cache.source_mut().write(addr, data)?;
        self.cache.note_write(addr, &data[..n]);
        if n < data.len() {
            return Err(MemError::Unwritable {
                addr: addr.wrapping_add(n as u64),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
00400000-00401000 r-xp 00000000 08:01 123 /bin/prog
00401000-00402000 r--p 00001000 08:01 123 /bin/prog
00600000-00602000 rw-p 00000000 00:00 0
7ffff000-80000000 rw-p 00000000 00:00 0 [stack]
";

    #[test]
    fn mapped_ranges_are_merged_and_clamp_reads() {
        let maps = Maps::parse(MAPS.to_string());
        assert_eq!(
            maps.mapped,
            vec![
                (0x400000, 0x402000),
                (0x600000, 0x602000),
                (0x7ffff000, 0x80000000)
            ]
        );
        assert_eq!(
            maps.mapped_len(0x400ff0, 0x100),
            0x100,
            "contiguous mappings read through"
        );
        assert_eq!(
            maps.mapped_len(0x601ff0, 0x100),
            0x10,
            "a read stops at the end of a mapping"
        );
        assert_eq!(maps.mapped_len(0, 9), 0);
        assert_eq!(maps.mapped_len(0x500000, 4), 0);
        assert_eq!(maps.mapped_len(u64::MAX, 4), 0);
    }

    #[test]
    fn immutable_lines_are_the_read_only_file_mappings() {
        let maps = Maps::parse(MAPS.to_string());
        assert_eq!(maps.immutable_lines.len(), 2);
        assert!(maps.immutable_lines.iter().all(|l| l.contains("/bin/prog")));
    }
}
