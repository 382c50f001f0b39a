//! Field offsets of `runtime.g`, `runtime.gobuf` and `runtime.m` on linux/amd64.
//!
//! Two sources: DWARF by field name (see `dwarf.rs`) when the binary has it, else a per-version
//! table transcribed from reference/go-runtime.md §2.2/§2.3 (every number there was checked on
//! real binaries except Go 1.20, which is inferred to equal 1.19).
//! Quirks: layout shifts at 1.21 (trace fields removed, `parentGoid` added), 1.23 (+8,
//! `syscallbp`), 1.25 (−8, `gobuf.ret` removed), 1.26 (`parentGoid`/`gopc` move). `runtime.m`
//! embeds the OS-specific `mOS`, so the m numbers are linux/amd64 only.

use crate::error::GoError;
use crate::version::GoVersion;

/// Bytes of `runtime.gobuf` the walk reads at most (the struct is 48 or 56 bytes).
pub const GOBUF_MAX: usize = 64;
/// Largest `runtime.g` accepted (real ones are under 500 bytes; every listing reads whole gs).
pub const MAX_G_SIZE: u64 = 1 << 16;
/// Largest offset+8 of an `runtime.m` field accepted (real ones are under 300).
pub const MAX_M_READ: u64 = 1 << 16;

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
            x.wrapping_add_signed(after)
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

    /// How much of `g.sched` the walk reads: up to the end of the last gobuf field it needs.
    pub fn gobuf_read_size(&self) -> u64 {
        [self.gobuf_sp, self.gobuf_pc, self.gobuf_bp]
            .into_iter()
            .max()
            .unwrap_or(0)
            .saturating_add(8)
    }

    /// How much of a `runtime.g` a listing reads: up to the end of the last field it decodes.
    /// What lies after it (trace state, timers, GC assist credit) changes without changing what
    /// a listing shows, so leaving it out also keeps more goroutines "unchanged" between stops.
    pub fn g_read_size(&self) -> u64 {
        let eight = [
            Some(self.g_stack_hi),
            Some(self.g_m),
            Some(self.g_syscallsp),
            Some(self.g_syscallpc),
            self.g_syscallbp,
            Some(self.g_goid),
            Some(self.g_waitsince),
            Some(self.g_lockedm),
            self.g_parent_goid,
            Some(self.g_gopc),
            Some(self.g_startpc),
            Some(self.g_labels),
        ];
        let end = eight
            .into_iter()
            .flatten()
            .map(|off| off.saturating_add(8))
            .chain([
                self.g_sched.saturating_add(self.gobuf_read_size()),
                self.g_atomicstatus.saturating_add(4),
                self.g_waitreason.saturating_add(1),
            ])
            .max()
            .unwrap_or(0);
        end.min(self.g_size)
    }

    /// Checks that every field fits in the struct (or buffer) it is read from, so that no read
    /// by this layout can go out of bounds: an invalid DWARF layout is refused when the binary
    /// is loaded. `g.stack.hi` must follow `g.stack.lo` (both are read in one 16-byte read).
    pub fn validate(&self) -> Result<(), GoError> {
        let fits = |field: &'static str, offset: u64, len: u64, limit: u64| match offset
            .checked_add(len)
        {
            Some(end) if end <= limit => Ok(()),
            _ => Err(GoError::BadLayout {
                field,
                offset,
                len,
                limit,
            }),
        };
        fits("runtime.g", 0, self.g_size, MAX_G_SIZE)?;
        if self.g_stack_lo.checked_add(8) != Some(self.g_stack_hi) {
            return Err(GoError::BadLayout {
                field: "g.stack.hi",
                offset: self.g_stack_hi,
                len: 8,
                limit: self.g_size,
            });
        }
        let g = self.g_size;
        fits("g.stack", self.g_stack_lo, 16, g)?;
        fits("g.sched", self.g_sched, self.gobuf_read_size(), g)?;
        for (field, offset, len) in [
            ("g.m", Some(self.g_m), 8),
            ("g.syscallsp", Some(self.g_syscallsp), 8),
            ("g.syscallpc", Some(self.g_syscallpc), 8),
            ("g.syscallbp", self.g_syscallbp, 8),
            ("g.stktopsp", Some(self.g_stktopsp), 8),
            ("g.atomicstatus", Some(self.g_atomicstatus), 4),
            ("g.goid", Some(self.g_goid), 8),
            ("g.waitsince", Some(self.g_waitsince), 8),
            ("g.waitreason", Some(self.g_waitreason), 1),
            ("g.lockedm", Some(self.g_lockedm), 8),
            ("g.parentGoid", self.g_parent_goid, 8),
            ("g.gopc", Some(self.g_gopc), 8),
            ("g.startpc", Some(self.g_startpc), 8),
            ("g.labels", Some(self.g_labels), 8),
        ] {
            if let Some(offset) = offset {
                fits(field, offset, len, g)?;
            }
        }
        for (field, offset) in [
            ("gobuf.sp", self.gobuf_sp),
            ("gobuf.pc", self.gobuf_pc),
            ("gobuf.bp", self.gobuf_bp),
        ] {
            fits(field, offset, 8, GOBUF_MAX as u64)?;
        }
        for (field, offset) in [
            ("m.g0", self.m_g0),
            ("m.procid", self.m_procid),
            ("m.gsignal", self.m_gsignal),
            ("m.tls", self.m_tls),
            ("m.curg", self.m_curg),
            ("m.id", self.m_id),
        ] {
            fits(field, offset, 8, MAX_M_READ)?;
        }
        Ok(())
    }

    /// Compares the fields both sources provide (the table has no vdso offsets).
    pub fn same_as_table(&self, table: &Layout) -> Result<(), LayoutMismatch> {
        let mut a = self.clone();
        a.m_vdso_sp = None;
        a.m_vdso_pc = None;
        if &a == table {
            Ok(())
        } else {
            Err(LayoutMismatch {
                dwarf: Box::new(a),
                table: Box::new(table.clone()),
            })
        }
    }
}

/// A DWARF layout that differs from the built-in table ([`Layout::same_as_table`]).
#[derive(Debug, thiserror::Error)]
#[error("DWARF {dwarf:#?}\n!= table {table:#?}")]
pub struct LayoutMismatch {
    pub dwarf: Box<Layout>,
    pub table: Box<Layout>,
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_valid() {
        for m in 19..=27 {
            Layout::for_version(&v(m)).validate().unwrap();
        }
    }

    /// `goroutine.rs` (now `walk_start.rs`) sliced the 64-byte gobuf buffer by `gobuf.bp + 8`.
    #[test]
    fn gobuf_offset_past_the_buffer_is_refused() {
        let mut l = Layout::for_version(&v(27));
        l.gobuf_bp = 64;
        assert!(matches!(
            l.validate(),
            Err(GoError::BadLayout {
                field: "g.sched" | "gobuf.bp",
                ..
            })
        ));
        let mut l = Layout::for_version(&v(27));
        l.g_goid = u64::MAX - 4;
        assert!(matches!(
            l.validate(),
            Err(GoError::BadLayout {
                field: "g.goid",
                ..
            })
        ));
        let mut l = Layout::for_version(&v(27));
        l.g_size = 1 << 40;
        assert!(l.validate().is_err());
    }

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
