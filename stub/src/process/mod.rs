//! Process control: everything that touches ptrace and /proc. It decides (threads, stops,
//! breakpoints, resume, when a process is killed) and never formats packets: /proc facts come
//! back as data, which `gdb/` formats.
//!
//! The surface is narrow: the [`Backend`] the protocol glue talks to, the [`Session`] that owns
//! it, its events, actions and errors, and the data it returns. `regs` stays public for the
//! register values (`XState`) the target description encodes.

mod backend;
mod breakpoints;
mod core;
mod debugregs;
mod error;
mod events;
mod inferior;
mod launch;
mod memory;
mod procfs;
pub mod regs;
mod session;
mod signals;
mod svr4;
mod threads;
mod wait;

pub use backend::Backend;
pub use debugregs::HwKind;
pub use error::ProcessError;
pub use events::{Origin, StopEvent};
use inferior::Inferior;
pub use launch::Stdio;
pub use procfs::{hostname, program_of, Region};
pub use session::{Session, StartOptions};
pub use signals::SignalSet;
#[cfg(test)]
pub use svr4::Library;
pub use svr4::LinkMap;
pub use threads::Action;
