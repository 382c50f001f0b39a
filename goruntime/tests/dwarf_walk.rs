//! The connect-time load of a Go binary (issue 9): the DWARF walk reads structure layouts and
//! runtime variables from `.debug_info` alone, and a mapped file gives what bytes held in
//! memory give. Uses real binaries of the oldest and newest installed toolchains (DWARF 4 and 5).
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

mod common;

use common::Flavor;
use goruntime::GoBinary;
use std::process::Command;

/// The toolchains at both ends of the installed range.
fn ends() -> Vec<(String, std::path::PathBuf)> {
    let tcs = common::toolchains();
    let mut ends: Vec<_> = tcs.first().into_iter().chain(tcs.last()).cloned().collect();
    ends.dedup_by(|a, b| a.0 == b.0);
    assert!(!ends.is_empty(), "no Go toolchain installed");
    ends
}

/// Issue 9: line tables are not decompressed at connect, so a binary whose `.debug_line` is gone
/// still has its layout and runtime variables from DWARF, the same as with it.
#[test]
fn issue_9_layout_from_dwarf_without_line_tables() {
    for (ver, go) in ends() {
        let exe = common::build(&go, &ver, Flavor::Default).expect("build");
        let bare = exe.with_file_name(format!("{}-noline", exe.display()));
        let o = Command::new("objcopy")
            .arg("--remove-section=.debug_line")
            .arg(&exe)
            .arg(&bare)
            .output()
            .expect("objcopy");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let full = GoBinary::load(&exe).unwrap();
        let noline = GoBinary::load(&bare).unwrap();
        assert!(full.layout_from_dwarf(), "{ver}");
        assert!(noline.layout_from_dwarf(), "{ver}: layout not from DWARF");
        assert_eq!(full.layout(), noline.layout(), "{ver}");
        assert!(full.allgs_location().is_some(), "{ver}");
        assert_eq!(full.allgs_location(), noline.allgs_location(), "{ver}");
    }
}

/// Issue 9: a mapped (copy-on-write) binary parses and relocates as the same bytes read into
/// memory do, PIE relocations included, and the file itself is left as it was.
#[test]
fn issue_9_mapped_binary_is_the_read_one() {
    let bias = 0x7f00_0000_0000u64;
    for (ver, go) in ends() {
        let exe = common::build(&go, &ver, Flavor::Pie).expect("build");
        let bytes = std::fs::read(&exe).unwrap();
        let mapped = GoBinary::load(&exe).unwrap().relocated(bias);
        let read = GoBinary::parse(bytes.clone()).unwrap().relocated(bias);
        assert_eq!(mapped.layout(), read.layout(), "{ver}");
        assert_eq!(mapped.allgs_location(), read.allgs_location(), "{ver}");
        assert_eq!(mapped.entry(), read.entry(), "{ver}");
        assert_eq!(&*mapped.image().data, &*read.image().data, "{ver}");
        assert_ne!(
            &*mapped.image().data,
            &bytes[..],
            "{ver}: nothing relocated"
        );
        assert_eq!(
            std::fs::read(&exe).unwrap(),
            bytes,
            "{ver}: the file changed"
        );
    }
}
