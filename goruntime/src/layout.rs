//! Field offsets of `runtime.g`, `runtime.gobuf` and `runtime.m` on linux/amd64.
//!
//! Two sources: DWARF by field name (see `dwarf.rs`) when the binary has it, else a per-version
//! table transcribed from reference/go-runtime.md §2.2/§2.3 (every number there was checked on
//! real binaries except Go 1.20, which is inferred to equal 1.19).
//! Quirks: layout shifts at 1.21 (trace fields removed, `parentGoid` added), 1.23 (+8,
//! `syscallbp`), 1.25 (−8, `gobuf.ret` removed), 1.26 (`parentGoid`/`gopc` move). `runtime.m`
//! embeds the OS-specific `mOS`, so the m numbers are linux/amd64 only.

use crate::version::GoVersion;

/// Offsets (bytes) of the runtime fields goruntime reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub g_size: u64,
    pub g_stack_lo: u64,
    pub g_stack_hi: u64,
    pub g_m: u64,
    pub g_sched: u64,
    pub g_syscallsp: u64,
    pub g_syscallpc: u64,
    pub g_syscallbp: Option<u64>,
    pub g_stktopsp: u64,
    pub g_atomicstatus: u64,
    pub g_goid: u64,
    pub g_waitsince: u64,
    pub g_waitreason: u64,
    pub g_lockedm: u64,
    pub g_parent_goid: Option<u64>,
    pub g_gopc: u64,
    pub g_startpc: u64,
    pub g_labels: u64,
    pub gobuf_sp: u64,
    pub gobuf_pc: u64,
    pub gobuf_bp: u64,
    pub m_g0: u64,
    pub m_procid: u64,
    pub m_gsignal: u64,
    pub m_tls: u64,
    pub m_curg: u64,
    pub m_id: u64,
    /// Only known from DWARF.
    pub m_vdso_sp: Option<u64>,
    pub m_vdso_pc: Option<u64>,
}

impl Layout {
    /// The built-in table for a supported version (1.19–1.27). Versions outside the range get
    /// the nearest table; callers reject them earlier.
    pub fn for_version(v: &GoVersion) -> Layout {
        let minor = v.minor.clamp(19, 27);
        // g offsets: [size, lockedm, parentGoid, gopc, startpc, labels]
        let (size, lockedm, parent, gopc, startpc, labels) = match minor {
            19 | 20 => (392, 232, None, 296, 312, 360),
            21 | 22 => (
                if minor == 21 { 408 } else { 424 },
                208,
                Some(272),
                280,
                296,
                344,
            ),
            23 | 24 => (
                if minor == 23 { 432 } else { 440 },
                216,
                Some(280),
                288,
                304,
                352,
            ),
            25 => (440, 208, Some(272), 280, 296, 344),
            _ => (456, 208, Some(280), 288, 304, 352),
        };
        // Offsets after sched: shifted +8 by syscallbp in 1.23/1.24, −8 by gobuf.ret in 1.25+.
        let (gobuf_bp, after): (u64, i64) = match minor {
            19..=22 => (48, 0),
            23 | 24 => (48, 8),
            _ => (40, 0),
        };
        let (syscallsp, syscallpc, syscallbp) = match minor {
            19..=22 => (112, 120, None),
            23 | 24 => (112, 120, Some(128)),
            _ => (104, 112, Some(120)),
        };
        let base = |x: u64| -> u64 {
            // stktopsp..waitreason for 1.19–1.22 (x); +8 in 1.23/1.24 (syscallbp); 1.25+ is
            // back to x (gobuf.ret removed, syscallbp kept).
            (x as i64 + after) as u64
        };
        let (m_procid, m_gsignal, m_tls, m_curg, m_id) = match minor {
            19..=24 => (72, 80, 136, 192, 232),
            25 => (64, 72, 128, 184, 224),
            _ => (64, 72, 128, 184, 232),
        };
        Layout {
            g_size: size,
            g_stack_lo: 0,
            g_stack_hi: 8,
            g_m: 48,
            g_sched: 56,
            g_syscallsp: syscallsp,
            g_syscallpc: syscallpc,
            g_syscallbp: syscallbp,
            g_stktopsp: base(128),
            g_atomicstatus: base(144),
            g_goid: base(152),
            g_waitsince: base(168),
            g_waitreason: base(176),
            g_lockedm: lockedm,
            g_parent_goid: parent,
            g_gopc: gopc,
            g_startpc: startpc,
            g_labels: labels,
            gobuf_sp: 0,
            gobuf_pc: 8,
            gobuf_bp,
            m_g0: 0,
            m_procid,
            m_gsignal,
            m_tls,
            m_curg,
            m_id,
            m_vdso_sp: None,
            m_vdso_pc: None,
        }
    }

    /// Compares the fields both sources provide (the table has no vdso offsets).
    pub fn same_as_table(&self, table: &Layout) -> Result<(), String> {
        let mut a = self.clone();
        a.m_vdso_sp = None;
        a.m_vdso_pc = None;
        if &a == table {
            Ok(())
        } else {
            Err(format!("DWARF {a:#?}\n!= table {table:#?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(minor: u32) -> GoVersion {
        GoVersion::parse(&format!("go1.{minor}.1")).unwrap()
    }

    #[test]
    fn table_matches_reference_rows() {
        // goid row of reference §2.2.
        let goid: Vec<u64> = (19..=27)
            .map(|m| Layout::for_version(&v(m)).g_goid)
            .collect();
        assert_eq!(goid, vec![152, 152, 152, 152, 160, 160, 152, 152, 152]);
        let status: Vec<u64> = (19..=27)
            .map(|m| Layout::for_version(&v(m)).g_atomicstatus)
            .collect();
        assert_eq!(status, vec![144, 144, 144, 144, 152, 152, 144, 144, 144]);
        let wr: Vec<u64> = (19..=27)
            .map(|m| Layout::for_version(&v(m)).g_waitreason)
            .collect();
        assert_eq!(wr, vec![176, 176, 176, 176, 184, 184, 176, 176, 176]);
        let l = Layout::for_version(&v(23));
        assert_eq!(
            (l.g_stktopsp, l.g_waitsince, l.g_syscallbp),
            (136, 176, Some(128))
        );
        let l = Layout::for_version(&v(25));
        assert_eq!(
            (l.g_stktopsp, l.g_syscallsp, l.gobuf_bp, l.m_id),
            (128, 104, 40, 224)
        );
    }
}
