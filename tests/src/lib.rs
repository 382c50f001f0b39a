//! Harness for gostub's end-to-end tests.
//!
//! The tests run real `gdb` and `lldb-19` in batch mode against the server
//! under test, over the programs that `fixtures/build.sh` builds.
//!
//! The server under test is chosen by `GOSTUB_SERVER`:
//! - `gostub` (default): `target/debug/gostub`, or the binary named by `GOSTUB_BIN`;
//! - `gdbserver`: Debian's gdbserver, to check the gdb tests' assertions
//!   against a reference implementation;
//! - `lldb-server`: `lldb-server-19 gdbserver`, to check the lldb tests' assertions.
//!
//! Every process a test starts (server, debugger, fixture) is killed when its
//! guard is dropped, also when the test panics, and every debugger run has a
//! hard timeout.
//!
//! # How to add a test
//!
//! Put it in the `tests/tests/*.rs` file of its topic (each file is one test
//! binary), open it with the skip macro for the servers it cannot run
//! against, start at a symbol with [`stopped_at`], add commands and assert
//! on the output:
//!
//! ```ignore
//! #[test]
//! fn exit_code_reported() {
//!     skip_on_lldb_server!();
//!     stopped_at(&fixture("c_exit"), "before_exit")
//!         .cmds(["finish", "continue"])
//!         .run()
//!         .expect_finished()
//!         .expect(&[r"Value returned is \$1 = 7", r"exited with code 07"]);
//! }
//! ```
//!
//! - Skips: `skip_on_lldb_server!()` for gdb tests and raw-packet tests,
//!   `skip_on_gdbserver!()` for lldb tests, `skip_unless_gostub!()` for
//!   gostub's own features (monitor commands, goroutines),
//!   `skip_known_gdbserver_gap!("why")` for what gdbserver 13 gets wrong.
//! - Openings: [`stopped_at`] launches and uses gdb; [`Stopped::on`] takes a
//!   server started otherwise (`Server::start(Mode::Attach(pid))`,
//!   `Server::start_env`) and either client; [`Session::continue_to`] is the
//!   same break-and-continue inside a session built by hand (for commands
//!   before the breakpoint).
//! - Packets: `.cmd("maint packet qC")` through gdb, or [`Rsp`] for raw and
//!   malformed packets.
//! - Assertions: [`Run::expect`], [`Run::expect_not`], [`Run::count`],
//!   [`Run::capture`]; [`Stopped::run_clean`] runs and checks that the
//!   debugger finished and the server did not panic; [`Session::section`]
//!   and [`split_sections`] look at one part of a long session
//!   (`goroutine_labels_survive_os_view_round_trip` shows both).

mod client;
mod core;
mod go;
mod paths;
mod process;
mod rsp;
mod server;
mod skip;
mod stopped;
mod target;
mod transcript;
mod views;

pub use client::{Background, Client, Run, Session};
pub use core::{
    frame_positions, gcore, kernel_core, kernel_core_killed, without_positions, Crashed,
};
pub use go::{
    frame_lines, go_func_addr, go_func_normalise, go_state_without_minutes, parse_go_traceback,
    GoBlock, GoFrame, GOROUTINE_TID_BASE,
};
pub use paths::{fixture, go_fixture, workspace_root, TempDir, GO_NEWEST, GO_OLDEST};
pub use process::{
    kill, pid_alive, proc_state, task_states, thread_count, tracer_pid, wait_until, Fixture, Proc,
};
pub use regex::Regex;
pub use rsp::{frame, hex_decode, Rsp};
pub use server::{server_command, Mode, Server};
pub use skip::{is_gostub, server_kind, ServerKind};
pub use stopped::{stopped_at, stopped_non_stop_at, Stopped};
pub use target::{
    assert_text_clean, file_bytes_at, load_base, proc_maps, read_proc_mem, symbol_addr, Mapping,
};
pub use transcript::{split_sections, tail};
pub use views::{goroutine_threads, info_threads_rows, parse_goroutines_list, ListLine};
