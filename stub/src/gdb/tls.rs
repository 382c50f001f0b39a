//! `qGetTLSAddr:THREAD,OFFSET,LM`: the address of a thread-local variable, so gdb can read
//! `__thread` variables. This file translates: the thread's fs_base comes from its registers and
//! the address from the process layer (`process::tls_address`, which walks glibc's dtv, at the
//! `link_map` offsets the loaded glibc publishes: `process::link_map_tls_fields`).
//!
//! Protocol quirks met here:
//! - gdbstub 0.7 has no `qGetTLSAddr`: the tap answers it. It is not a `qSupported` feature;
//!   gdb sends it when it needs a TLS address and takes an empty reply as "not supported", as
//!   gdbserver 13 offers nothing for it either.
//! - gdbserver finds TLS through libthread_db, which it loads from `monitor set
//!   libthread-db-search-path` (default `$sdir:$pdir`, the system's); GDB's testsuite checks
//!   that a path without `libthread_db.so.1` makes TLS fail. gostub needs no libthread_db, but
//!   refuses TLS while the path set names no directory holding one, as gdbserver does when the
//!   path is set before the thread library loads (a path set later does not unload it there;
//!   here it applies at once).
//! - THREAD is `pPID.TID` with multiprocess, else `TID` (hex); in the goroutines view a
//!   goroutine's thread id names the OS thread that runs it (a parked goroutine has no thread
//!   pointer of its own and gets an error). OFFSET and LM (the module's `link_map` address)
//!   are hex; LM 0 is a static program's own TLS (it has no link map). The reply is the
//!   address in hex without `0x`; gdb only tests that an error is one.

use gdbstub::common::Tid;

use super::error::reply;
use super::thread_id::single_tid;
use super::{GdbTarget, StubError};
use crate::process::{link_map_tls_fields, static_program_tls_address, tls_address, ProcessError};

/// The packet prefix the tap hands to [`GdbTarget::tls_address`].
pub const PREFIX: &str = "qGetTLSAddr:";

impl GdbTarget {
    /// The reply to `qGetTLSAddr:ARGS`.
    pub fn tls_address(&mut self, args: &str) -> String {
        match self.try_tls_address(args) {
            Ok(addr) => format!("{addr:x}"),
            Err(e) => reply(e),
        }
    }

    /// `monitor set libthread-db-search-path [PATH]`: gdbserver's reply.
    pub fn set_thread_db_path(&mut self, path: &str) -> String {
        let path = match path.trim() {
            "" => DEFAULT_THREAD_DB_PATH,
            set => set,
        };
        self.thread_db_path = path.to_string();
        format!("libthread-db-search-path set to `{path}'")
    }

    fn try_tls_address(&mut self, args: &str) -> Result<u64, StubError> {
        let (tid, offset, lm) = parse(args).ok_or_else(|| StubError::BadArgument(args.into()))?;
        if !has_thread_db(&self.thread_db_path) {
            return Err(StubError::NoThreadDb(self.thread_db_path.clone()));
        }
        let os = self.os_tid(tid)?;
        let backend = self.backend()?;
        let fs_base = backend.gprs(os)?.fs_base;
        if lm == 0 {
            return Ok(
                static_program_tls_address(backend, fs_base, offset).map_err(ProcessError::from)?
            );
        }
        let map = backend.link_map()?;
        let fields = link_map_tls_fields(backend, &map).map_err(ProcessError::from)?;
        Ok(tls_address(backend, fields, fs_base, lm, offset).map_err(ProcessError::from)?)
    }
}

/// gdbserver's libthread_db search path: the system's directories, then the thread library's.
pub const DEFAULT_THREAD_DB_PATH: &str = "$sdir:$pdir";

/// Whether a libthread_db search path finds one: `$sdir` and `$pdir` (the system's and the
/// thread library's directories) always do, another directory when it holds the file.
fn has_thread_db(path: &str) -> bool {
    path.split(':').any(|dir| {
        matches!(dir, "$sdir" | "$pdir")
            || (!dir.is_empty() && std::path::Path::new(dir).join("libthread_db.so.1").exists())
    })
}

/// `THREAD,OFFSET,LM` → (thread, offset, link map).
fn parse(args: &str) -> Option<(Tid, u64, u64)> {
    let mut fields = args.split(',');
    let tid = single_tid(fields.next()?)?;
    let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
    let lm = u64::from_str_radix(fields.next()?, 16).ok()?;
    fields.next().is_none().then_some((tid, offset, lm))
}

#[cfg(test)]
mod tests {
    use super::{has_thread_db, parse, DEFAULT_THREAD_DB_PATH};

    #[test]
    fn the_thread_db_path_decides() {
        assert!(has_thread_db(DEFAULT_THREAD_DB_PATH));
        assert!(!has_thread_db("/foo/bar"));
        assert!(!has_thread_db(""));
        assert!(has_thread_db("/foo/bar:$pdir"));
    }

    #[test]
    fn arguments_parse_with_and_without_multiprocess() {
        let (tid, offset, lm) = parse("p2e81.2e95,8,7ffff7ffe2e0").unwrap();
        assert_eq!((tid.get(), offset, lm), (0x2e95, 8, 0x7fff_f7ff_e2e0));
        let (tid, offset, lm) = parse("1f,0,10").unwrap();
        assert_eq!((tid.get(), offset, lm), (0x1f, 0, 0x10));
        for bad in [
            "",
            "1f,0",
            "1f,0,10,4",
            "p1,0,10",
            "0,0,10",
            "zz,0,10",
            "1,g,10",
            "p1.-1,0,1",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
