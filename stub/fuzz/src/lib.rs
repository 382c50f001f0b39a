//! Packet-layer fuzz harness for gostub: the packet tap, gdbstub's parser and the stub's
//! handlers, run by the real `gostub` binary (a debug build: overflow checks on) against a live
//! fixture process (`threads_lib`), over stdio, launched by gostub or attached to.
//!
//! [`run`] sends one input's packets (see [`script`]) and then checks:
//! - every correctly framed packet got a reply (a resume gets its stop reply: the harness sends
//!   ^C right behind it, or after a short run window while breakpoints are armed), and the
//!   stream still answers a sync read afterwards, in step;
//! - gostub did not panic or exit, the fixture is alive and every thread of it is stopped;
//! - unless a write took effect, the fixture's `.text` equals the ELF file's once the harness
//!   has removed every breakpoint the input inserted.
//!
//! Sessions (one per mode: ack or no-ack, launch or attach) are reused across inputs. An input
//! whose writes took effect retires its session. A clean session ends after
//! [`SESSION_INPUTS`] inputs, or an input whose flags hold [`DETACH`], with `D` (the last input's breakpoints left for gostub to remove),
//! and then the fixture must keep running (its `counter` advances), its `.text` must equal the
//! ELF's, and it must still be alive for the harness's SIGKILL.
//!
//! Waits are for events (a reply, gostub's exit, the fixture's progress); the deadlines only
//! bound the failure path. A failed check panics, which libFuzzer records as a crash.
//! `GOSTUB_BIN` and `GOSTUB_FUZZ_FIXTURE` override the binaries (default: the workspace's
//! `target/debug/gostub` and `fixtures/build/threads_lib`); `GOSTUB_FUZZ_STATS=PATH` writes the
//! counters to `PATH.PID` every 100 inputs.

pub mod elf;
pub mod script;
pub mod session;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use script::{Op, Script, Values};
use session::Session;

/// A reply that has not come by then is taken as a resume that ran: ^C follows.
const REPLY_WAIT: Duration = Duration::from_secs(10);
/// After a ^C, the stop reply's deadline.
const AFTER_INTERRUPT: Duration = Duration::from_secs(10);
/// The sync read after raw bytes: raw bytes may hold a whole resume packet.
const SYNC_WAIT: Duration = Duration::from_secs(1);
/// While breakpoints are armed, a resume runs this long (unless it stops first) before ^C.
const RUN_WINDOW: Duration = Duration::from_millis(10);
/// After a detach, the fixture must call `hot_function` this many times (4 workers, each every
/// 2 ms: every thread runs through it).
const PROGRESS: u64 = 16;
/// Flag bits that end the session with this input (one random flags byte in 8).
const DETACH: u8 = 0x38;
/// A clean session serves this many inputs (launch, attach), then detaches.
const SESSION_INPUTS: [u64; 2] = [400, 40];

macro_rules! counters {
    ($($name:ident: $label:literal),* $(,)?) => {
        /// Counters over the life of the process, printed every 1000 inputs and by [`report`].
        pub struct Stats { $(pub $name: AtomicU64,)* }
        pub static STATS: Stats = Stats { $($name: AtomicU64::new(0),)* };
        pub fn report() -> String {
            let mut s = String::new();
            $(s.push_str(&format!("{} {} ", $label, STATS.$name.load(Ordering::Relaxed)));)*
            s.push_str("(all checks passed)");
            s
        }
    };
}

counters! {
    inputs: "inputs",
    packets: "packets",
    raw_chunks: "raw chunks",
    interrupts: "^C sent",
    late: "late replies",
    launches: "launched sessions",
    attaches: "attached sessions",
    text_checks: "text checks",
    detaches: "detach checks",
    dirty: "sessions retired after writes",
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
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
    /// The fixture's `counter` variable.
    counter: u64,
    inputs: u64,
}

static LIVE: Mutex<[Option<Live>; 4]> = Mutex::new([None, None, None, None]);

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

fn start(no_ack: bool, attach: bool) -> Live {
    static REAPER: std::sync::Once = std::sync::Once::new();
    REAPER.call_once(|| {
        session::become_subreaper();
        // SAFETY: registers a plain function; sets a signal disposition. libFuzzer's own
        // `main` does not ignore SIGPIPE as Rust's does: the `+` that acknowledges `D`'s `OK`
        // may meet a gostub that has already exited, and must get EPIPE, not kill the harness.
        unsafe {
            libc::atexit(end_sessions);
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        // Every panic (a failed check or not) is noted: fork mode deletes a crashed job's log.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            note(&format!("FAILED: {info}"));
            previous(info);
        }));
    });
    let session = Session::start(&gostub_bin(), &fixture_path(), no_ack, attach);
    bump(if attach {
        &STATS.attaches
    } else {
        &STATS.launches
    });
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
        counter: base + elf.symbol("counter"),
        inputs: 0,
    }
}

/// At exit (libFuzzer's -max_total_time, the end of the replay test): kill and reap every
/// session, so no attached fixture outlives the harness and their CPU time is counted.
extern "C" fn end_sessions() {
    if let Ok(mut lives) = LIVE.try_lock() {
        lives.iter_mut().for_each(|l| *l = None);
    }
    write_stats();
}

/// Panics with `what`, the session's last writes and gostub's stderr.
fn fail(live: &Live, what: &str) -> ! {
    panic!(
        "{what}\n--- last writes to gostub ---\n{}--- gostub stderr (tail) ---\n{}",
        live.session.history(),
        live.session.stderr_text()
    );
}

fn fixture_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

/// Whether a packet may resume the program (anything `vCont` but the query, `c`, `s`).
fn may_resume(p: &[u8]) -> bool {
    p.starts_with(b"c") || p.starts_with(b"s") || p.starts_with(b"vCont") && p != b"vCont?"
}

/// Every thread of `pid` is in a ptrace stop (or gone).
fn all_stopped(pid: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks.filter_map(|t| t.ok()).all(|t| {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").map(|(_, r)| r.as_bytes()[0]);
        matches!(state, None | Some(b't' | b'T' | b'Z' | b'X'))
    })
}

/// Sends `payload` and waits for its reply. A resume gets a ^C right behind it (or after
/// [`RUN_WINDOW`] with breakpoints `armed`); any other packet gets one only if no reply came
/// in [`REPLY_WAIT`]. `None` when even then nothing came.
fn exchange(live: &mut Live, payload: &[u8], armed: bool) -> Option<Vec<u8>> {
    bump(&STATS.packets);
    let s = &mut live.session;
    let mut bytes = session::frame(payload);
    let resume = may_resume(payload);
    if resume && !armed {
        bytes.push(0x03);
        bump(&STATS.interrupts);
    }
    s.send(&bytes);
    let first = if resume && armed {
        RUN_WINDOW
    } else {
        REPLY_WAIT
    };
    if let Some(r) = s.reply(first) {
        return Some(r);
    }
    bump(&STATS.interrupts);
    s.send(&[0x03]);
    let r = s.reply(AFTER_INTERRUPT);
    if !(resume && armed) {
        bump(&STATS.late);
        let log = s.stderr_text();
        let cut = (log.len().saturating_sub(12_000)..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(0);
        let tail = &log[cut..];
        note(&format!(
            "no reply in {first:?} to {:?}; after a ^C: {:?}; last writes:\n{}--- gostub stderr (tail) ---\n{tail}",
            String::from_utf8_lossy(payload),
            r.as_deref().map(String::from_utf8_lossy),
            s.history()
        ));
    }
    r
}

/// Appends a line to `GOSTUB_FUZZ_STATS.notes.PID` (events that passed but are worth a look).
fn note(line: &str) {
    if let Some(path) = std::env::var_os("GOSTUB_FUZZ_STATS") {
        let mut path = PathBuf::from(path).into_os_string();
        path.push(format!(".notes.{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        if let Ok(mut f) = file {
            let _ = std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes());
        }
    }
}

/// A read whose reply is recognisable by its length proves the stream is in step; then every
/// thread must be stopped. After `raw` bytes (which may hold a whole resume) a missing reply or
/// a running program gets a ^C and a new sync read; otherwise they fail.
fn sync(live: &mut Live, raw: bool) {
    static ROUND: AtomicU64 = AtomicU64::new(0);
    let mut tries = 0;
    loop {
        let len = 17 + ROUND.fetch_add(1, Ordering::Relaxed) % 29;
        let payload = format!("m{:x},{len:x}", live.values.main);
        bump(&STATS.packets);
        live.session.send(&session::frame(payload.as_bytes()));
        let end = Instant::now()
            + if raw && tries == 0 {
                SYNC_WAIT
            } else {
                REPLY_WAIT
            };
        let answered = loop {
            let wait = end.saturating_duration_since(Instant::now());
            match live.session.reply(wait) {
                Some(r) if r.len() as u64 == 2 * len && r.iter().all(u8::is_ascii_hexdigit) => {
                    break true
                }
                Some(_) => {}
                None => break false,
            }
        };
        let stopped = answered && settled(live.values.pid);
        if stopped {
            return;
        }
        if !raw || tries > 0 {
            let what = if answered {
                "left running"
            } else {
                "unanswered"
            };
            fail(live, &format!("sync read {payload} {what}"));
        }
        // A raw chunk resumed the program: stop it and sync again.
        note(&format!(
            "sync read {payload} after raw bytes: answered {answered}, ^C sent"
        ));
        tries += 1;
        bump(&STATS.interrupts);
        live.session.send(&[0x03]);
    }
}

/// [`all_stopped`], allowing the threads a moment to reach their stop after the reply.
fn settled(pid: i32) -> bool {
    (0..100).any(|i| {
        if i > 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
        all_stopped(pid)
    })
}

fn check_text(live: &Live) {
    let elf = elf();
    let addr = live.values.text_end - elf.text.size;
    let want = elf.text_bytes();
    let mut got = vec![0u8; want.len()];
    read_mem(live, addr, &mut got);
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
    bump(&STATS.text_checks);
}

/// Reads the fixture's memory through /proc/PID/mem; a failure (the fixture gone) fails.
fn read_mem(live: &Live, addr: u64, buf: &mut [u8]) {
    let read = std::fs::File::open(format!("/proc/{}/mem", live.values.pid))
        .and_then(|f| std::os::unix::fs::FileExt::read_exact_at(&f, buf, addr));
    if let Err(e) = read {
        fail(
            live,
            &format!("reading the fixture's memory at {addr:#x}: {e}"),
        );
    }
}

fn read_u64(live: &Live, addr: u64) -> u64 {
    let mut b = [0u8; 8];
    read_mem(live, addr, &mut b);
    u64::from_le_bytes(b)
}

/// Ends a clean session with `D`; the fixture must then run on (its `counter` advances by
/// [`PROGRESS`]) with the ELF's `.text`, and be alive for the harness's SIGKILL.
fn detach_and_check(live: &mut Live) {
    if let Err(e) = live.session.detach(REPLY_WAIT) {
        fail(live, &e);
    }
    let end = Instant::now() + Duration::from_secs(30);
    let mut before = None;
    loop {
        if let Some(status) = live.session.fixture_ended() {
            fail(
                live,
                &format!("the fixture died after detach (wait status {status:#x})"),
            );
        }
        let now = read_u64(live, live.counter);
        if now.wrapping_sub(*before.get_or_insert(now)) >= PROGRESS {
            break;
        }
        if Instant::now() >= end {
            fail(live, "the fixture made no progress after detach");
        }
        // The fixture's own pace (usleep(2000) per call): nothing to wait on but time.
        std::thread::sleep(Duration::from_micros(500));
    }
    check_text(live);
    let status = live.session.kill_fixture();
    if !(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL) {
        fail(
            live,
            &format!("the fixture ended by itself after detach (wait status {status:#x})"),
        );
    }
    bump(&STATS.detaches);
}

/// Whether a packet, answered `reply`, may have changed the program: a write that was not
/// refused, or a breakpoint off a function entry.
fn wrote(p: &[u8], reply: &[u8], v: &Values) -> bool {
    let accepted = !reply.is_empty() && !reply.starts_with(b"E");
    accepted && (p.first().is_some_and(|c| b"MXGP".contains(c)) || !v.clean_z0(p))
}

/// Runs one fuzz input; panics on a failed check.
pub fn run(data: &[u8]) {
    let mut lives = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    let flags = data.first().copied().unwrap_or(0);
    let (no_ack, attach) = (flags & 1 != 0, flags & 4 != 0);
    let slot = &mut lives[usize::from(no_ack) * 2 + usize::from(attach)];
    if !slot.as_mut().is_some_and(|l| l.session.server_alive()) {
        *slot = None;
        *slot = Some(start(no_ack, attach));
    }
    let live = slot.as_mut().unwrap();
    live.inputs += 1;
    let last = flags & DETACH == DETACH
        || live.inputs >= SESSION_INPUTS[usize::from(live.session.attached())];
    let n = STATS.inputs.fetch_add(1, Ordering::Relaxed);
    let script = Script::parse(data, &live.values);
    let mut breakpoints: Vec<Vec<u8>> = Vec::new();
    let mut dirty = false;
    for op in &script.ops {
        match op {
            Op::Packet(p) => {
                let Some(reply) = exchange(live, p, !breakpoints.is_empty()) else {
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
                dirty |= wrote(p, &reply, &live.values);
            }
            Op::Raw(bytes) => {
                bump(&STATS.raw_chunks);
                // Raw bytes may hold framed write packets whose replies go unseen.
                dirty |= script.writes;
                live.session.send(bytes);
                sync(live, true);
            }
        }
        if !live.session.server_alive() && !script.writes {
            fail(live, &format!("gostub exited after {op:?}"));
        }
        if !live.session.server_alive() {
            break;
        }
    }
    // The last input of a clean session leaves its breakpoints for the detach to remove.
    let detach = last && !dirty;
    if live.session.server_alive() {
        if !detach {
            for z in breakpoints.iter().rev() {
                let mut remove = z.clone();
                remove[0] = b'z';
                if exchange(live, &remove, true).is_none() {
                    fail(
                        live,
                        &format!("no reply to {:?}", String::from_utf8_lossy(&remove)),
                    );
                }
            }
        }
        if !detach && !breakpoints.is_empty() {
            // gostub writes breakpoint changes at the next resume: resume (and stop at once)
            // so the text shows the removals.
            if exchange(live, b"vCont;c", false).is_none() {
                fail(live, "no stop reply to vCont;c and ^C");
            }
        }
        sync(live, false);
    }
    if live.session.stderr_text().contains("' panicked at ") {
        fail(live, "gostub panicked");
    }
    if dirty || !live.session.server_alive() {
        // Writes may have changed text, data or registers: start afresh next time.
        bump(&STATS.dirty);
        *slot = None;
    } else {
        if !fixture_alive(live.values.pid) {
            fail(live, "the fixture died");
        }
        if detach {
            detach_and_check(live);
            *slot = None;
        } else {
            check_text(live);
        }
    }
    if n % 100 == 99 {
        write_stats();
    }
    if n % 1000 == 999 {
        eprintln!("gostub-fuzz: {}", report());
    }
}

fn write_stats() {
    if let Some(path) = std::env::var_os("GOSTUB_FUZZ_STATS") {
        let mut path = PathBuf::from(path).into_os_string();
        path.push(format!(".counts.{}", std::process::id()));
        let _ = std::fs::write(path, report() + "\n");
    }
}
