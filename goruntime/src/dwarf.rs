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
    /// Extracts the facts, or `None` when the binary has no (usable) DWARF.
    pub fn load(file: &object::File<'_>) -> Option<DwarfInfo> {
        file.section_by_name(".debug_info")?;
        // Only what units and their entries' names and addresses need is decompressed (location
        // and range lists are a quarter of Go's compressed DWARF, read at every connect).
        let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, gimli::Error> {
            use gimli::SectionId::*;
            let needed = matches!(
                id,
                DebugInfo
                    | DebugAbbrev
                    | DebugLine
                    | DebugStr
                    | DebugLineStr
                    | DebugStrOffsets
                    | DebugAddr
            );
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
            let Ok(unit) = dwarf.unit(header) else {
                continue;
            };
            let mut entries = unit.entries();
            let mut current: Option<(String, u64, HashMap<String, u64>)> = None;
            let mut depth: isize = 0;
            let mut struct_depth: isize = -1;
            while let Ok(Some((delta, entry))) = entries.next_dfs() {
                depth = depth.saturating_add(delta);
                if current.is_some() && depth <= struct_depth {
                    if let Some((n, sz, m)) = current.take() {
                        info.structs.entry(n).or_insert((sz, m));
                    }
                }
                let name = || -> Option<String> {
                    let attr = entry.attr_value(gimli::DW_AT_name).ok()??;
                    let s = dwarf.attr_string(&unit, attr).ok()?;
                    Some(s.to_string_lossy().into_owned())
                };
                match entry.tag() {
                    gimli::DW_TAG_compile_unit if info.producer.is_none() => {
                        if let Ok(Some(attr)) = entry.attr_value(gimli::DW_AT_producer) {
                            if let Ok(s) = dwarf.attr_string(&unit, attr) {
                                info.producer = Some(s.to_string_lossy().into_owned());
                            }
                        }
                    }
                    gimli::DW_TAG_structure_type => {
                        if let Some(n) = name() {
                            if STRUCTS.contains(&n.as_str())
                                && !info.structs.contains_key(&n)
                                && entry.has_children()
                            {
                                let size = entry
                                    .attr_value(gimli::DW_AT_byte_size)
                                    .ok()
                                    .flatten()
                                    .and_then(|v| v.udata_value())
                                    .unwrap_or(0);
                                current = Some((n, size, HashMap::new()));
                                struct_depth = depth;
                            }
                        }
                    }
                    gimli::DW_TAG_member
                        if current.is_some() && Some(depth) == struct_depth.checked_add(1) =>
                    {
                        let off = entry
                            .attr_value(gimli::DW_AT_data_member_location)
                            .ok()
                            .flatten()
                            .and_then(|v| v.udata_value());
                        if let (Some(n), Some(off)) = (name(), off) {
                            if let Some((_, _, m)) = current.as_mut() {
                                m.insert(n, off);
                            }
                        }
                    }
                    gimli::DW_TAG_variable => {
                        if let Some(n) = name() {
                            if VARS.contains(&n.as_str()) && !info.vars.contains_key(&n) {
                                if let Ok(Some(gimli::AttributeValue::Exprloc(e))) =
                                    entry.attr_value(gimli::DW_AT_location)
                                {
                                    // DW_OP_addr (0x03) and an 8-byte address.
                                    if let [0x03, a @ ..] = e.0.slice() {
                                        if let Ok(a) = <[u8; 8]>::try_from(a) {
                                            info.vars.insert(n, u64::from_le_bytes(a));
                                        }
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            if let Some((n, sz, m)) = current.take() {
                info.structs.entry(n).or_insert((sz, m));
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
