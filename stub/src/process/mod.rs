//! Process control: everything that touches ptrace. It decides (threads, stops, breakpoints,
//! resume) and never formats packets.

pub mod breakpoints;
pub mod debugregs;
pub mod inferior;
pub mod launch;
mod memory;
pub mod procfs;
pub mod regs;
pub mod signals;
pub mod svr4;
pub mod threads;
mod wait;

pub use inferior::{Inferior, Origin, ProcessError, StopEvent};
