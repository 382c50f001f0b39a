//! The little of ELF64 the harness needs: the `.text` section (file offset, address, size) and
//! symbol values from `.symtab`, so the live text of the fixture can be compared with its file.

use std::path::Path;

/// A section's link-time address, file offset and size.
#[derive(Debug, Clone, Copy)]
pub struct Section {
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
}

/// A parsed fixture binary.
pub struct Elf {
    pub bytes: Vec<u8>,
    pub text: Section,
    symbols: Vec<(String, u64)>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn c_str(b: &[u8], at: usize) -> String {
    let end = b[at..]
        .iter()
        .position(|&c| c == 0)
        .map_or(b.len(), |n| at + n);
    String::from_utf8_lossy(&b[at..end]).into_owned()
}

impl Elf {
    /// Parses a little-endian ELF64 file (the fixtures are x86_64); panics on anything else.
    pub fn read(path: &Path) -> Elf {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            bytes.starts_with(b"\x7fELF\x02\x01"),
            "{}: not ELF64 LE",
            path.display()
        );
        let shoff = u64_at(&bytes, 0x28) as usize;
        let shentsize = u16_at(&bytes, 0x3a) as usize;
        let shnum = u16_at(&bytes, 0x3c) as usize;
        let shstrndx = u16_at(&bytes, 0x3e) as usize;
        let sh = |i: usize| shoff + i * shentsize;
        let names = u64_at(&bytes, sh(shstrndx) + 0x18) as usize;
        let mut text = None;
        let mut symbols = Vec::new();
        for i in 0..shnum {
            let s = sh(i);
            let name = c_str(&bytes, names + u32_at(&bytes, s) as usize);
            let kind = u32_at(&bytes, s + 4);
            let section = Section {
                addr: u64_at(&bytes, s + 0x10),
                offset: u64_at(&bytes, s + 0x18),
                size: u64_at(&bytes, s + 0x20),
            };
            if name == ".text" {
                text = Some(section);
            }
            if kind == 2 {
                // SHT_SYMTAB: 24-byte entries, names in the section sh_link names.
                let strtab = u64_at(&bytes, sh(u32_at(&bytes, s + 0x28) as usize) + 0x18) as usize;
                for e in (0..section.size as usize).step_by(24) {
                    let e = section.offset as usize + e;
                    let value = u64_at(&bytes, e + 8);
                    if value != 0 {
                        symbols.push((c_str(&bytes, strtab + u32_at(&bytes, e) as usize), value));
                    }
                }
            }
        }
        Elf {
            text: text.expect("no .text"),
            bytes,
            symbols,
        }
    }

    /// The link-time value of symbol `name`.
    pub fn symbol(&self, name: &str) -> u64 {
        self.symbols
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no symbol {name}"))
            .1
    }

    /// The file bytes of `.text`.
    pub fn text_bytes(&self) -> &[u8] {
        &self.bytes[self.text.offset as usize..(self.text.offset + self.text.size) as usize]
    }

    /// True for a position-independent executable (addresses are relative to the load base).
    pub fn is_pie(&self) -> bool {
        u16_at(&self.bytes, 16) == 3
    }
}
