//! The ELF64 little-endian pieces a core file and the programs it names are read with: the file
//! header, the program headers, the notes of a `PT_NOTE` segment, and a build ID. Every read is
//! bounds-checked against the bytes at hand: a truncated or foreign file is an error, never a
//! panic.
//!
//! Format quirks met here: a note's name and descriptor are each padded to 4 bytes (the
//! 8-byte-aligned `PT_NOTE` variant of some toolchains is not used by Linux cores or by Go
//! and gcc binaries on x86_64); a build ID note is GNU's (`NT_GNU_BUILD_ID` 3, name "GNU") or
//! Go's (4, name "Go", the `-buildid` text).

pub const ET_CORE: u16 = 4;
pub const EM_X86_64: u16 = 62;
pub const PT_LOAD: u32 = 1;
pub const PT_NOTE: u32 = 4;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const NT_GNU_BUILD_ID: u32 = 3;
const NT_GO_BUILD_ID: u32 = 4;

pub fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

pub fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

pub fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// The file header fields the stub uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub e_type: u16,
    pub e_machine: u16,
    pub phoff: u64,
    pub phnum: u16,
}

/// Why bytes are not the ELF file they should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("not an ELF file")]
    NotElf,
    #[error("not a 64-bit little-endian ELF file")]
    WrongClass,
    #[error("the {what} ends at byte {end:#x}, past the end of the file ({size:#x} bytes)")]
    Truncated {
        what: &'static str,
        end: u64,
        size: u64,
    },
}

pub fn header(b: &[u8]) -> Result<Header, ElfError> {
    if b.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(ElfError::NotElf);
    }
    if b.get(4..6) != Some([2u8, 1].as_slice()) {
        return Err(ElfError::WrongClass);
    }
    let truncated = |what| ElfError::Truncated {
        what,
        end: EHDR_SIZE as u64,
        size: b.len() as u64,
    };
    let field16 = |off| u16_at(b, off).ok_or_else(|| truncated("ELF header"));
    Ok(Header {
        e_type: field16(16)?,
        e_machine: field16(18)?,
        phoff: u64_at(b, 32).ok_or_else(|| truncated("ELF header"))?,
        phnum: field16(56)?,
    })
}

/// One program header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phdr {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

pub fn program_headers(b: &[u8], h: &Header) -> Result<Vec<Phdr>, ElfError> {
    let end = h
        .phoff
        .saturating_add(u64::from(h.phnum) * PHDR_SIZE as u64);
    if end > b.len() as u64 {
        return Err(ElfError::Truncated {
            what: "program header table",
            end,
            size: b.len() as u64,
        });
    }
    let table = &b[h.phoff as usize..end as usize];
    Ok(table
        .chunks_exact(PHDR_SIZE)
        .map(|p| {
            let f = |off| u64_at(p, off).unwrap_or(0);
            Phdr {
                p_type: u32_at(p, 0).unwrap_or(0),
                flags: u32_at(p, 4).unwrap_or(0),
                offset: f(8),
                vaddr: f(16),
                filesz: f(32),
                memsz: f(40),
            }
        })
        .collect())
}

/// The bytes of a segment's file image, or a `Truncated` error naming `what`.
pub fn segment_bytes<'a>(b: &'a [u8], p: &Phdr, what: &'static str) -> Result<&'a [u8], ElfError> {
    let end = p.offset.saturating_add(p.filesz);
    if end > b.len() as u64 {
        return Err(ElfError::Truncated {
            what,
            end,
            size: b.len() as u64,
        });
    }
    Ok(&b[p.offset as usize..end as usize])
}

/// One note: its name (without the NUL), type and descriptor, and where its header starts and
/// its descriptor ends in the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Note<'a> {
    pub name: &'a [u8],
    pub n_type: u32,
    pub desc: &'a [u8],
    pub start: usize,
    pub end: usize,
}

/// The notes of a note segment, up to the first one that does not fit (a truncated segment).
/// The flag says whether the whole segment was read.
pub fn notes(b: &[u8]) -> (Vec<Note<'_>>, bool) {
    let pad4 = |n: usize| n.saturating_add(3) / 4 * 4;
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < b.len() {
        let (Some(namesz), Some(descsz), Some(n_type)) =
            (u32_at(b, at), u32_at(b, at + 4), u32_at(b, at + 8))
        else {
            return (out, false);
        };
        let name_start = at + 12;
        let desc_start = name_start.saturating_add(pad4(namesz as usize));
        let desc_end = desc_start.saturating_add(descsz as usize);
        if desc_end > b.len() {
            return (out, false);
        }
        let name = &b[name_start..name_start + namesz as usize];
        out.push(Note {
            name: name.strip_suffix(&[0]).unwrap_or(name),
            n_type,
            desc: &b[desc_start..desc_end],
            start: at,
            end: desc_end,
        });
        at = pad4(desc_end);
    }
    (out, true)
}

/// Where a build ID note lies in an ELF file: its file offset and bytes (name and descriptor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildId {
    pub file_offset: u64,
    pub note: Vec<u8>,
}

impl BuildId {
    /// The ID as text: hex for GNU's, the string for Go's.
    pub fn display(&self) -> String {
        let (found, _) = notes(&self.note);
        match found.first() {
            Some(n) if n.name == b"Go" => String::from_utf8_lossy(n.desc).into_owned(),
            Some(n) => n.desc.iter().map(|b| format!("{b:02x}")).collect(),
            None => "?".to_string(),
        }
    }
}

/// The first build ID note of an ELF file (GNU's preferred over Go's), from its note segments.
pub fn build_id(b: &[u8]) -> Option<BuildId> {
    let h = header(b).ok()?;
    let phdrs = program_headers(b, &h).ok()?;
    let mut best: Option<BuildId> = None;
    for p in phdrs.iter().filter(|p| p.p_type == PT_NOTE) {
        let seg = segment_bytes(b, p, "note segment").ok()?;
        for n in notes(seg).0 {
            let is_gnu = n.name == b"GNU" && n.n_type == NT_GNU_BUILD_ID;
            let is_go = n.name == b"Go" && n.n_type == NT_GO_BUILD_ID;
            if is_gnu || (is_go && best.is_none()) {
                best = Some(BuildId {
                    file_offset: p.offset + n.start as u64,
                    note: seg[n.start..n.end].to_vec(),
                });
                if is_gnu {
                    return best;
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(name: &[u8], n_type: u32, desc: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(name.len() as u32 + 1).to_le_bytes());
        v.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        v.extend_from_slice(&n_type.to_le_bytes());
        v.extend_from_slice(name);
        v.push(0);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v.extend_from_slice(desc);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn notes_are_split_and_a_truncated_one_is_flagged() {
        let mut seg = note(b"CORE", 1, &[1, 2, 3, 4, 5]);
        seg.extend(note(b"LINUX", 0x202, &[9; 8]));
        let (found, whole) = notes(&seg);
        assert!(whole);
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].name, found[0].n_type), (&b"CORE"[..], 1));
        assert_eq!(found[0].desc, &[1, 2, 3, 4, 5]);
        assert_eq!(found[1].name, b"LINUX");
        let (found, whole) = notes(&seg[..seg.len() - 3]);
        assert!(!whole);
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn headers_of_foreign_bytes_are_errors() {
        assert_eq!(header(b"hello world"), Err(ElfError::NotElf));
        assert_eq!(header(b"\x7fELF\x01\x01"), Err(ElfError::WrongClass));
        assert!(matches!(
            header(b"\x7fELF\x02\x01\x01"),
            Err(ElfError::Truncated { .. })
        ));
    }

    #[test]
    fn build_id_of_this_test_binary() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let id = build_id(&me).expect("rustc links a GNU build ID");
        assert_eq!(
            &me[id.file_offset as usize..][..id.note.len()],
            &id.note[..]
        );
        assert!(id.display().chars().all(|c| c.is_ascii_hexdigit()));
    }
}
