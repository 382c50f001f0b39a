//! lldb packets gdbstub cannot answer well, answered through the packet tap: `qHostInfo` and
//! `qProcessInfo` (with `ostype:linux`, the real pid and the hex-encoded triple, as lldb-server
//! sends them) and `qMemoryRegionInfo` (from /proc/PID/maps, which lldb uses while unwinding).

use super::GdbTarget;

/// Payload prefixes the tap hands to [`GdbTarget::answer_lldb`].
pub const INTERCEPTS: &[&str] = &[
    "qHostInfo",
    "qProcessInfo",
    "qMemoryRegionInfo",
    "qGetWorkingDir",
];

const TRIPLE: &str = "x86_64-pc-linux-gnu";

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn common_keys() -> String {
    format!(
        "triple:{};ostype:linux;vendor:pc;endian:little;ptrsize:8;",
        hex(TRIPLE)
    )
}

impl GdbTarget {
    /// The reply payload for an intercepted packet.
    pub fn answer_lldb(&self, payload: &str) -> String {
        let pid = self.pid();
        if payload == "qHostInfo" {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            let host = host.trim();
            return format!(
                "{}hostname:{};watchpoint_exceptions_received:after;",
                common_keys(),
                hex(host)
            );
        }
        let Some(pid) = pid else { return "E03".into() };
        if payload == "qProcessInfo" {
            let ppid = status_field(pid.as_raw(), "PPid:").unwrap_or(0);
            let uid = status_field(pid.as_raw(), "Uid:").unwrap_or(0);
            let gid = status_field(pid.as_raw(), "Gid:").unwrap_or(0);
            return format!(
                "pid:{:x};parent-pid:{ppid:x};real-uid:{uid:x};real-gid:{gid:x};effective-uid:{uid:x};effective-gid:{gid:x};{}",
                pid.as_raw(),
                common_keys()
            );
        }
        if payload == "qGetWorkingDir" {
            return match std::fs::read_link(format!("/proc/{pid}/cwd")) {
                Ok(p) => hex(&p.to_string_lossy()),
                Err(_) => "E01".into(),
            };
        }
        if let Some(addr) = payload.strip_prefix("qMemoryRegionInfo:") {
            let Ok(addr) = u64::from_str_radix(addr, 16) else {
                return "E16".into();
            };
            let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
                return "E01".into();
            };
            return memory_region_info(&maps, addr);
        }
        String::new()
    }
}

fn status_field(pid: i32, key: &str) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// lldb-server's answer for the region holding `addr`, or the unmapped gap around it.
fn memory_region_info(maps: &str, addr: u64) -> String {
    let mut gap_start = 0u64;
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some((lo, hi)) = range.split_once('-') else {
            continue;
        };
        let (Ok(lo), Ok(hi)) = (u64::from_str_radix(lo, 16), u64::from_str_radix(hi, 16)) else {
            continue;
        };
        if addr < lo {
            return format!("start:{gap_start:x};size:{:x};", lo - gap_start);
        }
        if addr < hi {
            let p: String = perms
                .chars()
                .filter(|c| matches!(c, 'r' | 'w' | 'x'))
                .collect();
            let name = fields.nth(3).unwrap_or("");
            let name = if name.is_empty() {
                String::new()
            } else {
                format!("name:{};", hex(name))
            };
            return format!("start:{lo:x};size:{:x};permissions:{p};{name}", hi - lo);
        }
        gap_start = hi;
    }
    format!("start:{gap_start:x};size:{:x};", u64::MAX - gap_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
00400000-00401000 r-xp 00000000 08:01 123 /bin/prog
00600000-00602000 rw-p 00000000 00:00 0
7ffff000-80000000 rw-p 00000000 00:00 0 [stack]
";

    #[test]
    fn region_inside_a_mapping() {
        assert_eq!(
            memory_region_info(MAPS, 0x400010),
            format!(
                "start:400000;size:1000;permissions:rx;name:{};",
                hex("/bin/prog")
            )
        );
        assert_eq!(
            memory_region_info(MAPS, 0x600000),
            "start:600000;size:2000;permissions:rw;"
        );
    }

    #[test]
    fn unmapped_address_gets_the_gap() {
        assert_eq!(
            memory_region_info(MAPS, 0x500000),
            "start:401000;size:1ff000;"
        );
        assert_eq!(memory_region_info(MAPS, 0x10), "start:0;size:400000;");
        assert!(memory_region_info(MAPS, 0x9000_0000).starts_with("start:80000000;"));
    }

    #[test]
    fn triple_is_hex_encoded() {
        assert!(common_keys().contains("triple:7838365f36342d70632d6c696e75782d676e75;"));
    }
}
