//! The address space of a core file: the bytes of its `PT_LOAD` segments, read from a
//! read-only map of the core (never read whole, its resident pages bounded), and the pages the
//! core left out of file-backed mappings read from the files `NT_FILE` names (also mapped
//! read-only, and bounded the same way).
//!
//! Kernel and gdb quirks met here:
//! * The kernel leaves read-only file-backed mappings (text, rodata) out of a core (under the
//!   default `coredump_filter` 0x33): their segment has `p_filesz` 0, or one page when it
//!   starts with an ELF header (filter bit 4). gdb's `gcore` writes them with `p_filesz` 0.
//!   Those bytes come from the mapped file at the mapping's offset, as gdb and lldb read them.
//! * A page past the end of its file (the tail of the last page is zero, the next pages would
//!   raise SIGBUS) is unreadable here, as it is in the process.
//! * A file that cannot be opened (gone, or another machine's path) leaves its pages
//!   unreadable: reads of them fail with an error, naming nothing the core cannot tell.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use memcache::{MemError, MemorySource};

use super::elf::{Phdr, PF_R, PF_W, PF_X};
use super::notes::FileMapping;
use super::resident::{ResidentMap, FILE_BUDGET};
use crate::process::procfs::Region;

/// A `PT_LOAD` segment: addresses `start..end`, of which the first `filesz` bytes are in the
/// core at `offset`.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: u64,
    end: u64,
    offset: u64,
    filesz: u64,
    flags: u32,
}

/// A file mapping and the file's bytes (`None`: the file could not be opened).
struct Backing {
    mapping: FileMapping,
    bytes: Option<Rc<ResidentMap>>,
}

pub struct CoreMemory {
    core: ResidentMap,
    segments: Vec<Segment>,
    backings: Vec<Backing>,
    /// Bytes read so far, for `monitor stats`.
    bytes_read: Cell<u64>,
}

impl CoreMemory {
    /// `segments` were checked to lie inside `core`. `files` are the `NT_FILE` mappings with the
    /// path each is read from (the program given on the command line replaces the core's name
    /// for the executable).
    pub fn new(core: ResidentMap, loads: &[Phdr], files: Vec<FileMapping>) -> CoreMemory {
        let mut segments: Vec<Segment> = loads
            .iter()
            .filter(|p| p.memsz > 0)
            .map(|p| Segment {
                start: p.vaddr,
                end: p.vaddr.saturating_add(p.memsz),
                offset: p.offset,
                filesz: p.filesz.min(p.memsz),
                flags: p.flags,
            })
            .collect();
        segments.sort_by_key(|s| s.start);
        let mut opened: HashMap<String, Option<Rc<ResidentMap>>> = HashMap::new();
        let mut backings: Vec<Backing> = files
            .into_iter()
            .map(|mapping| {
                let bytes = opened
                    .entry(mapping.path.clone())
                    .or_insert_with(|| {
                        match ResidentMap::open(Path::new(&mapping.path), FILE_BUDGET) {
                            Ok(m) => Some(Rc::new(m)),
                            Err(e) => {
                                log::warn!(
                                    "core: cannot open {} (named in the core's file list): {e}; \
                                 the pages the core left out of it cannot be read",
                                    mapping.path
                                );
                                None
                            }
                        }
                    })
                    .clone();
                Backing { mapping, bytes }
            })
            .collect();
        backings.sort_by_key(|b| b.mapping.start);
        CoreMemory {
            core,
            segments,
            backings,
            bytes_read: Cell::new(0),
        }
    }

    fn segment(&self, addr: u64) -> Option<&Segment> {
        let i = self.segments.partition_point(|s| s.start <= addr);
        self.segments[..i].last().filter(|s| addr < s.end)
    }

    fn backing(&self, addr: u64) -> Option<&Backing> {
        let i = self.backings.partition_point(|b| b.mapping.start <= addr);
        self.backings[..i].last().filter(|b| addr < b.mapping.end)
    }

    /// Copies what is readable at `addr` into `out`, from one source; 0 when nothing is.
    fn read_piece(&self, addr: u64, out: &mut [u8], core_only: bool) -> usize {
        let seg = self.segment(addr);
        if let Some(s) = seg {
            let into = addr - s.start;
            if into < s.filesz {
                let n = ((s.filesz - into) as usize).min(out.len());
                return self.core.copy((s.offset + into) as usize, &mut out[..n]);
            }
        }
        if core_only {
            return 0;
        }
        let Some(b) = self.backing(addr) else {
            return 0;
        };
        let Some(bytes) = &b.bytes else {
            return 0;
        };
        let limit = seg.map_or(b.mapping.end, |s| s.end.min(b.mapping.end));
        let at = b.mapping.offset.saturating_add(addr - b.mapping.start);
        let Ok(at) = usize::try_from(at) else {
            return 0;
        };
        let n = out.len().min((limit - addr) as usize);
        bytes.copy(at, &mut out[..n])
    }

    fn read_from(&self, addr: u64, buf: &mut [u8], core_only: bool) -> Result<usize, MemError> {
        let mut done = 0usize;
        while done < buf.len() {
            let Some(a) = addr.checked_add(done as u64) else {
                break;
            };
            let n = self.read_piece(a, &mut buf[done..], core_only);
            if n == 0 {
                break;
            }
            done += n;
        }
        if done == 0 && !buf.is_empty() {
            return Err(MemError::Unreadable { addr });
        }
        self.bytes_read
            .set(self.bytes_read.get().saturating_add(done as u64));
        Ok(done)
    }

    /// Reads the program's memory at `addr`: the readable prefix, or `Unreadable`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        self.read_from(addr, buf, false)
    }

    /// Reads only what the core itself holds (no file behind it).
    pub fn read_core_only(&self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        self.read_from(addr, buf, true)
    }

    /// Bytes read from the core and the files behind it so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.get()
    }

    /// The mappings, in address order: the `PT_LOAD` segments, named by the file mapped there.
    pub fn regions(&self) -> Vec<Region> {
        self.segments
            .iter()
            .map(|s| {
                let flag = |bit, c| if s.flags & bit != 0 { c } else { '-' };
                Region {
                    start: s.start,
                    end: s.end,
                    perms: [flag(PF_R, 'r'), flag(PF_W, 'w'), flag(PF_X, 'x'), 'p']
                        .iter()
                        .collect(),
                    path: self
                        .backing(s.start)
                        .map(|b| b.mapping.path.clone())
                        .unwrap_or_default(),
                }
            })
            .collect()
    }
}

/// goruntime and the svr4 walker read a core through this.
pub struct CoreReader<'a>(pub &'a CoreMemory);

impl MemorySource for CoreReader<'_> {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        self.0.read(addr, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Write;

    fn temp_file(tag: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("gostub-core-mem-{}-{tag}", std::process::id()));
        File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    #[test]
    fn segments_then_files_then_nothing() {
        // The core: 16 bytes of data for 0x1000..0x1010 at offset 8.
        let mut core = vec![0u8; 8];
        core.extend(0..16u8);
        let core_path = temp_file("core", &core);
        let text: Vec<u8> = (100..200u8).collect();
        let text_path = temp_file("text", &text);
        let loads = [
            Phdr {
                p_type: 1,
                flags: PF_R | PF_W,
                offset: 8,
                vaddr: 0x1000,
                filesz: 16,
                memsz: 16,
            },
            // Text left out: 0x2000..0x3000, backed by the file from offset 10.
            Phdr {
                p_type: 1,
                flags: PF_R | PF_X,
                offset: 24,
                vaddr: 0x2000,
                filesz: 0,
                memsz: 0x1000,
            },
        ];
        let files = vec![FileMapping {
            start: 0x2000,
            end: 0x3000,
            offset: 10,
            path: text_path.display().to_string(),
        }];
        let core = ResidentMap::open(&core_path, FILE_BUDGET).unwrap();
        let mem = CoreMemory::new(core, &loads, files);
        let mut buf = [0u8; 32];
        assert_eq!(mem.read(0x1008, &mut buf), Ok(8));
        assert_eq!(&buf[..8], &[8, 9, 10, 11, 12, 13, 14, 15]);
        assert_eq!(mem.read(0x2000, &mut buf[..4]), Ok(4));
        assert_eq!(&buf[..4], &[110, 111, 112, 113]);
        // The file ends 90 bytes into the mapping: the rest is unreadable.
        assert_eq!(mem.read(0x2050, &mut buf), Ok(10));
        assert_eq!(
            mem.read(0x205a, &mut buf),
            Err(MemError::Unreadable { addr: 0x205a })
        );
        assert_eq!(
            mem.read_core_only(0x2000, &mut buf),
            Err(MemError::Unreadable { addr: 0x2000 })
        );
        assert!(mem.read(0x5000, &mut buf).is_err());
        assert_eq!(mem.bytes_read(), 8 + 4 + 10);
        let r = mem.regions();
        assert_eq!((r[0].perms.as_str(), r[0].path.as_str()), ("rw-p", ""));
        assert_eq!(r[1].perms, "r-xp");
        assert_eq!(r[1].path, text_path.display().to_string());
        let _ = std::fs::remove_file(core_path);
        let _ = std::fs::remove_file(text_path);
    }
}
