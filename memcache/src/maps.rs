//! Parsing `/proc/PID/maps` text into the address ranges whose bytes cannot change while the
//! mappings stay the same: readable, non-writable, private mappings of regular files (text,
//! rodata). Pure text in, ranges out, so it is testable without a process. [`mappings`] is the one
//! parser of the maps format: the stub's memory front and its lldb region answers use it too.
//!
//! Left out, because their bytes can change under a stopped reader:
//! - writable mappings and anonymous ones (inode 0, `[heap]`, `[stack]`);
//! - kernel pseudo-mappings (`[vdso]`, `[vvar]`, `[vsyscall]`);
//! - shared mappings (`s`): another process may write the file (`/dev/shm`, memfd);
//! - files under `/dev/` (device memory) and `(deleted)` files (mostly memfd and SysV segments);
//! - mappings without read permission (nothing to cache).

/// One line of `/proc/PID/maps`: `[start, end)`, permissions (`r-xp`), inode and path (empty for
/// an anonymous mapping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping<'a> {
    pub start: u64,
    pub end: u64,
    pub perms: &'a str,
    pub inode: u64,
    pub path: &'a str,
}

/// Every well-formed line of `maps_text`, in order; malformed lines are skipped.
pub fn mappings(maps_text: &str) -> impl Iterator<Item = Mapping<'_>> {
    maps_text.lines().filter_map(parse_line)
}

/// One line of the maps text, or `None` when it is malformed.
pub fn parse_line(line: &str) -> Option<Mapping<'_>> {
    let (range, rest) = field(line)?;
    let (perms, rest) = field(rest)?;
    let (_offset, rest) = field(rest)?;
    let (_dev, rest) = field(rest)?;
    let (inode, rest) = field(rest)?;
    let (start, end) = range.split_once('-')?;
    Some(Mapping {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        perms,
        inode: inode.parse().ok()?,
        path: rest.trim(),
    })
}

/// Half-open `[start, end)` ranges of immutable file-backed mappings, in the order of `maps_text`.
/// Malformed lines are skipped.
pub fn immutable_file_ranges(maps_text: &str) -> Vec<(u64, u64)> {
    mappings(maps_text)
        .filter_map(|m| immutable_range(&m))
        .collect()
}

fn immutable_range(m: &Mapping<'_>) -> Option<(u64, u64)> {
    let perms = m.perms.as_bytes();
    let immutable = m.start < m.end
        && matches!(perms, [b'r', w, _, b'p'] if *w != b'w')
        && m.inode != 0
        && m.path.starts_with('/')
        && !m.path.starts_with("/dev/")
        && !m.path.ends_with("(deleted)");
    immutable.then_some((m.start, m.end))
}

/// Splits off the next whitespace-separated field.
fn field(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    (end > 0).then(|| (&s[..end], &s[end..]))
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const MAPS: &str = "\
00400000-00401000 r--p 00000000 08:01 1234                               /usr/bin/prog
00401000-00480000 r-xp 00001000 08:01 1234                               /usr/bin/prog
00480000-004c0000 r--p 00080000 08:01 1234                               /usr/bin/prog
004c0000-004c5000 rw-p 000c0000 08:01 1234                               /usr/bin/prog
004c5000-004f0000 rw-p 00000000 00:00 0                                  [heap]
c000000000-c004000000 rw-p 00000000 00:00 0
7f0000000000-7f0000001000 r--s 00000000 00:1a 99                         /dev/shm/ring
7f0000001000-7f0000002000 r--p 00000000 00:05 77                         /dev/zero
7f0000002000-7f0000003000 r--p 00000000 00:01 55                         /memfd:jit (deleted)
7f0000003000-7f0000004000 ---p 00000000 08:01 4321                       /usr/lib/libc.so.6
7f0000004000-7f0000005000 r-xp 00000000 08:01 4321                       /usr/lib/libc.so.6
7f0000005000-7f0000006000 r--p 00000000 08:01 4444                       /opt/my app/lib x.so
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
7ffd0003c000-7ffd00040000 r--p 00000000 00:00 0                          [vvar]
7ffd00040000-7ffd00042000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
";

    #[test]
    fn keeps_readonly_private_file_mappings_only() {
        assert_eq!(
            immutable_file_ranges(MAPS),
            vec![
                (0x400000, 0x401000),
                (0x401000, 0x480000),
                (0x480000, 0x4c0000),
                (0x7f0000004000, 0x7f0000005000),
                (0x7f0000005000, 0x7f0000006000),
            ]
        );
    }

    #[test]
    fn every_line_is_parsed_with_its_path() {
        let all: Vec<Mapping<'_>> = mappings(MAPS).collect();
        assert_eq!(all.len(), 16);
        assert_eq!(
            all[11],
            Mapping {
                start: 0x7f0000005000,
                end: 0x7f0000006000,
                perms: "r--p",
                inode: 4444,
                path: "/opt/my app/lib x.so",
            }
        );
        assert_eq!(all[5].path, "");
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let text =
            "garbage\n\nzz-10 r--p 0 08:01 5 /a\n2000-1000 r--p 0 08:01 5 /a\n1000-2000 r--p\n\
                    1000-2000 r--p 0 08:01 x /a\n1000-2000 r-xp 0 08:01 5 /ok\n";
        assert_eq!(immutable_file_ranges(text), vec![(0x1000, 0x2000)]);
        assert!(immutable_file_ranges("").is_empty());
    }
}
