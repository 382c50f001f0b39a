//! Stable-toolchain replay of the fuzz inputs: every file under `regressions/<target>/` and, when
//! present, `corpus/<target>/` and `artifacts/<target>/`, runs through the same harness as the
//! fuzz targets. `GORUNTIME_FUZZ_ITERS=N` also runs N randomly mutated inputs per target from a
//! fixed seed (`GORUNTIME_FUZZ_SEED`), a libFuzzer-free smoke fuzz.
//!
//!     cd goruntime/fuzz && cargo test --release

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v = Vec::new();
    for dir in ["regressions", "corpus", "artifacts"] {
        if let Ok(rd) = std::fs::read_dir(root.join(dir).join(target)) {
            v.extend(rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    v.sort();
    v
}

fn fixtures_present() -> bool {
    goruntime_fuzz::g_decoder::bin_paths().iter().any(|p| p.is_file())
}

/// xorshift64*
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut d = base.to_vec();
    let n = 1 + rng.next() % 8;
    for _ in 0..n {
        let r = rng.next();
        match r % 5 {
            0 if !d.is_empty() => {
                let i = (rng.next() % d.len() as u64) as usize;
                d[i] ^= 1 << (r >> 8 & 7);
            }
            1 if !d.is_empty() => {
                let i = (rng.next() % d.len() as u64) as usize;
                d[i] = rng.next() as u8;
            }
            2 if d.len() >= 8 => {
                let i = (rng.next() % (d.len() as u64 - 7)) as usize;
                let v = [0u64, u64::MAX, 1 << 31, u32::MAX as u64, rng.next()][(r >> 8) as usize % 5];
                d[i..i + 8].copy_from_slice(&v.to_le_bytes());
            }
            3 => {
                let keep = (rng.next() % (d.len() as u64 + 1)) as usize;
                d.truncate(keep);
            }
            _ => d.push(rng.next() as u8),
        }
    }
    d
}

fn run_target(target: &str, f: fn(&[u8])) {
    let files = inputs(target);
    for p in &files {
        let data = std::fs::read(p).unwrap();
        eprintln!("{target}: {}", p.display());
        f(&data);
    }
    let iters: u64 = std::env::var("GORUNTIME_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if iters == 0 {
        return;
    }
    let seed = std::env::var("GORUNTIME_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15u64);
    let bases: Vec<Vec<u8>> = files
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .filter(|d| d.len() < 64 * 1024)
        .chain(std::iter::once(Vec::new()))
        .collect();
    let mut rng = Rng(seed | 1);
    for i in 0..iters {
        let base = &bases[(rng.next() % bases.len() as u64) as usize];
        let d = mutate(&mut rng, base);
        let r = std::panic::catch_unwind(|| f(&d));
        if r.is_err() {
            let out = std::env::temp_dir().join(format!("{target}-crash-{i}"));
            std::fs::write(&out, &d).unwrap();
            panic!("{target}: iteration {i} panicked; input saved to {}", out.display());
        }
    }
}

#[test]
fn pclntab_inputs() {
    run_target("pclntab", goruntime_fuzz::pclntab::run);
}

#[test]
fn g_decoder_inputs() {
    if !fixtures_present() {
        eprintln!("g_decoder: no fixture binaries (run fixtures/build.sh); skipped");
        return;
    }
    run_target("g_decoder", goruntime_fuzz::g_decoder::run);
}

/// The generated seeds really reach the unwinder (guards the seed generator against drift).
#[test]
fn mixed_seed_unwinds() {
    use goruntime_fuzz::g_decoder as gd;
    if !fixtures_present() {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/g_decoder/states-go1.27.3-default-mixed");
    let Ok(data) = std::fs::read(&path) else { return };
    let b = &gd::binaries()[gd::Input::decode(&data).bin_sel as usize % gd::binaries().len()];
    let (mut mem, threads, opts) = gd::materialize(&gd::Input::decode(&data), b);
    let gs = goruntime::list_goroutines_with(&b.bin, &mut mem, &threads, &opts).unwrap();
    for g in &gs {
        eprintln!("{}", goruntime::render_traceback(&b.bin, g, goruntime::Policy::System));
        eprintln!("  error: {:?}", g.error);
    }
    assert!(gs.iter().any(|g| g.frames.len() >= 4), "{gs:#?}");
}
