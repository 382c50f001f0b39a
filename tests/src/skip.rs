//! Which server is under test (`GOSTUB_SERVER`), and the macros that skip a
//! test for it. Each macro is named for what it does, returns from the test
//! early and prints its reason (`SKIPPED: ...`), so that a skip is visible
//! with `--nocapture`.
//!
//! The quirks behind them: lldb 19 cannot use gdbserver 13 (no `swbreak+`,
//! the pc is reported one byte past a breakpoint), gdb 13 fails against
//! lldb-server, and gdbserver 13.1 mishandles some bad input that gostub must
//! survive.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    Gostub,
    Gdbserver,
    LldbServer,
}

pub fn server_kind() -> ServerKind {
    match std::env::var("GOSTUB_SERVER").as_deref() {
        Err(_) | Ok("") | Ok("gostub") => ServerKind::Gostub,
        Ok("gdbserver") => ServerKind::Gdbserver,
        Ok("lldb-server") => ServerKind::LldbServer,
        Ok(other) => panic!("GOSTUB_SERVER={other:?}: expected gostub, gdbserver or lldb-server"),
    }
}

pub fn is_gostub() -> bool {
    server_kind() == ServerKind::Gostub
}

/// Skips the rest of the test unless the server under test is gostub: for
/// features the reference servers do not have (monitor commands, the
/// goroutines view, ...).
#[macro_export]
macro_rules! skip_unless_gostub {
    () => {
        if !$crate::is_gostub() {
            eprintln!(
                "SKIPPED: gostub-only test, server under test is {:?}",
                $crate::server_kind()
            );
            return;
        }
    };
}

/// Skips the rest of the test when the server under test is gdbserver: for
/// lldb tests, which lldb 19 cannot run against gdbserver 13. They run
/// against gostub, and against lldb-server to check the assertions.
#[macro_export]
macro_rules! skip_on_gdbserver {
    () => {
        if $crate::server_kind() == $crate::ServerKind::Gdbserver {
            eprintln!("SKIPPED: lldb test, server under test is gdbserver");
            return;
        }
    };
}

/// Skips the rest of the test when the server under test is lldb-server: for
/// gdb tests (and raw-packet tests), which gdb 13 cannot run against it.
#[macro_export]
macro_rules! skip_on_lldb_server {
    () => {
        if $crate::server_kind() == $crate::ServerKind::LldbServer {
            eprintln!("SKIPPED: gdb test, server under test is lldb-server");
            return;
        }
    };
}

/// Skips a test that gdbserver 13 is known to fail (a gap gostub closes)
/// when the server under test is gdbserver, unless `GOSTUB_STRICT=1`.
#[macro_export]
macro_rules! skip_known_gdbserver_gap {
    ($why:expr) => {
        if $crate::server_kind() == $crate::ServerKind::Gdbserver
            && std::env::var_os("GOSTUB_STRICT").is_none()
        {
            eprintln!("SKIPPED: known gdbserver gap: {}", $why);
            return;
        }
    };
}
