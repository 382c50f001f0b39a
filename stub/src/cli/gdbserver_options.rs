//! gdbserver's own options, accepted so that anything that starts gdbserver (GDB's testsuite
//! boards, IDEs, scripts) can start gostub unchanged.
//!
//! Each has gdbserver's meaning or is a documented no-op:
//!
//! * `--wrapper WRAPPER... --`: programs start as `WRAPPER... PROGRAM ARGS`; the stop gdb sees
//!   is PROGRAM's first instruction, after the wrapper's own exec (clap ends the list at `--`).
//! * `--(no-)disable-randomization`: ASLR off (the default, as gdbserver) or on.
//! * `--(no-)startup-with-shell`: no-op. gostub always execs PROGRAM directly, as gdbserver's
//!   `--no-startup-with-shell` does: no globbing or variable expansion in ARGS.
//! * `--disable-packet=LIST`: checked against gdbserver's names, then ignored: gostub always
//!   offers vCont, T stop replies, qC and qfThreadInfo.
//! * `--debug`, `--remote-debug`, `--event-loop-debug`: log gostub's decisions / every packet
//!   (the `gdbstub` crate's trace log) / nothing more, on stderr or in `--debug-file=FILE`.
//!   `--debug-format=timestamp|all` stamps each line, `none` does not.
//! * `--selftest[=FILTER]`: gostub's tests are `cargo test`; it prints gdbserver's summary line
//!   for no built-in tests and exits.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::builder::PossibleValuesParser;

/// Where and what gostub logs (gdbserver's debug options).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DebugOptions {
    /// `--debug`: gostub's own debug log.
    pub debug: bool,
    /// `--remote-debug`: every packet.
    pub remote: bool,
    /// `--debug-file`: the log goes here instead of stderr.
    pub file: Option<PathBuf>,
    /// `--debug-format=timestamp` (or `all`).
    pub timestamps: bool,
}

#[derive(Debug, clap::Args)]
#[command(next_help_heading = "gdbserver options")]
pub(super) struct GdbserverOptions {
    /// Start programs through WRAPPER (a command and its arguments, ended by `--`), e.g.
    /// `--wrapper env FOO=1 -- :1234 ./prog`.
    #[arg(
        long,
        value_name = "WRAPPER",
        num_args = 1..,
        value_terminator = "--",
        allow_hyphen_values = true
    )]
    wrapper: Vec<OsString>,

    /// Run programs with address-space randomisation disabled (the default).
    #[arg(long, overrides_with = "no_disable_randomization")]
    disable_randomization: bool,

    /// Leave address-space randomisation on.
    #[arg(long)]
    no_disable_randomization: bool,

    /// Accepted for gdbserver compatibility; gostub always execs PROGRAM directly.
    #[arg(long, overrides_with = "no_startup_with_shell")]
    startup_with_shell: bool,

    /// Exec PROGRAM directly (what gostub always does).
    #[arg(long)]
    no_startup_with_shell: bool,

    /// gdbserver's packet names (vCont, T, Tthread, qC, qfThreadInfo, threads); accepted and
    /// ignored.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        value_parser = PossibleValuesParser::new(["vCont", "T", "Tthread", "qC", "qfThreadInfo", "threads"])
    )]
    disable_packet: Vec<String>,

    /// Log gostub's debug messages.
    #[arg(long)]
    debug: bool,

    /// Log every remote-protocol packet.
    #[arg(long)]
    remote_debug: bool,

    /// Accepted for gdbserver compatibility (gostub has no event-loop log).
    #[arg(long)]
    event_loop_debug: bool,

    /// Write the debug log to FILE instead of stderr.
    #[arg(long, value_name = "FILE")]
    debug_file: Option<PathBuf>,

    /// Extra content in debug output: all, none or timestamp.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        value_parser = PossibleValuesParser::new(["all", "none", "timestamp"])
    )]
    debug_format: Vec<String>,

    /// Run the built-in self tests (gostub has none: its tests are `cargo test`) and exit.
    #[arg(long, value_name = "FILTER", num_args = 0..=1, require_equals = true)]
    pub(super) selftest: Option<Option<String>>,
}

impl GdbserverOptions {
    pub(super) fn wrapper(&self) -> Vec<OsString> {
        self.wrapper.clone()
    }

    pub(super) fn disable_randomization(&self) -> bool {
        !self.no_disable_randomization
    }

    pub(super) fn debug(&self) -> DebugOptions {
        let last = self.debug_format.last().map(String::as_str);
        DebugOptions {
            debug: self.debug,
            remote: self.remote_debug,
            file: self.debug_file.clone(),
            timestamps: matches!(last, Some("all" | "timestamp")),
        }
    }
}

/// What `--selftest` prints: gdbserver's summary line, for no tests.
pub const SELFTEST_SUMMARY: &str = "Ran 0 unit tests, 0 failed";

#[cfg(test)]
mod tests {
    use super::super::{parse_from, Config, Mode};
    use super::*;

    fn ok(args: &[&str]) -> Config {
        parse_from(std::iter::once("gostub").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn wrapper_ends_at_double_dash() {
        let c = ok(&["--wrapper", "env", "-u", "X", "--", ":1", "prog", "-a"]);
        assert_eq!(c.wrapper, ["env", "-u", "X"].map(OsString::from));
        let Mode::Launch { program, args } = c.mode else {
            panic!("{:?}", c.mode)
        };
        assert!(program.is_absolute() && program.ends_with("prog"));
        assert_eq!(args, [OsString::from("-a")]);
    }

    #[test]
    fn gdbserver_flags_are_accepted() {
        let c = ok(&[
            "--once",
            "--disable-packet=vCont,T,threads",
            "--debug",
            "--remote-debug",
            "--event-loop-debug",
            "--debug-file=/tmp/x.log",
            "--debug-format=none,timestamp",
            "--startup-with-shell",
            "--no-startup-with-shell",
            "--no-disable-randomization",
            ":1",
            "/bin/true",
        ]);
        assert!(!c.disable_randomization);
        assert_eq!(
            c.debug,
            DebugOptions {
                debug: true,
                remote: true,
                file: Some("/tmp/x.log".into()),
                timestamps: true
            }
        );
        assert!(
            ok(&[
                "--no-disable-randomization",
                "--disable-randomization",
                ":1",
                "p"
            ])
            .disable_randomization
        );
        assert!(
            parse_from(["gostub", "--disable-packet=bogus", ":1", "p"]).is_err(),
            "unknown packet names are refused, as gdbserver does"
        );
    }

    #[test]
    fn selftest_needs_no_comm() {
        assert_eq!(ok(&["--selftest"]).mode, Mode::Selftest);
        assert_eq!(ok(&["--selftest=foo"]).mode, Mode::Selftest);
    }
}
