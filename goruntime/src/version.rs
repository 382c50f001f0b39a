//! Go toolchain versions: parsing `go1.X.Y` strings (as found in `.go.buildinfo` and
//! `runtime.buildVersion`) and the supported range, Go 1.19 to 1.27.
//!
//! Quirks: release candidates and betas look like `go1.21rc2` / `go1.22beta1` (no patch);
//! development toolchains say `devel go1.27-abcdef ...`; some vendors append suffixes such as
//! `go1.21.13 X:boringcrypto`. Only the minor version matters for runtime layouts.

use crate::error::GoError;
use std::fmt;

/// Oldest supported minor version of Go 1.x.
pub const MIN_MINOR: u32 = 19;
/// Newest supported minor version of Go 1.x.
pub const MAX_MINOR: u32 = 27;

/// A parsed Go version, e.g. `go1.27.3` = { major 1, minor 27, patch 3 }.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// The string as the binary spells it.
    pub raw: String,
}

impl GoVersion {
    /// Parses `go1.X[.Y][rcN|betaN][ suffix]`, also `devel go1.X-...`. Returns `None` for
    /// anything else.
    pub fn parse(s: &str) -> Option<GoVersion> {
        let raw = s.trim().to_string();
        let mut t = raw.as_str();
        if let Some(rest) = t.strip_prefix("devel ") {
            t = rest;
        }
        let t = t.strip_prefix("go")?;
        let t = t.split(|c: char| c.is_whitespace()).next().unwrap_or("");
        let mut nums = [0u32; 3];
        let mut count = 0usize;
        for (slot, part) in nums.iter_mut().zip(t.split('.')) {
            let digits: String = part.chars().take_while(|c| c.is_ascii_digit()).collect();
            if digits.is_empty() {
                break;
            }
            *slot = digits.parse().ok()?;
            count = count.saturating_add(1);
            if digits.len() != part.len() {
                break;
            }
        }
        if count < 2 {
            return None;
        }
        let [major, minor, patch] = nums;
        Some(GoVersion {
            major,
            minor,
            patch,
            raw,
        })
    }

    /// True when the version is within Go 1.19 to 1.27.
    pub fn is_supported(&self) -> bool {
        self.major == 1 && (MIN_MINOR..=MAX_MINOR).contains(&self.minor)
    }

    /// `Ok(())` or [`GoError::UnsupportedVersion`].
    pub fn check_supported(&self) -> Result<(), GoError> {
        if self.is_supported() {
            Ok(())
        } else {
            Err(GoError::UnsupportedVersion {
                found: self.raw.clone(),
            })
        }
    }

    /// True when this is Go 1.`minor` or newer.
    pub fn at_least(&self, minor: u32) -> bool {
        self.major > 1 || (self.major == 1 && self.minor >= minor)
    }
}

impl fmt::Display for GoVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let v = GoVersion::parse("go1.27.3").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (1, 27, 3));
        assert!(v.is_supported());
        let v = GoVersion::parse("go1.21rc2").unwrap();
        assert_eq!((v.minor, v.patch), (21, 0));
        let v = GoVersion::parse("devel go1.27-abc123 Tue").unwrap();
        assert_eq!(v.minor, 27);
        let v = GoVersion::parse("go1.21.13 X:boringcrypto").unwrap();
        assert_eq!(v.patch, 13);
        assert!(GoVersion::parse("gox").is_none());
        assert!(GoVersion::parse("").is_none());
        assert!(!GoVersion::parse("go1.18.10").unwrap().is_supported());
        assert!(!GoVersion::parse("go1.28").unwrap().is_supported());
        let e = GoVersion::parse("go1.17")
            .unwrap()
            .check_supported()
            .unwrap_err();
        assert!(e.to_string().contains("Go 1.19 to 1.27"), "{e}");
    }
}
