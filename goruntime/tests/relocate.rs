//! `GoBinary::relocated` on real PIE builds (internal linker, stripped): every address goruntime
//! takes from the binary moves by the bias — symbols, function entries from the pclntab, the
//! pclntab's text start, allgs/allglen, pointers in the image (R_X86_64_RELATIVE words) — and
//! what is not an address (names, lines, wait reasons) does not; relocations compose.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

mod common;
use common::{build, toolchains, Flavor};
use goruntime::{symbolize, GoBinary};

const BIAS: u64 = 0x5555_5000_0000;

#[test]
fn relocated_moves_every_address() {
    let tcs = toolchains();
    assert!(!tcs.is_empty(), "no Go toolchain installed");
    for (ver, go) in [tcs.first().unwrap(), tcs.last().unwrap()] {
        for flavor in [Flavor::Pie, Flavor::PieStripped] {
            let exe = build(go, ver, flavor).unwrap();
            let at_link = GoBinary::load(&exe).unwrap();
            let moved = GoBinary::load(&exe).unwrap().relocated(BIAS);
            let what = format!("{ver} {flavor:?}");
            assert_eq!(moved.entry(), at_link.entry() + BIAS, "{what}");
            let busy = at_link.func_entry("main.busy").unwrap();
            assert_eq!(moved.func_entry("main.busy"), Some(busy + BIAS), "{what}");
            assert_eq!(
                moved.pclntab().text_start,
                at_link.pclntab().text_start + BIAS
            );
            assert_eq!(
                symbolize(&moved, busy + BIAS),
                symbolize(&at_link, busy),
                "{what}"
            );
            assert_eq!(
                symbolize(&moved, busy),
                None,
                "{what}: the link-time pc is not code"
            );
            let (a, m) = (
                at_link.allgs_location().unwrap(),
                moved.allgs_location().unwrap(),
            );
            assert_eq!(
                (m.allgs, m.allglen),
                (a.allgs + BIAS, a.allglen + BIAS),
                "{what}"
            );
            // Stripped PIE: allgs from decoding runtime.allgadd, at runtime addresses too.
            assert_eq!(
                goruntime::allgs::locate_by_disassembly(moved.pclntab(), moved.image()),
                Some(m),
                "{what}"
            );
            assert_eq!(moved.wait_reason_text(2), at_link.wait_reason_text(2));
            if let Some(md) = at_link.symbol("runtime.firstmoduledata") {
                // moduledata.pcHeader is a relocated pointer to the pclntab.
                assert_eq!(
                    at_link.image().read_u64(md.addr),
                    Some(at_link.pclntab().addr)
                );
                let moved_md = moved.symbol("runtime.firstmoduledata").unwrap().addr;
                assert_eq!(moved_md, md.addr + BIAS);
                assert_eq!(
                    moved.image().read_u64(moved_md),
                    Some(moved.pclntab().addr),
                    "{what}"
                );
            }
            let twice = GoBinary::load(&exe)
                .unwrap()
                .relocated(BIAS / 2)
                .relocated(BIAS - BIAS / 2);
            assert_eq!(twice.func_entry("main.busy"), moved.func_entry("main.busy"));
            assert_eq!(twice.allgs_location(), moved.allgs_location());
            assert_eq!(
                twice.image().read_u64(moved.pclntab().addr),
                moved.image().read_u64(moved.pclntab().addr)
            );
            let auxv: Vec<u8> = [9u64, moved.entry(), 0, 0]
                .iter()
                .flat_map(|w| w.to_ne_bytes())
                .collect();
            assert_eq!(goruntime::load_bias(&at_link, &auxv), Some(BIAS));
            assert_eq!(goruntime::load_bias(&moved, &auxv), Some(0));
        }
    }
}
