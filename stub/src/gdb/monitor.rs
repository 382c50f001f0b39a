//! `monitor …` commands (`qRcmd`; lldb: `process plugin packet monitor …`). Unknown commands
//! get a message naming `monitor help`, never an error that ends the session.

use gdbstub::outputln;
use gdbstub::target::ext::monitor_cmd::{ConsoleOutput, MonitorCmd};

use super::GdbTarget;

const HELP: &str = "\
gostub monitor commands:
  help                 this text
  stats                memory cache hits, misses, syscalls and bytes: last stop and total";

impl GdbTarget {
    /// The figures `monitor stats` prints and the per-stop debug log line carries.
    pub fn stats_text(&self) -> String {
        let Some(inf) = &self.inferior else {
            return "no process".to_string();
        };
        let cache = inf.cache();
        let last = cache.stats_last_stop();
        let total = cache.stats_total();
        let sys = cache.source().counters();
        format!(
            "last stop: {} hits, {} misses, {} pages fetched in {} batches, {} bytes served\n\
             total:     {} hits, {} misses, {} pages fetched in {} batches, {} bytes served\n\
             syscalls:  {} process_vm_readv, {} pread64, {} pwrite64; {} bytes read, {} bytes written",
            last.hits,
            last.misses,
            last.pages_fetched,
            last.batches,
            last.bytes_served,
            total.hits,
            total.misses,
            total.pages_fetched,
            total.batches,
            total.bytes_served,
            sys.process_vm_readv,
            sys.pread64,
            sys.pwrite64,
            sys.bytes_read,
            sys.bytes_written,
        )
    }
}

impl MonitorCmd for GdbTarget {
    fn handle_monitor_cmd(
        &mut self,
        cmd: &[u8],
        mut out: ConsoleOutput<'_>,
    ) -> Result<(), Self::Error> {
        let cmd = String::from_utf8_lossy(cmd);
        let mut words = cmd.split_whitespace();
        match words.next() {
            None | Some("help") => outputln!(out, "{}", HELP),
            Some("stats") => outputln!(out, "{}", self.stats_text()),
            Some(other) => outputln!(
                out,
                "unknown monitor command '{}'; try 'monitor help'",
                other
            ),
        }
        Ok(())
    }
}
