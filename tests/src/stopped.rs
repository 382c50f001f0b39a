//! The usual opening of a test: a program under the server under test and a
//! debugger session that connects, sets a breakpoint at a symbol and
//! continues to it. The test adds its own commands after that opening.

use crate::client::{Background, Client, Run, Session};
use crate::server::{Mode, Server};
use std::path::Path;
use std::time::Duration;

/// `program` launched (without arguments) under the server under test, and
/// a gdb session stopped at `symbol`: `file`, `target remote`,
/// `break symbol`, `continue`.
pub fn stopped_at(program: &Path, symbol: &str) -> Stopped {
    let server = Server::start(Mode::Launch(program, &[]));
    Stopped::on(server, Client::Gdb, program, symbol)
}

/// [`stopped_at`] with gdb in non-stop mode (`set non-stop on` before connecting): only the
/// thread that hit the breakpoint is stopped.
pub fn stopped_non_stop_at(program: &Path, symbol: &str) -> Stopped {
    let server = Server::start(Mode::Launch(program, &[]));
    let session = Session::new(Client::Gdb)
        .pre("set non-stop on")
        .file(program)
        .connect(&server)
        .continue_to(symbol);
    Stopped { server, session }
}

/// A server and a debugger session stopped at a symbol, to which a test adds
/// commands. The server lives as long as this does.
pub struct Stopped {
    pub server: Server,
    session: Session,
}

impl Stopped {
    /// The same opening on a server started otherwise (attached, with
    /// arguments or environment), for either client.
    pub fn on(server: Server, client: Client, program: &Path, symbol: &str) -> Stopped {
        let session = Session::new(client)
            .file(program)
            .connect(&server)
            .continue_to(symbol);
        Stopped { server, session }
    }
    pub fn cmd(self, c: impl Into<String>) -> Self {
        self.with(|s| s.cmd(c))
    }
    pub fn cmds<S: Into<String>>(self, cs: impl IntoIterator<Item = S>) -> Self {
        self.with(|s| s.cmds(cs))
    }
    /// `n` times the given commands.
    pub fn repeat(self, n: usize, cs: &[&str]) -> Self {
        self.with(|s| s.repeat(n, cs))
    }
    /// A marker line `@@S name` (see `split_sections`).
    pub fn section(self, name: &str) -> Self {
        self.with(|s| s.section(name))
    }
    pub fn timeout(self, t: Duration) -> Self {
        self.with(|s| s.timeout(t))
    }
    fn with(mut self, f: impl FnOnce(Session) -> Session) -> Self {
        self.session = f(self.session);
        self
    }

    /// Runs the debugger to completion (or its timeout).
    pub fn run(&self) -> Run {
        self.session.run()
    }
    /// Runs it and asserts that it finished and that the server did not
    /// panic: the usual first checks of a test.
    pub fn run_clean(&self) -> Run {
        let run = self.session.run();
        run.expect_finished();
        self.server.assert_no_panic();
        run
    }
    /// Starts the debugger and returns at once.
    pub fn spawn(&self) -> Background {
        self.session.spawn()
    }
}
