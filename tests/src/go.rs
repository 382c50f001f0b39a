//! Go: the runtime's traceback text (`runtime.Stack(buf, true)`, or
//! gostub's `monitor goroutine ID bt`) parsed into blocks, and function
//! addresses read from a binary's pclntab, for binaries built with
//! `-ldflags=-s -w` (no symbol table). Generic instantiations are printed
//! as `[...]` by the runtime, and `, N minutes` is dropped from states.

use regex::Regex;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

/// The thread id a goroutine gets in gostub's goroutines view.
pub const GOROUTINE_TID_BASE: u64 = 1 << 30;

/// One frame of a Go traceback: function (arguments dropped) and file:line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoFrame {
    pub func: String,
    pub file: String,
    pub line: u32,
    /// false when the frame line has no `+0x..` (an inlined frame).
    pub has_offset: bool,
}

/// Each frame as `func file:line`, the form tests compare a traceback in frame by frame.
pub fn frame_lines(frames: &[GoFrame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| format!("{} {}:{}", f.func, f.file, f.line))
        .collect()
}

/// One goroutine block of a Go traceback (`runtime.Stack(buf, true)` text,
/// or gostub's `monitor goroutine ID bt`).
#[derive(Clone, Debug)]
pub struct GoBlock {
    pub goid: u64,
    /// The bracketed state text, e.g. `chan receive, locked to thread`,
    /// without the `, N minutes` part.
    pub state: String,
    /// Frames, top first. An elision line becomes a frame whose function is
    /// the elision text (`...N frames elided...`), file empty.
    pub frames: Vec<GoFrame>,
    /// `created by F in goroutine N` and its file:line, offsets dropped.
    pub created_by: Option<String>,
}

/// Drops `, N minutes` from a goroutine state text.
pub fn go_state_without_minutes(state: &str) -> String {
    let re = Regex::new(r", \d+ minutes").unwrap();
    re.replace_all(state, "").into_owned()
}

/// Normalises generic instantiation brackets (`[go.shape.string]`, `[...]`)
/// to `[...]`, as the runtime prints them.
pub fn go_func_normalise(f: &str) -> String {
    let re = Regex::new(r"\[[^\]]*\]").unwrap();
    re.replace_all(f, "[...]").into_owned()
}

/// Parses every goroutine block in `text`; lines that are not part of a
/// block are skipped, so a whole debugger transcript can be given.
pub fn parse_go_traceback(text: &str) -> Vec<GoBlock> {
    let header = Regex::new(r"^goroutine (\d+) (?:gp=\S+ m=\S+ (?:mp=\S+ )?)?\[(.*)\]:$").unwrap();
    let func = Regex::new(r"^(\S.*)\((.*)\)$").unwrap();
    // GOTRACEBACK=system adds ` fp=.. sp=.. pc=..` to each frame's file line.
    let fileline = Regex::new(
        r"^\t(.+):(\d+)(?: (\+0x[0-9a-f]+))?(?: fp=0x[0-9a-f]+ sp=0x[0-9a-f]+ pc=0x[0-9a-f]+)?$",
    )
    .unwrap();
    let created = Regex::new(r"^created by (.+)$").unwrap();
    let elided = Regex::new(r"^\.\.\.(.*)elided\.\.\.$").unwrap();
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut out: Vec<GoBlock> = Vec::new();
    let mut cur: Option<GoBlock> = None;
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if let Some(c) = header.captures(l) {
            if let Some(b) = cur.take() {
                out.push(b);
            }
            cur = Some(GoBlock {
                goid: c[1].parse().unwrap(),
                state: go_state_without_minutes(&c[2]),
                frames: Vec::new(),
                created_by: None,
            });
            i += 1;
            continue;
        }
        let Some(b) = cur.as_mut() else {
            i += 1;
            continue;
        };
        let next = lines.get(i + 1).copied().unwrap_or("");
        if let Some(c) = created.captures(l) {
            let fl = fileline
                .captures(next)
                .map(|f| format!(" {}:{}", &f[1], &f[2]))
                .unwrap_or_default();
            b.created_by = Some(format!("{}{}", &c[1], fl));
            i += 2;
            continue;
        }
        if elided.is_match(l) {
            b.frames.push(GoFrame {
                func: l.to_string(),
                file: String::new(),
                line: 0,
                has_offset: false,
            });
            i += 1;
            continue;
        }
        if let (Some(fc), Some(flc)) = (func.captures(l), fileline.captures(next)) {
            b.frames.push(GoFrame {
                func: go_func_normalise(&fc[1]),
                file: flc[1].to_string(),
                line: flc[2].parse().unwrap(),
                has_offset: flc.get(3).is_some(),
            });
            i += 2;
            continue;
        }
        // Anything else ends the block.
        out.push(cur.take().unwrap());
        i += 1;
    }
    if let Some(b) = cur.take() {
        out.push(b);
    }
    out
}

/// The section `name` of ELF `exe`: (file offset, address, size), from
/// `readelf -SW`.
pub fn elf_section(exe: &Path, name: &str) -> Option<(u64, u64, u64)> {
    let out = Command::new("readelf")
        .args(["-SW"])
        .arg(exe)
        .output()
        .expect("run readelf");
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        // "  [ 5] .gopclntab  PROGBITS  00000000004fc248 0fc248 0dc88a 00 A 0 0 8"
        let l = match line.find(']') {
            Some(p) => &line[p + 1..],
            None => continue,
        };
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 5 && f[0] == name {
            let h = |s: &str| u64::from_str_radix(s, 16).ok();
            return Some((h(f[3])?, h(f[2])?, h(f[4])?));
        }
    }
    None
}

/// The entry address of Go function `name`, from the binary's pclntab: works
/// on binaries built with `-ldflags=-s -w` (no symbol table, no DWARF).
/// Go 1.18+ pclntab layout (magic 0xfffffff0 or 0xfffffff1).
pub fn go_func_addr(exe: &Path, name: &str) -> u64 {
    // Go 1.19's PIE keeps it in .data.rel.ro.gopclntab.
    let (off, _addr, size) = elf_section(exe, ".gopclntab")
        .or_else(|| elf_section(exe, ".data.rel.ro.gopclntab"))
        .unwrap_or_else(|| panic!("{} has no .gopclntab", exe.display()));
    let f = File::open(exe).unwrap();
    let mut t = vec![0u8; size as usize];
    f.read_exact_at(&mut t, off).unwrap();
    let u32_at = |o: usize| u32::from_le_bytes(t[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(t[o..o + 8].try_into().unwrap());
    let magic = u32_at(0);
    assert!(
        magic == 0xfffffff0 || magic == 0xfffffff1,
        "{}: unsupported pclntab magic {magic:#x}",
        exe.display()
    );
    let nfunc = u64_at(8) as usize;
    let mut text_start = u64_at(24);
    if text_start == 0 {
        // Newer linkers leave it to be relocated: runtime.text is .text's start.
        text_start = elf_section(exe, ".text").expect("no .text").1;
    }
    let funcname_off = u64_at(32) as usize;
    let pcln_off = u64_at(64) as usize;
    for i in 0..nfunc {
        let ent = pcln_off + i * 8;
        let entry_off = u32_at(ent) as u64;
        let func_off = u32_at(ent + 4) as usize;
        let fd = pcln_off + func_off;
        let name_off = u32_at(fd + 4) as usize;
        let s = funcname_off + name_off;
        let end = t[s..]
            .iter()
            .position(|&b| b == 0)
            .map(|e| s + e)
            .unwrap_or(s);
        if &t[s..end] == name.as_bytes() {
            return text_start + entry_off;
        }
    }
    panic!("function {name} not in the pclntab of {}", exe.display())
}
