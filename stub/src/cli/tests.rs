//! Unit tests of [`super`] (cli.rs), kept apart to hold the module under the size guide.

use super::*;

fn ok(args: &[&str]) -> Config {
    parse_from(std::iter::once("gostub").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn err(args: &[&str]) -> clap::Error {
    match parse_from(std::iter::once("gostub").chain(args.iter().copied())) {
        Ok(c) => panic!("{args:?} parsed to {c:?}"),
        Err(e) => e,
    }
}

fn local(port: u16) -> Comm {
    Comm::Tcp(SocketAddr::from(([127, 0, 0, 1], port)))
}

fn abs(program: &str) -> PathBuf {
    std::env::current_dir().unwrap().join(program)
}

fn os(words: &[&str]) -> Vec<OsString> {
    words.iter().map(OsString::from).collect()
}

#[test]
fn launch_with_defaults() {
    let c = ok(&[":1234", "./prog"]);
    assert_eq!(c.comm, local(1234));
    assert_eq!(
        c.mode,
        Mode::Launch {
            program: abs("./prog"),
            args: vec![]
        }
    );
    assert_eq!(c.threads_view, ThreadsView::Auto);
    assert_eq!(c.pass_signals, vec![14, 17, 23, 26, 27, 28, 29]);
    assert_eq!(c.traceback, "all");
    assert_eq!(c.max_threads, 128);
    assert_eq!(c.cache_pages, memcache::DEFAULT_MAX_PAGES);
    assert!(!c.once);
    assert!(c.wrapper.is_empty() && c.disable_randomization);
    assert_eq!(c.debug, DebugOptions::default());
    assert_eq!(exposure_warning(&c), None);
}

#[test]
fn program_args_pass_verbatim() {
    let c = ok(&[
        "--once", ":1234", "./prog", "-v", "--x", "--attach", "--", "y",
    ]);
    assert!(c.once);
    assert_eq!(
        c.mode,
        Mode::Launch {
            program: abs("./prog"),
            args: os(&["-v", "--x", "--attach", "--", "y"])
        }
    );
    let c = ok(&[":1234", "--", "-weird", "--help"]);
    assert_eq!(
        c.mode,
        Mode::Launch {
            program: abs("-weird"),
            args: os(&["--help"])
        }
    );
    // Options between COMM and PROGRAM are still the stub's.
    let c = ok(&[":1", "--threads=os", "prog", "--threads=goroutines"]);
    assert_eq!(c.threads_view, ThreadsView::Os);
    assert_eq!(
        c.mode,
        Mode::Launch {
            program: abs("prog"),
            args: os(&["--threads=goroutines"])
        }
    );
}

#[test]
fn attach_and_multi() {
    let c = ok(&["--attach", ":2345", "4242"]);
    assert_eq!(c.mode, Mode::Attach { pid: 4242 });
    assert_eq!(
        ok(&[":2345", "--attach", "7"]).mode,
        Mode::Attach { pid: 7 }
    );
    let c = ok(&["--multi", "-"]);
    assert_eq!(c.mode, Mode::Multi);
    assert_eq!(c.comm, Comm::Stdio);
}

#[test]
fn core_with_and_without_program() {
    let c = ok(&["--core", "-", "core.1"]);
    assert_eq!(c.comm, Comm::Stdio);
    assert_eq!(
        c.mode,
        Mode::Core {
            core: "core.1".into(),
            program: None
        }
    );
    assert_eq!(
        ok(&["--core", ":1", "core", "./prog"]).mode,
        Mode::Core {
            core: "core".into(),
            program: Some("./prog".into())
        }
    );
    assert_eq!(
        err(&["--core", ":1"]).kind(),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        err(&["--core", ":1", "a", "b", "c"]).kind(),
        ErrorKind::UnknownArgument
    );
    assert_eq!(
        err(&["--core", "--attach", ":1", "5"]).kind(),
        ErrorKind::ArgumentConflict
    );
}

#[test]
fn comm_forms() {
    assert_eq!(ok(&["stdio", "p"]).comm, Comm::Stdio);
    assert_eq!(ok(&["127.0.0.1:99", "p"]).comm, local(99));
    assert_eq!(
        ok(&["[::1]:5", "p"]).comm,
        Comm::Tcp("[::1]:5".parse().unwrap())
    );
    let c = ok(&["localhost:77", "p"]);
    assert!(matches!(c.comm, Comm::Tcp(a) if a.ip().is_loopback() && a.port() == 77));
    let c = ok(&["0.0.0.0:1234", "p"]);
    assert_eq!(c.comm, Comm::Tcp("0.0.0.0:1234".parse().unwrap()));
    assert!(exposure_warning(&c).is_some_and(|w| w.contains("0.0.0.0:1234")));
    assert_eq!(exposure_warning(&ok(&["-", "p"])), None);
}

#[test]
fn comm_errors() {
    let e = err(&["host.invalid.:1", "p"]);
    assert!(
        e.to_string()
            .contains("host.invalid.:1: cannot resolve name: "),
        "{e}"
    );
    for bad in ["/dev/ttyS0", ":99999", ":x", "host.invalid.:1", "1.2.3.4:"] {
        let e = err(&[bad, "p"]);
        assert_eq!(e.kind(), ErrorKind::ValueValidation, "{bad}: {e}");
        assert!(e.to_string().contains("COMM"), "{bad}: {e}");
    }
    assert_eq!(err(&[]).kind(), ErrorKind::MissingRequiredArgument);
}

#[test]
fn mode_errors() {
    let e = err(&[":1"]);
    assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
    assert!(e.to_string().contains("missing PROGRAM"));
    assert_eq!(
        err(&["--attach", ":1"]).kind(),
        ErrorKind::MissingRequiredArgument
    );
    for pid in ["abc", "0", "-5", "99999999999"] {
        let e = err(&["--attach", ":1", pid]);
        assert_eq!(e.kind(), ErrorKind::InvalidValue, "{pid}");
        assert!(e.to_string().contains("invalid PID"));
    }
    assert_eq!(
        err(&["--attach", ":1", "12", "13"]).kind(),
        ErrorKind::UnknownArgument
    );
    assert_eq!(
        err(&["--multi", ":1", "prog"]).kind(),
        ErrorKind::UnknownArgument
    );
    assert_eq!(
        err(&["--multi", "--attach", ":1", "5"]).kind(),
        ErrorKind::ArgumentConflict
    );
    assert_eq!(err(&[":1", ""]).kind(), ErrorKind::InvalidValue);
    assert_eq!(
        err(&["--bogus", ":1", "p"]).kind(),
        ErrorKind::UnknownArgument
    );
}

#[test]
fn pass_signals() {
    let c = ok(&["--pass-signals=SIGURG,alrm,14,sig34, SIGPOLL", ":1", "p"]);
    assert_eq!(c.pass_signals, vec![14, 23, 29, 34]);
    assert!(ok(&["--pass-signals=none", ":1", "p"])
        .pass_signals
        .is_empty());
    assert!(ok(&["--pass-signals", "NONE", ":1", "p"])
        .pass_signals
        .is_empty());
    for bad in [
        "",
        "SIGFOO",
        "65",
        "0",
        "SIGURG,,14",
        "SIGKILL",
        "trap",
        "19",
    ] {
        let e = err(&["--pass-signals", bad, ":1", "p"]);
        assert_eq!(e.kind(), ErrorKind::ValueValidation, "{bad}: {e}");
    }
}

#[test]
fn numeric_and_enum_options() {
    let c = ok(&[
        "--threads",
        "goroutines",
        "--traceback=crash",
        "--max-threads",
        "8",
        "--cache-pages=1",
        ":1",
        "p",
    ]);
    assert_eq!(c.threads_view, ThreadsView::Goroutines);
    assert_eq!(c.traceback, "crash");
    assert_eq!((c.max_threads, c.cache_pages), (8, 1));
    assert_eq!(
        err(&["--threads=green", ":1", "p"]).kind(),
        ErrorKind::InvalidValue
    );
    assert_eq!(
        err(&["--traceback=loud", ":1", "p"]).kind(),
        ErrorKind::InvalidValue
    );
    assert_eq!(
        err(&["--max-threads=0", ":1", "p"]).kind(),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        err(&["--cache-pages=-3", ":1", "p"]).kind(),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        err(&["--cache-pages=lots", ":1", "p"]).kind(),
        ErrorKind::ValueValidation
    );
}

#[test]
fn help_and_version() {
    let e = err(&["--help"]);
    assert_eq!(e.kind(), ErrorKind::DisplayHelp);
    let help = e.to_string();
    for needle in [
        "COMM PROGRAM [ARGS...]",
        "--attach COMM PID",
        "--multi COMM",
        "--once",
        "--threads",
        "--pass-signals",
        "--traceback",
        "--max-threads",
        "--cache-pages",
        "SIGURG",
        "stdio",
    ] {
        assert!(help.contains(needle), "help lacks {needle}:\n{help}");
    }
    assert_eq!(err(&["--version"]).kind(), ErrorKind::DisplayVersion);
}

#[test]
fn clap_definition_is_consistent() {
    Args::command().debug_assert();
}
