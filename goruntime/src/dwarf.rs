//! DWARF facts goruntime uses, extracted once with gimli: member offsets of `runtime.g`,
//! `runtime.gobuf`, `runtime.m` and the addresses of a few runtime variables.
//!
//! Quirks (reference §2.6): Go's `.debug_*` sections are zlib-compressed (`SHF_COMPRESSED`),
//! DWARF 4 up to Go 1.24 and DWARF 5 from 1.25; both a structure and a typedef named
//! `runtime.g` exist (only the structure has members); `atomicstatus` is a plain `uint32` in 1.19
//! and an `atomic.Uint32` struct later (the member offset is the same either way); variables
//! carry `DW_OP_addr` locations.

use crate::layout::Layout;
use crate::version::GoVersion;
use object::{Object, ObjectSection};
use std::borrow::Cow;
use std::collections::HashMap;

const STRUCTS: &[&str] = &["runtime.g", "runtime.gobuf", "runtime.m"];
const VARS: &[&str] = &[
    "runtime.allgs",
    "runtime.allglen",
    "runtime.waitReasonStrings",
    "runtime.allm",
];

/// Struct members (name → offset) and sizes, plus variable addresses.
#[derive(Debug, Default, Clone)]
pub struct DwarfInfo {
    pub structs: HashMap<String, (u64, HashMap<String, u64>)>,
    pub vars: HashMap<String, u64>,
    pub producer: Option<String>,
}

impl DwarfInfo {
    /// Extracts the facts, or `None` when the binary has no (usable) DWARF. A unit that does not
    /// parse gives what it gave up to the fault, and the walk goes on with the next unit (found
    /// by the unit header's length); a layout missing a field falls back to the built-in table.
    pub fn load(file: &object::File<'_>) -> Option<DwarfInfo> {
        file.section_by_name(".debug_info")?;
        // Only units, their abbreviations and the strings names may point at are decompressed:
        // entries are walked raw (no `Unit`, whose line program header would need `.debug_line`,
        // a third of Go's compressed DWARF), and location and range lists are never read.
        let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, gimli::Error> {
            use gimli::SectionId::*;
            let needed = matches!(id, DebugInfo | DebugAbbrev | DebugStr | DebugLineStr);
            Ok(match file.section_by_name(id.name()).filter(|_| needed) {
                Some(s) => s.uncompressed_data().unwrap_or(Cow::Borrowed(&[][..])),
                None => Cow::Borrowed(&[][..]),
            })
        };
        let owned = gimli::DwarfSections::load(load).ok()?;
        let dwarf = owned.borrow(|s| gimli::EndianSlice::new(s, gimli::LittleEndian));
        let mut info = DwarfInfo::default();
        let mut units = dwarf.units();
        // Bounded by the section size: each header consumes bytes.
        while let Ok(Some(header)) = units.next() {
            let Ok(abbrevs) = dwarf.abbreviations(&header) else {
                continue;
            };
            let walked = walk_unit(&dwarf, &header, &abbrevs, &mut info);
            if walked.is_err() {
                log::debug!(
                    "DWARF unit at {:?} does not parse: {walked:?}",
                    header.offset()
                );
            }
            if info.structs.len() == STRUCTS.len() && info.vars.len() == VARS.len() {
                break;
            }
        }
        Some(info)
    }

    fn member(&self, st: &str, field: &str) -> Option<u64> {
        self.structs.get(st)?.1.get(field).copied()
    }

    /// Builds a [`Layout`] by field name; `None` if any mandatory field is missing.
    pub fn layout(&self, v: &GoVersion) -> Option<Layout> {
        let g = |f: &str| self.member("runtime.g", f);
        let gb = |f: &str| self.member("runtime.gobuf", f);
        let m = |f: &str| self.member("runtime.m", f);
        let stack = g("stack")?;
        let _ = v;
        Some(Layout {
            g_size: self.structs.get("runtime.g")?.0,
            g_stack_lo: stack,
            g_stack_hi: stack.checked_add(8)?,
            g_m: g("m")?,
            g_sched: g("sched")?,
            g_syscallsp: g("syscallsp")?,
            g_syscallpc: g("syscallpc")?,
            g_syscallbp: g("syscallbp"),
            g_stktopsp: g("stktopsp")?,
            g_atomicstatus: g("atomicstatus")?,
            g_goid: g("goid")?,
            g_waitsince: g("waitsince")?,
            g_waitreason: g("waitreason")?,
            g_lockedm: g("lockedm")?,
            g_parent_goid: g("parentGoid"),
            g_gopc: g("gopc")?,
            g_startpc: g("startpc")?,
            g_labels: g("labels")?,
            gobuf_sp: gb("sp")?,
            gobuf_pc: gb("pc")?,
            gobuf_bp: gb("bp")?,
            m_g0: m("g0")?,
            m_procid: m("procid")?,
            m_gsignal: m("gsignal")?,
            m_tls: m("tls")?,
            m_curg: m("curg")?,
            m_id: m("id")?,
            m_vdso_sp: m("vdsoSP"),
            m_vdso_pc: m("vdsoPC"),
        })
    }
}

type Slice<'a> = gimli::EndianSlice<'a, gimli::LittleEndian>;

/// A structure being collected: name, byte size, members.
type Collecting = (String, u64, HashMap<String, u64>);

/// The bytes of a string attribute (Go writes `DW_FORM_string`; other producers `strp` forms).
fn string<'a>(
    dwarf: &gimli::Dwarf<Slice<'a>>,
    v: gimli::AttributeValue<Slice<'a>>,
) -> Option<&'a [u8]> {
    match v {
        gimli::AttributeValue::String(s) => Some(s.slice()),
        gimli::AttributeValue::DebugStrRef(o) => dwarf.debug_str.get_str(o).ok().map(|s| s.slice()),
        gimli::AttributeValue::DebugLineStrRef(o) => {
            dwarf.debug_line_str.get_str(o).ok().map(|s| s.slice())
        }
        _ => None,
    }
}

/// Walks one unit's entries raw: attributes are decoded only for the compile unit (its
/// producer), top-level structures and variables, and the members of a structure looked for;
/// every other entry's attributes are skipped by form.
fn walk_unit<'a>(
    dwarf: &gimli::Dwarf<Slice<'a>>,
    header: &gimli::UnitHeader<Slice<'a>>,
    abbrevs: &gimli::Abbreviations,
    info: &mut DwarfInfo,
) -> gimli::Result<()> {
    let mut entries = header.entries_raw(abbrevs, None)?;
    let mut current: Option<Collecting> = None;
    // Each entry consumes at least its abbreviation code: bounded by the unit's size.
    while !entries.is_empty() {
        let depth = entries.next_depth();
        let Some(abbrev) = entries.read_abbreviation()? else {
            continue;
        };
        if depth <= 1 {
            if let Some((n, sz, m)) = current.take() {
                info.structs.entry(n).or_insert((sz, m));
            }
        }
        let tag = abbrev.tag();
        let wanted = match tag {
            gimli::DW_TAG_compile_unit => depth == 0 && info.producer.is_none(),
            gimli::DW_TAG_structure_type => depth == 1 && abbrev.has_children(),
            gimli::DW_TAG_variable => depth == 1,
            gimli::DW_TAG_member => depth == 2 && current.is_some(),
            _ => false,
        };
        if !wanted {
            entries.skip_attributes(abbrev.attributes())?;
            continue;
        }
        let (mut name, mut number, mut location) = (None, None, None);
        for spec in abbrev.attributes() {
            let attr = entries.read_attribute(*spec)?;
            match attr.name() {
                gimli::DW_AT_name => name = string(dwarf, attr.value()),
                gimli::DW_AT_producer if tag == gimli::DW_TAG_compile_unit => {
                    name = string(dwarf, attr.value())
                }
                gimli::DW_AT_byte_size | gimli::DW_AT_data_member_location => {
                    number = attr.udata_value()
                }
                gimli::DW_AT_location => location = Some(attr.value()),
                _ => {}
            }
        }
        let Some(name) = name else {
            continue;
        };
        match tag {
            gimli::DW_TAG_compile_unit => {
                info.producer = Some(String::from_utf8_lossy(name).into_owned());
            }
            gimli::DW_TAG_structure_type => {
                let name = String::from_utf8_lossy(name);
                if STRUCTS.contains(&&*name) && !info.structs.contains_key(&*name) {
                    current = Some((name.into_owned(), number.unwrap_or(0), HashMap::new()));
                }
            }
            gimli::DW_TAG_member => {
                if let (Some((_, _, m)), Some(off)) = (current.as_mut(), number) {
                    m.insert(String::from_utf8_lossy(name).into_owned(), off);
                }
            }
            _ => {
                let name = String::from_utf8_lossy(name);
                if VARS.contains(&&*name) && !info.vars.contains_key(&*name) {
                    // DW_OP_addr (0x03) and an 8-byte address.
                    if let Some(gimli::AttributeValue::Exprloc(e)) = location {
                        if let [0x03, a @ ..] = e.0.slice() {
                            if let Ok(a) = <[u8; 8]>::try_from(a) {
                                info.vars.insert(name.into_owned(), u64::from_le_bytes(a));
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some((n, sz, m)) = current.take() {
        info.structs.entry(n).or_insert((sz, m));
    }
    Ok(())
}
