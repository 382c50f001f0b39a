//! Packet-layer fuzz harness for gostub: the packet tap, gdbstub's parser and the stub's
//! handlers, run by the real `gostub` binary (a debug build: overflow checks on) against a live
//! fixture process (`threads_lib`), over stdio.
//!
//! [`run`] sends one input's packets (see [`script`]) and then checks:
//! - every correctly framed packet got a reply (a resume gets its stop reply, after a ^C if the
//!   program keeps running), and the stream still answers a sync read afterwards;
//! - gostub did not panic or exit, and the fixture is alive;
//! - without the write flag, the fixture's `.text` equals the ELF file's once the harness has
//!   removed every breakpoint the input inserted.
//!
//! A failed check panics, which libFuzzer records as a crash. Sessions (one for ack mode, one
//! for no-ack mode) are reused across inputs; an input with write packets retires its session.
//! `GOSTUB_BIN` and `GOSTUB_FUZZ_FIXTURE` override the binaries (default: the workspace's
//! `target/debug/gostub` and `fixtures/build/threads_lib`).

pub mod elf;
pub mod script;
pub mod session;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use script::{Op, Script, Values};
use session::Session;

/// How long a reply may take before the harness sends ^C (the packet may have resumed the
/// program), and how long after that.
const FIRST_WAIT: Duration = Duration::from_millis(300);
const AFTER_INTERRUPT: Duration = Duration::from_secs(5);
/// A session serves this many inputs before a fresh one is started.
const SESSION_INPUTS: u64 = 5000;

/// Counters over the life of the process, printed every 1000 inputs and by [`report`].
pub struct Stats {
    pub inputs: AtomicU64,
    pub packets: AtomicU64,
    pub raw_chunks: AtomicU64,
    pub interrupts: AtomicU64,
    pub sessions: AtomicU64,
    pub text_checks: AtomicU64,
}

pub static STATS: Stats = Stats {
    inputs: AtomicU64::new(0),
    packets: AtomicU64::new(0),
    raw_chunks: AtomicU64::new(0),
    interrupts: AtomicU64::new(0),
    sessions: AtomicU64::new(0),
    text_checks: AtomicU64::new(0),
};

pub fn report() -> String {
    let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
    format!(
        "inputs {} packets {} raw chunks {} ^C sent {} sessions {} text checks {} (all passed)",
        g(&STATS.inputs),
        g(&STATS.packets),
        g(&STATS.raw_chunks),
        g(&STATS.interrupts),
        g(&STATS.sessions),
        g(&STATS.text_checks)
    )
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn gostub_bin() -> PathBuf {
    std::env::var_os("GOSTUB_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/debug/gostub"))
}

pub fn fixture_path() -> PathBuf {
    std::env::var_os("GOSTUB_FUZZ_FIXTURE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("fixtures/build/threads_lib"))
}

/// True when the gostub binary and the fixture exist (the replay test skips otherwise).
pub fn available() -> bool {
    gostub_bin().is_file() && fixture_path().is_file()
}

struct Live {
    session: Session,
    values: Values,
    inputs: u64,
}

static LIVE: Mutex<[Option<Live>; 2]> = Mutex::new([None, None]);

/// The fixture's load base (0 unless PIE) and the end of its stack, from /proc/PID/maps.
fn layout(pid: i32, elf: &elf::Elf, path: &std::path::Path) -> (u64, u64) {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let exe = std::fs::canonicalize(path).unwrap();
    let exe = exe.to_string_lossy();
    let mut base = None;
    let mut stack = 0;
    for l in maps.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let Some((a, b)) = f.first().and_then(|r| r.split_once('-')) else {
            continue;
        };
        let (a, b) = (
            u64::from_str_radix(a, 16).unwrap(),
            u64::from_str_radix(b, 16).unwrap(),
        );
        if f.get(5) == Some(&&*exe) && f.get(2) == Some(&"00000000") && base.is_none() {
            base = Some(a);
        }
        if f.get(5) == Some(&"[stack]") {
            stack = b;
        }
    }
    let base = base.unwrap_or_else(|| panic!("{exe} not mapped in {pid}:\n{maps}"));
    (if elf.is_pie() { base } else { 0 }, stack)
}

fn elf() -> &'static elf::Elf {
    static ELF: std::sync::OnceLock<elf::Elf> = std::sync::OnceLock::new();
    ELF.get_or_init(|| elf::Elf::read(&fixture_path()))
}

fn start(no_ack: bool) -> Live {
    let session = Session::start(&gostub_bin(), &fixture_path(), no_ack);
    STATS.sessions.fetch_add(1, Ordering::Relaxed);
    let elf = elf();
    let (base, stack) = layout(session.pid, elf, &fixture_path());
    let values = Values {
        main: base + elf.symbol("main"),
        hot: base + elf.symbol("hot_function"),
        marker: base + elf.symbol("marker"),
        message: base + elf.symbol("message"),
        stack: stack.saturating_sub(0x100),
        text_end: base + elf.text.addr + elf.text.size,
        pid: session.pid,
        tid: session.tid,
    };
    Live {
        session,
        values,
        inputs: 0,
    }
}

fn fail(live: &Live, what: &str) -> ! {
    panic!(
        "{what}\n--- gostub stderr (tail) ---\n{}",
        live.session.stderr_text()
    );
}

fn fixture_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

/// Sends `payload` and waits for its reply; a ^C follows if none comes at first. `None` when
/// even then nothing came.
fn exchange(live: &mut Live, payload: &[u8]) -> Option<Vec<u8>> {
    STATS.packets.fetch_add(1, Ordering::Relaxed);
    let s = &mut live.session;
    s.send(&session::frame(payload));
    if let Some(r) = s.reply(FIRST_WAIT) {
        return Some(r);
    }
    STATS.interrupts.fetch_add(1, Ordering::Relaxed);
    s.send(&[0x03]);
    s.reply(AFTER_INTERRUPT)
}

/// A read whose reply is recognisable by its length: proves the stream is in step.
fn sync(live: &mut Live, n: u64) {
    let len = 17 + n % 13;
    let payload = format!("m{:x},{len:x}", live.values.main);
    STATS.packets.fetch_add(1, Ordering::Relaxed);
    live.session.send(&session::frame(payload.as_bytes()));
    let mut wait = FIRST_WAIT;
    loop {
        match live.session.reply(wait) {
            Some(r) if r.len() as u64 == 2 * len && r.iter().all(u8::is_ascii_hexdigit) => return,
            Some(_) => {}
            None if wait == FIRST_WAIT => {
                // A raw chunk may have resumed the program (a whole `vCont;c` in it).
                STATS.interrupts.fetch_add(1, Ordering::Relaxed);
                live.session.send(&[0x03]);
                wait = AFTER_INTERRUPT;
            }
            None => fail(live, &format!("sync read {payload} unanswered")),
        }
    }
}

fn check_text(live: &Live) {
    let elf = elf();
    let addr = live.values.text_end - elf.text.size;
    let want = elf.text_bytes();
    let mut got = vec![0u8; want.len()];
    let f = std::fs::File::open(format!("/proc/{}/mem", live.values.pid)).unwrap();
    std::os::unix::fs::FileExt::read_exact_at(&f, &mut got, addr).unwrap();
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap();
        fail(
            live,
            &format!(
                "text mismatch at {:#x}: live {:02x?} file {:02x?}",
                addr + at as u64,
                &got[at..(at + 8).min(got.len())],
                &want[at..(at + 8).min(want.len())]
            ),
        );
    }
    STATS.text_checks.fetch_add(1, Ordering::Relaxed);
}

/// Runs one fuzz input; panics on a failed check.
pub fn run(data: &[u8]) {
    let mut lives = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    let no_ack = data.first().is_some_and(|f| f & 1 != 0);
    let slot = &mut lives[no_ack as usize];
    if slot.as_ref().is_none_or(|l| l.inputs >= SESSION_INPUTS) {
        *slot = None;
        *slot = Some(start(no_ack));
    }
    let live = slot.as_mut().unwrap();
    live.inputs += 1;
    let n = STATS.inputs.fetch_add(1, Ordering::Relaxed);
    let script = Script::parse(data, &live.values);
    let mut breakpoints: Vec<Vec<u8>> = Vec::new();
    for op in &script.ops {
        match op {
            Op::Packet(p) => {
                let Some(reply) = exchange(live, p) else {
                    fail(
                        live,
                        &format!("no reply to {:?}", String::from_utf8_lossy(p)),
                    );
                };
                if p.starts_with(b"Z") && reply == b"OK" {
                    breakpoints.push(p.clone());
                }
                if p == b"QStartNoAckMode" && reply == b"OK" {
                    live.session.no_ack = true;
                }
            }
            Op::Raw(bytes) => {
                STATS.raw_chunks.fetch_add(1, Ordering::Relaxed);
                live.session.send(bytes);
                sync(live, n);
            }
        }
        if !live.session.server_alive() && !script.writes {
            fail(live, &format!("gostub exited after {op:?}"));
        }
        if !live.session.server_alive() {
            break;
        }
    }
    if live.session.server_alive() {
        for z in breakpoints.iter().rev() {
            let mut remove = z.clone();
            remove[0] = b'z';
            if exchange(live, &remove).is_none() {
                fail(
                    live,
                    &format!("no reply to {:?}", String::from_utf8_lossy(&remove)),
                );
            }
        }
        if !breakpoints.is_empty() {
            // gostub writes breakpoint changes at the next resume: run briefly so the text
            // shows the removals.
            live.session.send(&session::frame(b"vCont;c"));
            std::thread::sleep(Duration::from_millis(5));
            live.session.send(&[0x03]);
            STATS.interrupts.fetch_add(1, Ordering::Relaxed);
            if live.session.reply(AFTER_INTERRUPT).is_none() {
                fail(live, "no stop reply to vCont;c and ^C");
            }
        }
        sync(live, n);
    }
    let stderr = live.session.stderr_text();
    if stderr.contains("panicked at") {
        fail(live, "gostub panicked");
    }
    if !script.writes {
        if !fixture_alive(live.values.pid) {
            fail(live, "the fixture died");
        }
        check_text(live);
    } else {
        // Writes may have changed text, data or registers: start afresh next time.
        *slot = None;
    }
    if n % 1000 == 999 {
        eprintln!("gostub-fuzz: {}", report());
    }
}
