//! Reading /proc files in a few large reads.
//!
//! Kernel quirk: /proc files report a length of 0, so `fs::read_to_string` sizes its buffer
//! from nothing and reads a maps file in a dozen growing pieces. These read 64 KiB at a time.

use std::io::Read;

const CHUNK: usize = 64 * 1024;

/// The whole file, in reads of up to 64 KiB.
pub fn read(path: &str) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let mut bytes = Vec::with_capacity(CHUNK);
    let mut chunk = vec![0u8; CHUNK];
    loop {
        match file.read(&mut chunk)? {
            0 => return Ok(bytes),
            n => bytes.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The whole file as text.
pub fn read_text(path: &str) -> std::io::Result<String> {
    String::from_utf8(read(path)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// The first number after `key` (e.g. `"Tgid:"`) in a /proc status file.
pub fn status_field(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_status_and_maps() {
        let status = read_text("/proc/self/status").unwrap();
        assert_eq!(
            status_field(&status, "Pid:"),
            Some(u64::from(std::process::id()))
        );
        assert!(read_text("/proc/self/maps").unwrap().contains("[stack]"));
        assert!(read("/proc/self/nonexistent").is_err());
    }
}
