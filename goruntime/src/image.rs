//! The file image of an executable: its bytes, its section map (addressable by virtual address)
//! and its `.symtab` symbols. Everything that reads the binary's own bytes goes through here.
//!
//! Quirks: NOBITS (`.bss`) and compressed (`SHF_COMPRESSED`, e.g. Go's `.zdebug`/`.debug_*`)
//! sections have no readable file bytes; a read at a virtual address stops at the end of its
//! section.

use crate::pclntab::{u64_at, ImageBytes};

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
#[derive(Clone, Default)]
pub struct Image {
    pub data: Vec<u8>,
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
