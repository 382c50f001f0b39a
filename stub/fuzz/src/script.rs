//! Fuzz input → the byte strings sent to gostub.
//!
//! Input: a flags byte (bit 0: no-ack mode, bit 1: write packets allowed, bit 2: attach to a
//! fixture the harness started, bits 3-5 all set: detach after this input; as ASCII digits `0`-`7`
//! and `8`-`?` for a detach), then lines:
//!
//! | line | sent |
//! | --- | --- |
//! | `!bytes` | the bytes as they are (framing garbage, `^C`, cut packets) |
//! | `~payload` | the payload with a wrong checksum |
//! | `%payload` | `$payload` with no `#XX` (a cut packet) |
//! | `*bytes` | a packet from the grammar below, chosen and filled in by the bytes |
//! | `payload` | the payload framed correctly |
//!
//! In payloads `@main`, `@main_odd` (main+1), `@hot`, `@hot_mid` (hot+3), `@marker`, `@message`, `@stack`, `@text_end`, `@unmapped`,
//! `@pid` and `@tid` become the fixture's real values (hex). Packets that would end the session
//! or reach outside the fixture (`D`, `k`, `vRun`, `vFile:unlink`, signals...) are never sent,
//! nor, without the write flag, `M`/`X`/`G`/`P` or a `Z0` off a function entry (an int3 in the
//! middle of an instruction breaks the program); breakpoints are removed again by the harness.

/// Values the placeholders stand for.
pub struct Values {
    pub main: u64,
    pub hot: u64,
    pub marker: u64,
    pub message: u64,
    pub stack: u64,
    pub text_end: u64,
    pub pid: i32,
    pub tid: i32,
}

impl Values {
    fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "main" => format!("{:x}", self.main),
            "hot" => format!("{:x}", self.hot),
            "marker" => format!("{:x}", self.marker),
            "message" => format!("{:x}", self.message),
            "stack" => format!("{:x}", self.stack),
            "text_end" => format!("{:x}", self.text_end),
            "main_odd" => format!("{:x}", self.main + 1),
            "hot_mid" => format!("{:x}", self.hot + 3),
            "unmapped" => "10000".to_string(),
            "pid" => format!("{:x}", self.pid),
            "tid" => format!("{:x}", self.tid),
            _ => return None,
        })
    }

    /// False for a software breakpoint off a function entry: its int3 would patch the middle
    /// of an instruction, or data, which the program may run into (a write in all but name).
    pub fn clean_z0(&self, payload: &[u8]) -> bool {
        let Some(rest) = payload.strip_prefix(b"Z0,") else {
            return true;
        };
        let addr = rest.split(|&b| b == b',').next().unwrap_or_default();
        let addr = String::from_utf8_lossy(addr);
        [self.main, self.hot]
            .iter()
            .any(|a| format!("{a:x}") == addr)
    }

    /// Replaces `@name` placeholders.
    pub fn expand(&self, line: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(line.len());
        let mut i = 0;
        while i < line.len() {
            if line[i] == b'@' {
                let n = line[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_lowercase() || **b == b'_')
                    .count();
                let name = String::from_utf8_lossy(&line[i + 1..i + 1 + n]);
                if let Some(v) = self.get(&name) {
                    out.extend_from_slice(v.as_bytes());
                    i += 1 + n;
                    continue;
                }
            }
            out.push(line[i]);
            i += 1;
        }
        out
    }
}

/// One step of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A correctly framed packet: one reply is due.
    Packet(Vec<u8>),
    /// Bytes that need not get a reply (bad checksum, cut packet, garbage).
    Raw(Vec<u8>),
}

pub struct Script {
    pub no_ack: bool,
    pub writes: bool,
    pub ops: Vec<Op>,
}

/// Payload prefixes never sent: they end the session, kill or signal the fixture, or touch
/// host files.
const NEVER: &[&[u8]] = &[
    b"D",
    b"k",
    b"vKill",
    b"vRun",
    b"vAttach",
    b"R",
    b"!",
    b"C",
    b"S",
    b"QNonStop",
    b"vFile:unlink",
    b"vFile:pwrite",
    b"vFile:setfs",
    b"vFile:open",
    b"vCtrlC",
];
/// Payload prefixes sent only with the write flag.
const WRITES: &[&[u8]] = &[b"M", b"X", b"G", b"P"];

/// Whether `payload` may be sent.
pub fn allowed(payload: &[u8], writes: bool) -> bool {
    let signals =
        payload.starts_with(b"vCont") && payload.windows(2).any(|w| w == b";C" || w == b";S");
    let read_only_open =
        payload.starts_with(b"vFile:open:") && payload.split(|&b| b == b',').nth(1) == Some(b"0");
    if read_only_open {
        return true;
    }
    !signals
        && !NEVER.iter().any(|p| payload.starts_with(p))
        && (writes || !WRITES.iter().any(|p| payload.starts_with(p)))
}

/// Raw bytes with every `$` that starts a packet not [`allowed`] (or a breakpoint the harness
/// would not know to remove) turned into `%`.
fn defuse(raw: &[u8], writes: bool) -> Vec<u8> {
    let mut out = raw.to_vec();
    for i in 0..out.len() {
        if out[i] == b'$' {
            let rest = &raw[i + 1..];
            if !allowed(rest, writes) || rest.starts_with(b"Z") || rest.starts_with(b"z") {
                out[i] = b'%';
            }
        }
    }
    out
}

/// Reads bytes of a `*` line in turn; zeros once they run out.
struct Bytes<'a>(&'a [u8]);
impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
        from[self.next() as usize % from.len()]
    }
}

const ADDRS: &[&str] = &[
    "@main",
    "@hot",
    "@marker",
    "@message",
    "@stack",
    "@text_end",
    "@unmapped",
    "0",
    "ffffffffffffffff",
    "ffffffffffffff00",
    "7fffffffffff",
    "1",
    "@main_odd",
    "@hot_mid",
];
const LENS: &[&str] = &[
    "0",
    "1",
    "2",
    "4",
    "8",
    "10",
    "100",
    "fff",
    "1000",
    "3ffe",
    "3fff",
    "4000",
    "7ffc",
    "8000",
    "ffff",
    "10000",
    "ffffffff",
    "ffffffffffffffff",
    "",
    "-1",
];
const TIDS: &[&str] = &[
    "p@pid.@tid",
    "@tid",
    "-1",
    "0",
    "p-1.-1",
    "p@pid.-1",
    "p@pid.0",
    "7ffffff",
    "p1.1",
    "pz.1",
    "p@pid.7ffffff",
    "40000001",
];
const MONITOR: &[&str] = &[
    "help",
    "stats",
    "threads",
    "threads os",
    "threads goroutines",
    "goroutines",
    "goroutine 1 bt",
    "traceback",
    "traceback all",
    "traceback nonsense",
    "",
    "goroutine",
    "goroutine x y z",
];
const JUNK: &[&str] = &[
    "", ":c", "c", "?x", "!", " c", ";", ";x", ";c;", ";c:zz", ";r1", ";t", ";s",
];

/// A packet of the grammar; `$` marks where bytes become hex data.
fn grammar(b: &mut Bytes, writes: bool) -> Vec<u8> {
    let n = b.next();
    let s = match n % 40 {
        0 => "?".to_string(),
        1 => "g".to_string(),
        2 => format!("p{:x}", b.next() % 0x60),
        3 => format!("m{},{}", b.pick(ADDRS), b.pick(LENS)),
        4 => "qfThreadInfo".to_string(),
        5 => "qsThreadInfo".to_string(),
        6 => "qC".to_string(),
        7 => format!("Hg{}", b.pick(TIDS)),
        8 => format!("Hc{}", b.pick(TIDS)),
        9 => format!("T{}", b.pick(TIDS)),
        10 => "qAttached".to_string(),
        11 => "vCont?".to_string(),
        12 => format!(
            "qXfer:features:read:target.xml:{},{}",
            b.pick(LENS),
            b.pick(LENS)
        ),
        13 => format!("qXfer:auxv:read::{},{}", b.pick(LENS), b.pick(LENS)),
        14 => format!("qXfer:exec-file:read::{},{}", b.pick(LENS), b.pick(LENS)),
        15 => format!("qXfer:threads:read::{},{}", b.pick(LENS), b.pick(LENS)),
        16 => format!(
            "qXfer:libraries-svr4:read::{},{}",
            b.pick(LENS),
            b.pick(LENS)
        ),
        17 => format!("qThreadExtraInfo,{}", b.pick(TIDS)),
        18 => format!("qRcmd,{}", hex(b.pick(MONITOR).as_bytes())),
        19 => "qHostInfo".to_string(),
        20 => "qProcessInfo".to_string(),
        21 => format!("qMemoryRegionInfo:{}", b.pick(ADDRS)),
        22 => format!("qThreadStopInfo{}", b.pick(TIDS)),
        23 => "jThreadsInfo".to_string(),
        24 => "qGetWorkingDir".to_string(),
        25 => format!("Z{},{},{}", b.next() % 6, b.pick(ADDRS), b.pick(LENS)),
        26 => format!("z{},{},{}", b.next() % 6, b.pick(ADDRS), b.pick(LENS)),
        27 => format!("vCont{}", b.pick(JUNK)),
        28 => format!("vCont;c:{}", b.pick(TIDS)),
        29 => format!("vCont;s:{}", b.pick(TIDS)),
        30 => format!(
            "vCont;r{},{}:{}",
            b.pick(ADDRS),
            b.pick(ADDRS),
            b.pick(TIDS)
        ),
        31 => ["c", "s", "vCont;c", "vCont;s:@tid;c"][b.next() as usize % 4].to_string(),
        32 => format!("qRegisterInfo{:x}", b.next()),
        33 => [
            "qOffsets",
            "qSymbol::",
            "vMustReplyEmpty",
            "qL1200",
            "QThreadSuffixSupported",
            "QListThreadsInStopReply",
            "qSupported",
            "qTStatus",
            "QStartNoAckMode",
        ][b.next() as usize % 9]
            .to_string(),
        34 => format!(
            "vFile:open:{},0,0",
            hex(b.pick(&["/proc/self/maps", "/nonexistent", ""]).as_bytes())
        ),
        35 => format!(
            "vFile:pread:{:x},{},{}",
            b.next() % 8,
            b.pick(LENS),
            b.pick(LENS)
        ),
        36 if writes => {
            let len = b.next() % 16;
            let data: Vec<u8> = (0..len).map(|_| b.next()).collect();
            format!(
                "M{},{:x}:{}",
                b.pick(ADDRS),
                (len as i32 + (b.next() % 3) as i32 - 1).max(0),
                hex(&data)
            )
        }
        37 if writes => {
            let len = b.next() % 16;
            let mut p = format!("X{},{:x}:", b.pick(ADDRS), len).into_bytes();
            let data: Vec<u8> = (0..len).map(|_| b.next()).collect();
            p.extend_from_slice(&escape(&data));
            return p;
        }
        38 if writes => format!("P{:x}={:016x}", b.next() % 0x20, u64::from(b.next()) << 8),
        39 => format!("vFile:close:{:x}", b.next() % 8),
        _ => format!("qRcmd,{}", hex(b"stats")),
    };
    s.into_bytes()
}

/// `$`, `#` and `}` escaped as in binary data, so a text line is always one whole packet.
fn escape(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    for &c in payload {
        match c {
            b'$' | b'#' | b'}' => out.extend_from_slice(&[b'}', c ^ 0x20]),
            c => out.push(c),
        }
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

impl Script {
    pub fn parse(data: &[u8], v: &Values) -> Script {
        let flags = data.first().copied().unwrap_or(0);
        let writes = flags & 2 != 0;
        let mut ops = Vec::new();
        for line in data.get(1..).unwrap_or(&[]).split(|&b| b == b'\n') {
            let Some((&kind, rest)) = line.split_first() else {
                continue;
            };
            let op = match kind {
                b'!' => Op::Raw(defuse(&v.expand(rest), writes)),
                b'~' | b'%' => {
                    let payload = v.expand(rest);
                    let mut framed = crate::session::frame(&payload);
                    if kind == b'~' {
                        let last = framed.len() - 1;
                        framed[last] = if framed[last] == b'0' { b'1' } else { b'0' };
                    } else {
                        framed.truncate(framed.len() - 3);
                    }
                    Op::Raw(defuse(&framed, writes))
                }
                b'*' => Op::Packet(v.expand(&grammar(&mut Bytes(rest), writes))),
                _ => Op::Packet(escape(&v.expand(line))),
            };
            if matches!(&op, Op::Packet(p) if !allowed(p, writes) || !writes && !v.clean_z0(p)) {
                continue;
            }
            ops.push(op);
        }
        Script {
            no_ack: flags & 1 != 0,
            writes,
            ops,
        }
    }
}
