//! Stable-toolchain replay of the packet fuzz inputs: every file under `regressions/packets/`,
//! `seeds/packets/` and, when present, `corpus/packets/` and `artifacts/packets/` runs through
//! the same harness as the fuzz target, against the real gostub binary and fixture.
//! `GOSTUB_FUZZ_ITERS=N` also runs N randomly mutated inputs from a fixed seed
//! (`GOSTUB_FUZZ_SEED`), a libFuzzer-free smoke fuzz. `GOSTUB_FUZZ_INPUT=FILE` replays only
//! that file.
//!
//!     cargo build -p gostub && cd stub/fuzz && cargo test --release

use std::path::{Path, PathBuf};

fn inputs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v = Vec::new();
    for dir in ["regressions", "seeds", "corpus", "artifacts"] {
        if let Ok(rd) = std::fs::read_dir(root.join(dir).join("packets")) {
            v.extend(
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.is_file()),
            );
        }
    }
    v.sort();
    v
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
    for _ in 0..1 + rng.next() % 6 {
        let r = rng.next();
        let at = |rng: &mut Rng, len: usize| (rng.next() % len.max(1) as u64) as usize;
        match r % 5 {
            0 if !d.is_empty() => {
                let i = at(rng, d.len());
                d[i] ^= 1 << (r >> 8 & 7);
            }
            1 if !d.is_empty() => {
                let i = at(rng, d.len());
                d[i] = rng.next() as u8;
            }
            2 if !d.is_empty() => {
                let i = at(rng, d.len());
                d.insert(i, b"\n*$#}:,;0f-@"[(r >> 8) as usize % 12]);
            }
            3 => {
                let keep = at(rng, d.len() + 1);
                d.truncate(keep);
            }
            _ => d.push(rng.next() as u8),
        }
    }
    d
}

#[test]
fn packets_inputs() {
    if !gostub_fuzz::available() {
        eprintln!(
            "packets: {} or {} missing (cargo build -p gostub; fixtures/build.sh); skipped",
            gostub_fuzz::gostub_bin().display(),
            gostub_fuzz::fixture_path().display()
        );
        return;
    }
    let files = match std::env::var_os("GOSTUB_FUZZ_INPUT") {
        Some(one) => vec![PathBuf::from(one)],
        None => inputs(),
    };
    assert!(!files.is_empty(), "no seeds");
    for p in &files {
        eprintln!("packets: {}", p.display());
        gostub_fuzz::run(&std::fs::read(p).unwrap());
    }
    let iters: u64 = std::env::var("GOSTUB_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let seed = std::env::var("GOSTUB_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15u64);
    let bases: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let mut rng = Rng(seed | 1);
    for i in 0..iters {
        let base = &bases[(rng.next() % bases.len() as u64) as usize];
        let d = mutate(&mut rng, base);
        if std::panic::catch_unwind(|| gostub_fuzz::run(&d)).is_err() {
            let out = std::env::temp_dir().join(format!("packets-crash-{i}"));
            std::fs::write(&out, &d).unwrap();
            panic!(
                "packets: iteration {i} failed; input saved to {}",
                out.display()
            );
        }
    }
    eprintln!("packets: {}", gostub_fuzz::report());
}
