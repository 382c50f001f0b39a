//! Typed errors of the goruntime crate.
//!
//! Every error that concerns target memory or a table inside the binary carries the address or
//! offset it failed at, so the stub can report it precisely. Nothing in this crate panics on the
//! bytes of a binary or of target memory; malformed input becomes one of these variants.

use memcache::MemError;

/// Everything that can go wrong while reading a Go binary or a Go process.
#[derive(Debug, thiserror::Error)]
pub enum GoError {
    /// The ELF file has neither `.go.buildinfo` nor a Go pclntab.
    #[error("not a Go program")]
    NotGo,
    /// A Go program built by a toolchain outside the supported range.
    #[error("unsupported Go version {found}: gostub supports Go 1.19 to 1.27")]
    UnsupportedVersion { found: String },
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a usable ELF object (or not x86-64).
    #[error("bad ELF file: {0}")]
    Elf(String),
    /// The pclntab is malformed at `offset` (relative to the start of the table).
    #[error("malformed pclntab at offset {offset:#x}: {what}")]
    Pclntab { offset: u64, what: &'static str },
    /// DWARF exists but could not be parsed.
    #[error("bad DWARF: {0}")]
    Dwarf(String),
    /// A runtime variable or function could not be located in the binary.
    #[error("cannot find {0} in the binary")]
    Missing(&'static str),
    /// Reading target memory failed.
    #[error(transparent)]
    Mem(#[from] MemError),
    /// A runtime structure in target memory holds impossible values.
    #[error("corrupt {what} at {addr:#x}")]
    Corrupt { what: &'static str, addr: u64 },
}
