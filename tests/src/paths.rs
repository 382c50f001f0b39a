//! Where things are: the workspace, the gostub binary, the fixtures that
//! `fixtures/build.sh` builds (a missing fixture FAILS a test, it is never
//! skipped), and temporary directories (kept with `GOSTUB_TEST_KEEP=1`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The gostub binary: `$GOSTUB_BIN`, or `target/debug/gostub`.
pub fn gostub_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("GOSTUB_BIN") {
        let p = PathBuf::from(p);
        assert!(p.exists(), "GOSTUB_BIN={} does not exist", p.display());
        return p;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let p = target.join("debug").join("gostub");
    assert!(
        p.exists(),
        "gostub binary not found at {}: run `cargo build -p gostub` (or set GOSTUB_BIN)",
        p.display()
    );
    p
}

/// A fixture built by `fixtures/build.sh`, e.g. `fixture("threads_lib")`.
/// Panics (the test FAILS, it is not skipped) when it is missing.
pub fn fixture(name: &str) -> PathBuf {
    let p = workspace_root().join("fixtures/build").join(name);
    assert!(
        p.exists(),
        "fixture {} is missing: run fixtures/build.sh (scripts/test does)",
        p.display()
    );
    p
}

/// The oldest and the newest Go versions the fixtures are always built with.
pub const GO_OLDEST: &str = "1.19";
pub const GO_NEWEST: &str = "1.27.3";

/// A Go fixture: `go_fixture("hot", "1.27.3", "default")`.
/// Variants: `default`, `noopt` (-N -l), `stripped` (-s -w).
pub fn go_fixture(prog: &str, version: &str, variant: &str) -> PathBuf {
    fixture(&format!("go/{prog}-go{version}-{variant}"))
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "gostub-test-{}-{}-{}",
            tag,
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("GOSTUB_TEST_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}
