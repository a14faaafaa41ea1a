// SPDX-License-Identifier: MIT OR Apache-2.0
//! File names that fit the file system's limit. A marker, claim or temp name is built from the
//! scene's name plus a prefix and a suffix, so a scene whose own name is near the 255-byte limit
//! gives a marker name over it. Such a name keeps the head of the stem and replaces the rest with
//! a hash of the whole stem. The markers and claims record the real scene path inside them, so a
//! shortened name is never taken for another scene's. No GStreamer.

use sha2::Digest;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// Longest file name (bytes) of the Linux file systems (ext4, xfs, btrfs, tmpfs, NFS).
pub const NAME_MAX: usize = 255;

/// Longest marker or claim name we make: leaves room for the suffixes added to it later
/// (`.tmp-<pid>-<16 hex>` of an atomic write, `.stale-<pid>-<16 hex>` of a claim take-over).
pub const MARKER_NAME_MAX: usize = NAME_MAX - 32;

const HASH_HEX: usize = 16;

/// `prefix + stem + suffix`, or, when that is longer than `max` bytes,
/// `prefix + <head of stem> + "~" + <16 hex of sha256(stem)> + suffix`. The head is cut at a
/// character boundary when the stem is UTF-8 (names travel as UTF-8 strings in events).
pub fn fit(prefix: &[u8], stem: &OsStr, suffix: &[u8], max: usize) -> OsString {
    let s = stem.as_bytes();
    if prefix.len() + s.len() + suffix.len() <= max {
        return join(prefix, s, suffix);
    }
    let hash = sha2::Sha256::digest(s);
    let tag: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    let tag = format!("~{}", &tag[..HASH_HEX]);
    let room = max.saturating_sub(prefix.len() + suffix.len() + tag.len());
    let head = head_within(s, room);
    let mut shortened = head.to_vec();
    shortened.extend_from_slice(tag.as_bytes());
    join(prefix, &shortened, suffix)
}

/// Whether a file name of `len` bytes is accepted by the file systems we run on.
pub fn fits(name: &OsStr) -> bool {
    name.as_bytes().len() <= NAME_MAX
}

fn head_within(s: &[u8], room: usize) -> &[u8] {
    if s.len() <= room {
        return s;
    }
    match std::str::from_utf8(s) {
        Ok(text) => {
            let mut end = room;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            &s[..end]
        }
        Err(_) => &s[..room],
    }
}

fn join(prefix: &[u8], middle: &[u8], suffix: &[u8]) -> OsString {
    let mut v = Vec::with_capacity(prefix.len() + middle.len() + suffix.len());
    v.extend_from_slice(prefix);
    v.extend_from_slice(middle);
    v.extend_from_slice(suffix);
    OsString::from_vec(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_unchanged() {
        let n = fit(
            b".",
            OsStr::new("tape 1"),
            b".subtitles.done",
            MARKER_NAME_MAX,
        );
        assert_eq!(n, OsString::from(".tape 1.subtitles.done"));
    }

    #[test]
    fn long_names_hashed_within_limit_and_distinct() {
        let a = "é".repeat(130); // 260 bytes of two-byte characters
        let b = format!("{}x", "é".repeat(129));
        let na = fit(b".", OsStr::new(&a), b".subtitles.claim", MARKER_NAME_MAX);
        let nb = fit(b".", OsStr::new(&b), b".subtitles.claim", MARKER_NAME_MAX);
        assert!(na.len() <= MARKER_NAME_MAX, "{}", na.len());
        assert_ne!(na, nb, "different stems, different names");
        let s = na.to_str().expect("cut at a character boundary");
        assert!(
            s.starts_with(".éé") && s.ends_with(".subtitles.claim"),
            "{s}"
        );
        assert_eq!(
            na,
            fit(b".", OsStr::new(&a), b".subtitles.claim", MARKER_NAME_MAX),
            "stable"
        );
    }
}
