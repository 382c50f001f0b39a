//! A parsed Go ELF executable: sections, symbols, the Go version, the pclntab, runtime layouts and
//! the addresses of the runtime globals goroutine listing needs.
//!
//! Quirks met here (reference/go-runtime.md §4.3, §8):
//! - `-ldflags=-s` drops `.symtab` and DWARF; `.go.buildinfo`, `.gopclntab` and `.noptrdata`
//!   survive, so everything needed has a symbol-free fallback.
//! - The version lives in `.go.buildinfo` (inline-string format since Go 1.18, flag bit 0x2);
//!   older binaries point at `runtime.buildVersion` instead (decoded only to name the version).
//! - Go 1.26+ zeroes `pcHeader.textStart`; `moduledata.text` (offset 176) is used instead.
//!   moduledata is `runtime.firstmoduledata`, the `.go.module` section (1.26+), or found by
//!   scanning `.noptrdata` for the pclntab address.
//! - `gofunc` (base of funcdata) is `go:func.*`/`go.func.*`, or the word following the last
//!   `.rodata` address inside moduledata.

use crate::allgs::AllgsLocation;
use crate::error::GoError;
use crate::image::{FileBytes, Image, Section, Symbol};
use crate::layout::Layout;
use crate::pclntab::{u64_at, ImageBytes, Pclntab};
use crate::version::GoVersion;
use crate::wait_reasons::WaitReasons;
use object::{Object, ObjectSection, ObjectSymbol};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// A parsed Go executable. Cheap to query; load once per program.
pub struct GoBinary {
    pub(crate) image: Image,
    version: GoVersion,
    pub(crate) symbols: HashMap<String, Symbol>,
    pub(crate) pcln: Pclntab,
    pub(crate) layout: Layout,
    pub(crate) layout_from_dwarf: bool,
    pub(crate) allgs: Option<AllgsLocation>,
    pub(crate) wait_reasons: WaitReasons,
    pub(crate) has_dwarf: bool,
    /// ELF `e_entry` (moved by [`GoBinary::relocated`]).
    pub(crate) entry: u64,
}

impl std::fmt::Debug for GoBinary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoBinary")
            .field("version", &self.version.raw)
            .field("image", &self.image)
            .field("symbols", &self.symbols.len())
            .field("pclntab", &self.pcln)
            .field("layout_from_dwarf", &self.layout_from_dwarf)
            .field("allgs", &self.allgs)
            .field("wait_reasons", &self.wait_reasons.len())
            .finish()
    }
}

const BUILDINFO_MAGIC: &[u8] = b"\xff Go buildinf:";

impl GoBinary {
    /// Loads and parses the executable at `path`.
    pub fn load(path: &Path) -> Result<GoBinary, GoError> {
        let data = FileBytes::open(path).map_err(|source| GoError::Io {
            path: path.display().to_string(),
            source,
        })?;
        GoBinary::parse_bytes(data)
    }

    /// Parses an executable held in memory.
    pub fn parse(data: Vec<u8>) -> Result<GoBinary, GoError> {
        GoBinary::parse_bytes(FileBytes::Owned(data))
    }

    fn parse_bytes(data: FileBytes) -> Result<GoBinary, GoError> {
        let (sections, symbols, dwarf, entry) = {
            let file = object::File::parse(&*data).map_err(GoError::Elf)?;
            if file.architecture() != object::Architecture::X86_64 {
                // Could still be Go, but this crate only knows amd64 layouts.
                let is_go = file.section_by_name(".go.buildinfo").is_some()
                    || file.section_by_name(".gopclntab").is_some();
                return Err(if is_go {
                    GoError::NotAmd64
                } else {
                    GoError::NotGo
                });
            }
            let mut sections = Vec::new();
            for s in file.sections() {
                let name = s.name().unwrap_or("").to_string();
                let compressed = s
                    .compressed_file_range()
                    .map(|r| r.format != object::CompressionFormat::None)
                    .unwrap_or(true);
                let file_off = if compressed {
                    None
                } else {
                    s.file_range().map(|(o, _)| o)
                };
                sections.push(Section {
                    name,
                    addr: s.address(),
                    size: s.size(),
                    file_off,
                });
            }
            let mut symbols = HashMap::new();
            for sym in file.symbols() {
                if let Ok(name) = sym.name() {
                    if !name.is_empty() {
                        symbols.entry(name.to_string()).or_insert(Symbol {
                            addr: sym.address(),
                            size: sym.size(),
                        });
                    }
                }
            }
            let dwarf = crate::dwarf::DwarfInfo::load(&file);
            (sections, symbols, dwarf, file.entry())
        };
        let image = Image { data, sections };

        let version = find_version(&image);
        let pcln_loc = find_pclntab(&image, &symbols);
        let version = match (version, pcln_loc.is_some()) {
            (Some(v), _) => v,
            (None, true) => {
                return Err(GoError::UnsupportedVersion {
                    found: "unknown (no .go.buildinfo)".into(),
                });
            }
            (None, false) => {
                if symbols.contains_key("runtime.main") {
                    return Err(GoError::UnsupportedVersion {
                        found: "unknown".into(),
                    });
                }
                return Err(GoError::NotGo);
            }
        };
        version.check_supported()?;
        let (pcln_addr, pcln_bytes) = pcln_loc.ok_or(GoError::Missing(".gopclntab"))?;

        let moduledata = find_moduledata(&image, &symbols, pcln_addr);
        let md_text = moduledata.and_then(|md| image.read_u64(md.checked_add(176)?));
        let gofunc = symbols
            .get("go:func.*")
            .or_else(|| symbols.get("go.func.*"))
            .map(|s| s.addr)
            .or_else(|| moduledata.and_then(|md| gofunc_from_moduledata(&image, md)));
        let pcln = Pclntab::parse(pcln_bytes, pcln_addr, md_text, gofunc)?;

        let (layout, layout_from_dwarf) = match dwarf.as_ref().and_then(|d| d.layout(&version)) {
            Some(l) => (l, true),
            None => (Layout::for_version(&version), false),
        };
        layout.validate()?;

        let allgs = crate::allgs::locate(&symbols, dwarf.as_ref(), &pcln, &image);
        let wait_reasons = WaitReasons::load(
            symbols.get("runtime.waitReasonStrings").copied(),
            &image,
            version.minor,
        );
        Ok(GoBinary {
            image,
            version,
            symbols,
            pcln,
            layout,
            layout_from_dwarf,
            allgs,
            wait_reasons,
            has_dwarf: dwarf.is_some(),
            entry,
        })
    }

    /// The entry point (ELF `e_entry`, plus the bias once [`GoBinary::relocated`]).
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// The Go version that built the program.
    pub fn version(&self) -> &GoVersion {
        &self.version
    }

    /// The parsed pclntab.
    pub fn pclntab(&self) -> &Pclntab {
        &self.pcln
    }

    /// Runtime structure offsets in use.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// True when the layout came from DWARF rather than the built-in table.
    pub fn layout_from_dwarf(&self) -> bool {
        self.layout_from_dwarf
    }

    /// True when the binary has DWARF.
    pub fn has_dwarf(&self) -> bool {
        self.has_dwarf
    }

    /// Address and size of a symbol from `.symtab`.
    pub fn symbol(&self, name: &str) -> Option<Symbol> {
        self.symbols.get(name).copied()
    }

    /// Where allgs/allglen are, if found.
    pub fn allgs_location(&self) -> Option<AllgsLocation> {
        self.allgs
    }

    /// The file image.
    pub fn image(&self) -> &Image {
        &self.image
    }

    /// Entry address of a function, from the pclntab (works without symbols).
    pub fn func_entry(&self, name: &str) -> Option<u64> {
        if let Some(s) = self.symbols.get(name) {
            if s.addr != 0 {
                return Some(s.addr);
            }
        }
        self.pcln.find_func_by_name(name).map(|f| f.entry)
    }

    /// Wait reason text for a `waitReason` value, as the target's runtime spells it.
    pub fn wait_reason_text(&self, reason: u8) -> Arc<str> {
        self.wait_reasons.text(reason)
    }
}

/// Reads the version string from `.go.buildinfo`.
fn find_version(image: &Image) -> Option<GoVersion> {
    let bytes: &[u8] = match image
        .section(".go.buildinfo")
        .and_then(|s| image.section_bytes(s))
    {
        Some(b) => b,
        None => {
            // Scan data sections for the magic (some linkers merge the section away).
            let mut found = None;
            for s in &image.sections {
                if let Some(b) = image.section_bytes(s) {
                    if let Some(p) = b
                        .windows(BUILDINFO_MAGIC.len())
                        .position(|w| w == BUILDINFO_MAGIC)
                    {
                        if p % 16 == 0 {
                            found = b.get(p..);
                            break;
                        }
                    }
                }
            }
            found?
        }
    };
    if !bytes.starts_with(BUILDINFO_MAGIC) {
        return None;
    }
    let ptr_size = *bytes.get(14)? as usize;
    let flags = *bytes.get(15)?;
    let s = if flags & 2 != 0 {
        let (len, n) = crate::pclntab::read_uvarint(bytes, 32)?;
        let start = n.checked_add(32)?;
        let b = bytes.get(start..start.checked_add(len as usize)?)?;
        String::from_utf8_lossy(b).into_owned()
    } else {
        // Pre-1.18: pointer to a string header.
        if ptr_size != 8 {
            return None;
        }
        let hdr = u64_at(bytes, 16)?;
        let ptr = image.read_u64(hdr)?;
        let len = image.read_u64(hdr.checked_add(8)?)?;
        if len > 256 {
            return None;
        }
        let b = image.bytes_at(ptr, len as usize)?;
        String::from_utf8_lossy(b).into_owned()
    };
    GoVersion::parse(&s).or(Some(GoVersion {
        major: 0,
        minor: 0,
        patch: 0,
        raw: s,
    }))
}

/// Finds the pclntab: its section, a symbol, or by scanning for a header.
fn find_pclntab(image: &Image, symbols: &HashMap<String, Symbol>) -> Option<(u64, Vec<u8>)> {
    if let Some(s) = image.section(".gopclntab") {
        if let Some(b) = image.section_bytes(s) {
            return Some((s.addr, b.to_vec()));
        }
    }
    for name in ["runtime.pcheader", "runtime.pclntab"] {
        if let Some(sym) = symbols.get(name) {
            // The rest of the section the symbol is in (bytes_at stops at its end).
            if let Some(b) = image.bytes_at(sym.addr, usize::MAX) {
                return Some((sym.addr, b.to_vec()));
            }
        }
    }
    // PIE/external linking may merge the table into .data.rel.ro: look for a plausible header.
    for s in &image.sections {
        if s.addr == 0 || !(s.name.contains("rel.ro") || s.name.contains("rodata")) {
            continue;
        }
        let Some(b) = image.section_bytes(s) else {
            continue;
        };
        for (p, w) in (0usize..).step_by(8).zip(b.chunks_exact(8)) {
            let m = crate::pclntab::u32_at(w, 0).unwrap_or(0);
            if (m == crate::pclntab::MAGIC_118 || m == crate::pclntab::MAGIC_120)
                && w.get(4..) == Some(&[0, 0, 1, 8][..])
            {
                return Some((s.addr.checked_add(p as u64)?, b.get(p..)?.to_vec()));
            }
        }
    }
    None
}

/// Finds `runtime.firstmoduledata`.
fn find_moduledata(
    image: &Image,
    symbols: &HashMap<String, Symbol>,
    pcln_addr: u64,
) -> Option<u64> {
    if let Some(s) = symbols.get("runtime.firstmoduledata") {
        return Some(s.addr);
    }
    if let Some(s) = image.section(".go.module") {
        if image.read_u64(s.addr) == Some(pcln_addr) {
            return Some(s.addr);
        }
    }
    for name in [".noptrdata", ".data", ".data.rel.ro"] {
        let Some(s) = image.section(name) else {
            continue;
        };
        let Some(b) = image.section_bytes(s) else {
            continue;
        };
        for (p, w) in (0usize..).step_by(8).zip(b.windows(16).step_by(8)) {
            if u64_at(w, 0) == Some(pcln_addr) {
                // Next word is the funcnametab slice pointer, inside the table.
                if let Some(n) = u64_at(w, 8) {
                    if n.checked_sub(pcln_addr)
                        .is_some_and(|d| d > 0 && d < 1 << 32)
                    {
                        return s.addr.checked_add(p as u64);
                    }
                }
            }
        }
    }
    None
}

/// `gofunc` = the word after the last occurrence of the `.rodata` address in moduledata.
fn gofunc_from_moduledata(image: &Image, md: u64) -> Option<u64> {
    let rodata = image.section(".rodata")?.addr;
    let b = image.bytes_at(md, 8 * 80)?;
    let last = b
        .chunks_exact(8)
        .rposition(|w| u64_at(w, 0) == Some(rodata))?;
    u64_at(b.chunks_exact(8).nth(last.checked_add(1)?)?, 0)
}
