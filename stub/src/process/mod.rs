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
mod os_tables;
mod procfs;
mod regs;
mod session;
mod siginfo;
mod signals;
mod svr4;
mod terminal;
mod thread_db;
mod threads;
mod tls;
mod wait;

pub use backend::Backend;
pub use debugregs::HwKind;
pub use error::ProcessError;
pub use events::{Origin, StopEvent};
pub use inferior::non_stop::{NonStop, NonStopEvent, Request, ThreadSet};
pub use inferior::ForkEvents;
use inferior::Inferior;
pub use launch::{set_style as set_launch_style, Stdio, Style as LaunchStyle};
pub use os_tables::{os_table, OsTable, OS_TABLE_TYPES};
pub use procfs::{hostname, program_of, Region};
pub use regs::{cpu_has_avx, XState};
pub use session::{Session, StartOptions};
pub use siginfo::SIGINFO_SIZE;
pub use signals::SignalSet;
#[cfg(test)]
pub use svr4::Library;
pub use svr4::{dt_debug_slot, LinkMap};
pub use thread_db::link_map_tls_fields;
pub use threads::Action;
pub use tls::{static_program_tls_address, tls_address};

/// Raw ptrace register access, for the register conversion's live round-trip test only.
#[cfg(test)]
pub(crate) mod regs_for_tests {
    pub(crate) use super::regs::tests::with_stopped_child;
    pub(crate) use super::regs::{get_gprs, get_xstate, set_gprs, set_xstate};
}
