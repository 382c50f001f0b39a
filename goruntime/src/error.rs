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
    /// The file is not a usable ELF object.
    #[error("bad ELF file: {0}")]
    Elf(#[source] object::Error),
    /// A Go program for another architecture.
    #[error("bad ELF file: only linux/amd64 Go programs are supported")]
    NotAmd64,
    /// The pclntab is malformed at `offset` (relative to the start of the table).
    #[error("malformed pclntab at offset {offset:#x}: {what}")]
    Pclntab { offset: u64, what: &'static str },
    /// A runtime variable or function could not be located in the binary.
    #[error("cannot find {0} in the binary")]
    Missing(&'static str),
    /// A runtime layout (from DWARF) with a field that does not fit its struct.
    #[error("invalid runtime layout: {field} at offset {offset:#x} (+{len}) does not fit in {limit:#x} bytes")]
    BadLayout {
        field: &'static str,
        offset: u64,
        len: u64,
        limit: u64,
    },
    /// Reading target memory failed.
    #[error(transparent)]
    Mem(#[from] MemError),
    /// A runtime structure in target memory holds impossible values.
    #[error("corrupt {what} at {addr:#x}")]
    Corrupt { what: &'static str, addr: u64 },
}

/// Why one goroutine could not be (fully) decoded or walked: [`crate::Goroutine::error`]. The
/// listing goes on; the entry keeps what was found before the error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoroutineError {
    /// Its g struct, or a word of its stack, could not be read.
    #[error(transparent)]
    Mem(#[from] MemError),
    /// Its g struct holds impossible values.
    #[error("corrupt {what} at {addr:#x}")]
    Corrupt { what: &'static str, addr: u64 },
    /// Running, but on no thread the caller supplied registers for.
    #[error("goroutine running on other thread; stack unavailable")]
    RunningElsewhere,
    /// Not running, and its saved pc is 0.
    #[error("no saved context")]
    NoSavedContext,
    /// A pc outside every function of the pclntab.
    #[error("unknown pc {pc:#x}")]
    UnknownPc { pc: u64 },
    /// The pcsp table has no entry for `pc`.
    #[error("no frame size information for {function} at {pc:#x}")]
    NoFrameSize { function: String, pc: u64 },
    /// The pcsp table gives a negative frame size at `pc`.
    #[error("negative frame size in {function} at {pc:#x}")]
    NegativeFrameSize { function: String, pc: u64 },
    /// An outer frame of a function that writes SP (its caller cannot be found).
    #[error("cannot unwind through SP-writing function {function}")]
    SpWrite { function: String },
    /// The signal frame's `ucontext` at `at` could not be read.
    #[error("cannot read the signal context at {at:#x}")]
    UnreadableSignalContext { at: u64 },
    /// The frame at `sp` ends above the stack's upper bound `hi`.
    #[error("frame of {function} at sp {sp:#x} leaves the stack (hi {hi:#x})")]
    LeavesStack { function: String, sp: u64, hi: u64 },
    /// The walk hit [`crate::unwind::MAX_PHYSICAL_FRAMES`].
    #[error("more than {} frames", crate::unwind::MAX_PHYSICAL_FRAMES)]
    TooManyFrames,
}
