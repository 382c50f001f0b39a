//! Fuzz harnesses for goruntime, shared by the cargo-fuzz targets (`fuzz_targets/`), the seed
//! generator (`src/bin/gen_corpus.rs`) and the stable replay test (`tests/replay.rs`).
//!
//! - [`pclntab::run`]: bytes as a `.gopclntab` section (with a small parameter header), or as a
//!   whole ELF through `GoBinary::parse` when they start with `\x7fELF`; then function lookup,
//!   file/line, pcsp, pcdata/funcdata and inline expansion over a spread of pcs.
//! - [`g_decoder::run`]: a real fixture binary (loaded once) plus a structured description of
//!   target memory (allgs, g structs, Ms, stacks, a heap page, thread registers) decoded from the
//!   bytes; then `list_goroutines_with` (decode, m lookup, labels, unwinding from sched, syscall
//!   and thread registers, g0 switches), `decode_g` directly, `unwind_thread`, and the
//!   traceback rendering under every policy.
//!
//! Both formats are written by [`Writer`] and read by [`Reader`], which yields zeros once the
//! input is exhausted, so every byte string is a valid input.

pub mod g_decoder;
pub mod pclntab;

/// Reads little-endian values from fuzz input; past the end everything reads as 0.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }
    pub fn bytes(&mut self, n: usize) -> [u8; 8] {
        let mut out = [0u8; 8];
        for slot in out.iter_mut().take(n) {
            if let Some(&b) = self.data.get(self.pos) {
                *slot = b;
            }
            self.pos = self.pos.saturating_add(1);
        }
        out
    }
    pub fn u8(&mut self) -> u8 {
        self.bytes(1)[0]
    }
    pub fn u16(&mut self) -> u16 {
        let b = self.bytes(2);
        u16::from_le_bytes([b[0], b[1]])
    }
    pub fn u32(&mut self) -> u32 {
        let b = self.bytes(4);
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.bytes(8))
    }
    /// The rest of the input (empty past the end).
    pub fn rest(&mut self) -> &'a [u8] {
        let r = self.data.get(self.pos..).unwrap_or(&[]);
        self.pos = self.data.len();
        r
    }
    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.pos = self.pos.saturating_add(n);
        &self.data[start..end]
    }
    pub fn exhausted(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// Writes the formats [`Reader`] reads (seed generation).
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }
}
