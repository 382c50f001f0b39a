//! The file image of an executable: its bytes, its section map (addressable by virtual address)
//! and its `.symtab` symbols. Everything that reads the binary's own bytes goes through here.
//!
//! Quirks: NOBITS (`.bss`) and compressed (`SHF_COMPRESSED`, e.g. Go's `.zdebug`/`.debug_*`)
//! sections have no readable file bytes; a read at a virtual address stops at the end of its
//! section.
//! - The file is mapped private and copy-on-write, not read: a connect touches only the pages of
//!   the sections it parses (a quarter of a Go binary), and relocating a PIE writes its words
//!   into private copies of their pages. A file that cannot be mapped (a pipe, a procfs file) is
//!   read whole instead.

use crate::pclntab::{u64_at, ImageBytes};
use std::fs::File;
use std::ops::{Deref, DerefMut};
use std::path::Path;

/// The bytes of an executable: its private copy-on-write map, or bytes held in memory.
pub enum FileBytes {
    Mapped(memmap2::MmapMut),
    Owned(Vec<u8>),
}

impl FileBytes {
    /// Maps the file at `path` (reads it whole when it cannot be mapped).
    pub fn open(path: &Path) -> std::io::Result<FileBytes> {
        let file = File::open(path)?;
        // SAFETY: the map is private (writes go to this process's copies of the pages). A file
        // truncated by someone else while mapped would raise SIGBUS on access: the kernel
        // refuses to open a running program's file for writing (ETXTBSY), and a program named
        // with a core is not rewritten in place while a debugger reads it, which is what gdb and
        // the core reader's map assume too (stub/src/process/core/resident.rs).
        match unsafe { memmap2::MmapOptions::new().map_copy(&file) } {
            Ok(map) => Ok(FileBytes::Mapped(map)),
            Err(e) => {
                log::debug!("{}: not mapped ({e}), read instead", path.display());
                std::fs::read(path).map(FileBytes::Owned)
            }
        }
    }
}

impl Default for FileBytes {
    fn default() -> FileBytes {
        FileBytes::Owned(Vec::new())
    }
}

impl Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(m) => m,
            FileBytes::Owned(v) => v,
        }
    }
}

impl DerefMut for FileBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            FileBytes::Mapped(m) => m,
            FileBytes::Owned(v) => v,
        }
    }
}

/// One section of the file.
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    pub addr: u64,
    pub size: u64,
    /// File offset of the bytes; `None` for NOBITS (`.bss`) or compressed sections.
    pub file_off: Option<u64>,
}

/// The file's bytes plus its section map, addressable by virtual address.
#[derive(Default)]
pub struct Image {
    pub data: FileBytes,
    pub sections: Vec<Section>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("bytes", &self.data.len())
            .field("sections", &self.sections.len())
            .finish()
    }
}

impl Image {
    /// The section containing `addr`.
    pub fn section_for(&self, addr: u64) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.addr != 0 && addr.checked_sub(s.addr).is_some_and(|off| off < s.size))
    }
    /// The section named `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
    /// Bytes of a section as stored in the file.
    pub fn section_bytes(&self, s: &Section) -> Option<&[u8]> {
        let off = s.file_off? as usize;
        self.data.get(off..off.checked_add(s.size as usize)?)
    }
    /// File offset of the byte at a virtual address (`None` outside the file's bytes).
    pub fn file_offset(&self, addr: u64) -> Option<u64> {
        let s = self.section_for(addr)?;
        s.file_off?.checked_add(addr.checked_sub(s.addr)?)
    }
    /// Reads a u64 at a virtual address from the file image.
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        u64_at(self.bytes_at(addr, 8)?, 0)
    }
}

impl ImageBytes for Image {
    /// Up to `len` bytes at a virtual address, from the file image (fewer at a section's end).
    fn bytes_at(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let s = self.section_for(addr)?;
        // section_for: s.addr <= addr < s.addr + s.size.
        let in_section = addr.checked_sub(s.addr)?;
        let off = self.file_offset(addr)?;
        let avail = s.size.checked_sub(in_section)?.min(len as u64) as usize;
        self.data
            .get(off as usize..(off as usize).checked_add(avail)?)
    }
}

/// A symbol from `.symtab`.
#[derive(Debug, Clone, Copy)]
pub struct Symbol {
    pub addr: u64,
    pub size: u64,
}
