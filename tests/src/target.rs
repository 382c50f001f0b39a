//! The target seen without the debugger: its memory through /proc/PID/mem,
//! its mappings, the bytes its file holds at an address (to check that no
//! int3 is left behind), and symbol addresses from `nm` with the PIE load
//! bias applied.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

/// Reads `len` bytes at `addr` of process `pid` through /proc/PID/mem.
pub fn read_proc_mem(pid: i32, addr: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let f = File::open(format!("/proc/{pid}/mem"))?;
    let mut buf = vec![0u8; len];
    let n = f.read_at(&mut buf, addr)?;
    buf.truncate(n);
    Ok(buf)
}

/// One line of /proc/PID/maps.
#[derive(Clone, Debug)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub perms: String,
    pub offset: u64,
    pub path: String,
}

pub fn proc_maps(pid: i32) -> Vec<Mapping> {
    let text = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let range = it.next()?;
            let perms = it.next()?.to_string();
            let offset = u64::from_str_radix(it.next()?, 16).ok()?;
            it.next();
            it.next();
            let path = it.collect::<Vec<_>>().join(" ");
            let (a, b) = range.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(a, 16).ok()?,
                end: u64::from_str_radix(b, 16).ok()?,
                perms,
                offset,
                path,
            })
        })
        .collect()
}

/// The bytes a file-backed address must hold, read from the file itself.
pub fn file_bytes_at(pid: i32, addr: u64, len: usize) -> Vec<u8> {
    let maps = proc_maps(pid);
    let m = maps
        .iter()
        .find(|m| m.start <= addr && addr < m.end)
        .unwrap_or_else(|| panic!("{addr:#x} is not mapped in {pid}: {maps:#?}"));
    assert!(
        m.path.starts_with('/'),
        "{addr:#x} is not file-backed: {m:?}"
    );
    let f = File::open(&m.path).unwrap();
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, addr - m.start + m.offset)
        .unwrap();
    buf
}

/// Asserts that the live text at `addr` equals the bytes of the file it is
/// mapped from: no int3 (0xCC) or other patch left by a debugger.
pub fn assert_text_clean(pid: i32, addr: u64, len: usize) {
    let live = read_proc_mem(pid, addr, len)
        .unwrap_or_else(|e| panic!("read {pid} mem at {addr:#x}: {e}"));
    let file = file_bytes_at(pid, addr, len);
    assert_eq!(
        live, file,
        "text of pid {pid} at {addr:#x} differs from its file (a breakpoint left behind?): live {live:02x?} file {file:02x?}"
    );
    assert_ne!(live[0], 0xCC, "int3 left at {addr:#x}");
}

/// The load bias of the main executable of `pid` (0 for non-PIE): where its first mapping starts,
/// less the address its first PT_LOAD was linked at (Go's internal linker links PIE at 0x400000).
pub fn load_base(pid: i32, exe: &Path) -> u64 {
    let exe = fs::canonicalize(exe).unwrap();
    let exe = exe.to_string_lossy();
    let m = proc_maps(pid)
        .into_iter()
        .find(|m| m.path == exe && m.offset == 0)
        .unwrap_or_else(|| panic!("{exe} not mapped in {pid}"));
    let is_pie = {
        let mut hdr = [0u8; 18];
        File::open(exe.as_ref())
            .unwrap()
            .read_exact(&mut hdr)
            .unwrap();
        u16::from_le_bytes([hdr[16], hdr[17]]) == 3 // ET_DYN
    };
    if is_pie {
        m.start - first_load_vaddr(exe.as_ref())
    } else {
        0
    }
}

/// The page of the first PT_LOAD's virtual address, from `readelf -lW`.
fn first_load_vaddr(exe: &str) -> u64 {
    let out = Command::new("readelf")
        .args(["-lW", exe])
        .output()
        .expect("run readelf");
    let text = String::from_utf8_lossy(&out.stdout);
    let vaddr = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"LOAD"))
        .and_then(|f| u64::from_str_radix(f.get(2)?.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("{exe}: no PT_LOAD"));
    vaddr & !0xfff
}

/// The address of symbol `name` in the (unrelocated) ELF file, from `nm`.
pub fn symbol_value(exe: &Path, name: &str) -> u64 {
    let out = Command::new("nm").arg(exe).output().expect("run nm");
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 3 && f[2] == name {
            return u64::from_str_radix(f[0], 16).unwrap();
        }
    }
    panic!("symbol {name} not found in {}", exe.display())
}

/// The runtime address of `name` in the main executable of `pid`.
pub fn symbol_addr(pid: i32, exe: &Path, name: &str) -> u64 {
    load_base(pid, exe) + symbol_value(exe, name)
}
