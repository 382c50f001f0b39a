//! The load bias: moving a parsed [`GoBinary`] to where the process mapped it, as the dynamic
//! loader does for a position-independent executable (`-buildmode=pie`).
//!
//! The bias is the runtime address minus the link-time address, modulo 2^64:
//! `AT_ENTRY − e_entry` from the process's auxiliary vector ([`load_bias`]). It is 0 for an
//! `ET_EXEC` binary. [`GoBinary::relocated`] shifts every address goruntime takes from the file:
//! sections, symbols, the pclntab (table address, text start, `gofunc`) and allgs/allglen; and it
//! applies the file's `R_X86_64_RELATIVE` relocations to the image bytes, so a pointer read from
//! the file image (moduledata, `runtime.waitReasonStrings`) is a runtime address too.
//!
//! Quirks: Go's internal linker links a PIE at 0x400000 (its `.rela` section), the external
//! linker at 0 (`.rela.dyn`); both also store the addend in place, so the file image is valid at
//! bias 0. Symbols outside every allocated section (TLS offsets, absolute values) keep their value.

use crate::binary::GoBinary;
use crate::image::Image;
use object::elf::R_X86_64_RELATIVE;
use object::{Object, RelocationFlags, RelocationTarget};

/// `AT_ENTRY` in the auxiliary vector: the program's entry point as mapped.
const AT_ENTRY: u64 = 9;

/// The value of `key` in a raw auxiliary vector (`/proc/PID/auxv`: native-endian `u64`
/// type/value pairs, up to `AT_NULL`).
pub fn auxv_value(auxv: &[u8], key: u64) -> Option<u64> {
    let word = |c: &[u8]| c.try_into().ok().map(u64::from_ne_bytes);
    auxv.chunks_exact(16)
        .map(|p| (p.get(..8).and_then(word), p.get(8..).and_then(word)))
        .take_while(|(k, _)| *k != Some(0))
        .find(|(k, _)| *k == Some(key))
        .and_then(|(_, v)| v)
}

/// The load bias of a process running `bin` (unrelocated), from its raw auxiliary vector:
/// `AT_ENTRY − e_entry`. `None` when the vector has no `AT_ENTRY`.
pub fn load_bias(bin: &GoBinary, auxv: &[u8]) -> Option<u64> {
    Some(auxv_value(auxv, AT_ENTRY)?.wrapping_sub(bin.entry()))
}

impl GoBinary {
    /// The binary as loaded `bias` bytes above its link-time addresses (see the module doc).
    /// Relative: `relocated(a).relocated(b)` is `relocated(a + b)`; `relocated(0)` is a no-op.
    pub fn relocated(mut self, bias: u64) -> GoBinary {
        if bias == 0 {
            return self;
        }
        apply_relative_relocations(&mut self.image, bias);
        let image = &self.image;
        for sym in self.symbols.values_mut() {
            if sym.addr != 0 && image.section_for(sym.addr).is_some() {
                sym.addr = sym.addr.wrapping_add(bias);
            }
        }
        for s in &mut self.image.sections {
            if s.addr != 0 {
                s.addr = s.addr.wrapping_add(bias);
            }
        }
        self.entry = self.entry.wrapping_add(bias);
        self.pcln.relocate(bias);
        if let Some(loc) = &mut self.allgs {
            loc.allgs = loc.allgs.wrapping_add(bias);
            loc.allglen = loc.allglen.wrapping_add(bias);
        }
        self
    }
}

/// Adds `bias` to every word an `R_X86_64_RELATIVE` relocation targets (the file holds the
/// addend there already), before the sections move.
fn apply_relative_relocations(image: &mut Image, bias: u64) {
    let mut fix: Vec<(u64, u64)> = Vec::new();
    if let Ok(file) = object::File::parse(&*image.data) {
        if let Some(relocs) = file.dynamic_relocations() {
            for (at, r) in relocs {
                let relative = matches!(r.flags(), RelocationFlags::Elf { r_type } if r_type == R_X86_64_RELATIVE);
                if relative && matches!(r.target(), RelocationTarget::Absolute) {
                    fix.push((at, (r.addend() as u64).wrapping_add(bias)));
                }
            }
        }
    }
    for (at, value) in fix {
        let Some(off) = image.file_offset(at) else {
            continue;
        };
        if let Some(w) = (off as usize)
            .checked_add(8)
            .and_then(|end| image.data.get_mut(off as usize..end))
        {
            w.copy_from_slice(&value.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auxv_value_stops_at_at_null_and_truncation() {
        let v: Vec<u8> = [3u64, 0x1000, 9, 0x5555_0000, 0, 0, 9, 7]
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect();
        assert_eq!(auxv_value(&v, 9), Some(0x5555_0000));
        assert_eq!(auxv_value(&v, 3), Some(0x1000));
        assert_eq!(auxv_value(&v, 4), None);
        assert_eq!(auxv_value(v.get(..20).unwrap(), 9), None);
        assert_eq!(auxv_value(&[], 9), None);
    }
}
