//! Unit tests of [`super`] (pclntab.rs), kept apart to hold the module under the size guide.

use super::*;

struct NoImage;
impl ImageBytes for NoImage {
    fn bytes_at(&self, _: u64, _: usize) -> Option<&[u8]> {
        None
    }
}

/// Builds a tiny 1.20-format table with two functions.
fn synthetic() -> Vec<u8> {
    let mut d = vec![0u8; 0x48];
    d[0..4].copy_from_slice(&MAGIC_120.to_le_bytes());
    d[6] = 1;
    d[7] = 8;
    let put = |d: &mut Vec<u8>, i: usize, v: u64| {
        d[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_le_bytes())
    };
    put(&mut d, 0, 2); // nfunc
    put(&mut d, 1, 1); // nfiles
    put(&mut d, 2, 0x1000); // textStart
                            // funcnametab at 0x48
    let funcname = d.len();
    d.extend_from_slice(b"main.a\0main.b\0");
    let cutab = d.len();
    d.extend_from_slice(&0u32.to_le_bytes());
    let filetab = d.len();
    d.extend_from_slice(b"/x.go\0");
    let pctab = d.len();
    d.push(0); // offset 0 means "none"
               // pcsp: val 0 for 0x10 bytes, then 8 for 0x10 bytes
    let pcsp = d.len() - pctab;
    d.extend_from_slice(&[2, 0x10, 16, 0x10, 0]);
    // pcfile: val 0 over 0x20
    let pcfile = d.len() - pctab;
    d.extend_from_slice(&[2, 0x20, 0]);
    // pcln: line 10 for 0x8, line 11 for 0x18
    let pcln = d.len() - pctab;
    d.extend_from_slice(&[22, 0x8, 2, 0x18, 0]);
    while d.len() & 7 != 0 {
        d.push(0);
    }
    let functab = d.len();
    let funcs_start = 3 * 8;
    d.extend_from_slice(&0u32.to_le_bytes());
    d.extend_from_slice(&(funcs_start as u32).to_le_bytes());
    d.extend_from_slice(&0x20u32.to_le_bytes());
    d.extend_from_slice(&(funcs_start as u32 + 44).to_le_bytes());
    d.extend_from_slice(&0x40u32.to_le_bytes());
    d.extend_from_slice(&0u32.to_le_bytes());
    for (entry, name) in [(0u32, 0u32), (0x20, 7)] {
        for w in [
            entry,
            name,
            0,
            0,
            pcsp as u32,
            pcfile as u32,
            pcln as u32,
            0,
            0,
            1,
        ] {
            d.extend_from_slice(&w.to_le_bytes());
        }
        d.extend_from_slice(&[0, 0, 0, 0]);
    }
    put(&mut d, 3, funcname as u64);
    put(&mut d, 4, cutab as u64);
    put(&mut d, 5, filetab as u64);
    put(&mut d, 6, pctab as u64);
    put(&mut d, 7, functab as u64);
    d
}

#[test]
fn lookup_synthetic() {
    let t = Pclntab::parse(synthetic(), 0x5000, None, None).unwrap();
    let f = t.find_func(0x1018).unwrap();
    assert_eq!(t.func_name(&f), "main.a");
    assert_eq!(f.entry, 0x1000);
    assert_eq!(t.sp_delta(&f, 0x1000), Some(0));
    assert_eq!(t.sp_delta(&f, 0x1018), Some(8));
    assert_eq!(t.file_line(&f, 0x1004), ("/x.go".to_string(), 10));
    assert_eq!(t.file_line(&f, 0x1010), ("/x.go".to_string(), 11));
    let g = t.find_func(0x1020).unwrap();
    assert_eq!(t.func_name(&g), "main.b");
    assert!(t.find_func(0x1040).is_none());
    assert!(t.find_func(0xfff).is_none());
    assert_eq!(t.find_func_by_name("main.b").unwrap().entry, 0x1020);
    let frames = t.expand(&f, 0x1004, &NoImage);
    assert_eq!(frames.len(), 1);
    assert!(!frames[0].inlined);
}

#[test]
fn truncated_tables_never_panic() {
    let full = synthetic();
    for n in 0..full.len() {
        let d = full[..n].to_vec();
        if let Ok(t) = Pclntab::parse(d, 0, Some(0x1000), None) {
            for pc in (0xff0..0x1050).step_by(3) {
                if let Some(f) = t.find_func(pc) {
                    let _ = t.file_line(&f, pc);
                    let _ = t.sp_delta(&f, pc);
                    let _ = t.expand(&f, pc, &NoImage);
                }
            }
        }
    }
    // Garbage everywhere after the header.
    let mut g = full.clone();
    for b in g.iter_mut().skip(0x48) {
        *b = 0xff;
    }
    if let Ok(t) = Pclntab::parse(g, 0, None, None) {
        for pc in 0x1000..0x1040 {
            if let Some(f) = t.find_func(pc) {
                let _ = t.file_line(&f, pc);
            }
        }
    }
}

/// Fuzz regression `goruntime/fuzz/regressions/pclntab/pc-range-text-start-overflow`
/// (found by the `pclntab` target): a header textStart near `u64::MAX` made `pc_range` and
/// `func_at_index` overflow.
#[test]
fn text_start_near_u64_max_does_not_overflow() {
    let mut d = synthetic();
    // Functions at textStart+0 and +0x20, end at +0x40: past u64::MAX.
    d[24..32].copy_from_slice(&0xffff_ffff_ffff_ffe0u64.to_le_bytes());
    let t = Pclntab::parse(d, 0, None, None).unwrap();
    assert_eq!(t.pc_range(), (0xffff_ffff_ffff_ffe0, u64::MAX));
    for i in 0..=t.nfunc() {
        let _ = t.func_at_index(i);
    }
    for pc in [0, u64::MAX, 0xffff_ffff_ffff_ffe8] {
        if let Some(f) = t.find_func(pc) {
            let _ = t.file_line(&f, pc);
            let _ = t.expand(&f, pc, &NoImage);
        }
    }
}

#[test]
fn uvarint() {
    assert_eq!(read_uvarint(&[0x96, 0x01], 0), Some((150, 2)));
    assert_eq!(read_uvarint(&[0x96], 0), None);
    assert_eq!(read_uvarint(&[0xff; 20], 0), None);
}
