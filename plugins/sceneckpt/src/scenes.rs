// SPDX-License-Identifier: MIT OR Apache-2.0
//! Scene listing and the names of every checkpoint file of a scene. No GStreamer.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// File extensions (lower case) taken as scenes when `location` is a folder.
pub const SCENE_EXTENSIONS: &[&str] = &[
    "mp4", "mkv", "mov", "avi", "webm", "m4v", "mpg", "mpeg", "ts", "mts", "m2ts", "vob", "dv",
    "wav", "flac", "mp3", "ogg", "opus", "m4a",
];

pub fn has_scene_extension(name: &OsStr) -> bool {
    let b = name.as_bytes();
    match b.iter().rposition(|&c| c == b'.') {
        Some(i) if i > 0 => {
            let ext = &b[i + 1..];
            SCENE_EXTENSIONS
                .iter()
                .any(|e| e.as_bytes().eq_ignore_ascii_case(ext))
        }
        _ => false,
    }
}

/// The file name without its last extension (`a.b.mp4` -> `a.b`), as bytes-preserving OsString.
pub fn stem_of(path: &Path) -> OsString {
    let name = path.file_name().unwrap_or_default().as_bytes();
    let s = match name.iter().rposition(|&c| c == b'.') {
        Some(i) if i > 0 => &name[..i],
        _ => name,
    };
    OsStr::from_bytes(s).to_os_string()
}

fn is_glob(s: &[u8]) -> bool {
    s.iter().any(|c| matches!(c, b'*' | b'?' | b'['))
}

/// Shell-style match of one file name: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`; a leading `.` is
/// only matched by a literal `.` (as in the shell).
pub fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pat.first() != Some(&b'.') {
        return false;
    }
    glob_rec(pat, name)
}

fn glob_rec(p: &[u8], n: &[u8]) -> bool {
    let (mut pi, mut ni) = (0usize, 0usize);
    let (mut star_p, mut star_n) = (usize::MAX, 0usize);
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star_p = pi;
                    star_n = ni;
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, len)) = class_match(&p[pi..], n[ni]) {
                        if matched {
                            pi += len;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == b'[' {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                c => {
                    if c == n[ni] {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
            }
        }
        if star_p != usize::MAX {
            pi = star_p + 1;
            star_n += 1;
            ni = star_n;
            continue;
        }
        return false;
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// `[...]` at the start of `p`: Some((matches, pattern length)) or None if unterminated.
fn class_match(p: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(1), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

/// A file named like a scene that is not taken as one, and why (said to the user, never silent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub path: PathBuf,
    pub why: IgnoredWhy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoredWhy {
    /// The name starts with a dot (hidden; also how our own temp files look).
    Hidden,
    /// A folder, FIFO, device or socket named like a scene.
    NotAFile(&'static str),
    /// A symlink that leads nowhere or loops (the error says which).
    Unreadable(String),
}

impl std::fmt::Display for IgnoredWhy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IgnoredWhy::Hidden => write!(f, "its name starts with a dot (hidden)"),
            IgnoredWhy::NotAFile(kind) => write!(f, "it is a {kind}, not a file"),
            IgnoredWhy::Unreadable(e) => write!(f, "it cannot be opened ({e})"),
        }
    }
}

/// The scenes of a location, and the files named like scenes that are not taken as scenes.
#[derive(Debug, Default)]
pub struct Listing {
    pub scenes: Vec<PathBuf>,
    pub ignored: Vec<Ignored>,
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "folder"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

/// The scenes `location` names, sorted by file-name bytes: the regular files with a scene
/// extension in a folder, or the regular files matching a glob in its last component. Names
/// that look like scenes but are not taken (hidden, not a regular file, a dangling or looping
/// symlink) are listed in `ignored`.
pub fn list_scenes(location: &Path) -> io::Result<Listing> {
    let loc_bytes = location.as_os_str().as_bytes();
    let (dir, pattern): (PathBuf, Option<Vec<u8>>) = match location.file_name() {
        Some(last) if is_glob(last.as_bytes()) && !location.is_dir() => (
            location
                .parent()
                .map(|p| {
                    if p.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        p
                    }
                })
                .unwrap_or(Path::new("."))
                .to_path_buf(),
            Some(last.as_bytes().to_vec()),
        ),
        _ => (location.to_path_buf(), None),
    };
    if pattern.is_none() && !location.is_dir() {
        if location.is_file() && !is_glob(loc_bytes) {
            // A single file is a folder of one scene.
            return Ok(Listing {
                scenes: vec![location.to_path_buf()],
                ignored: Vec::new(),
            });
        }
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} is not a folder, a file or a glob that matches",
                location.display()
            ),
        ));
    }
    let mut out = Listing::default();
    for e in std::fs::read_dir(&dir)? {
        let name = e?.file_name();
        let n = name.as_bytes();
        let hidden = n.first() == Some(&b'.');
        let named_like_a_scene = match &pattern {
            Some(p) => glob_rec(p, n),
            None => hidden_aware_extension(&name),
        };
        if !named_like_a_scene {
            continue;
        }
        let path = dir.join(&name);
        if hidden
            && pattern
                .as_ref()
                .map(|p| p.first() != Some(&b'.'))
                .unwrap_or(true)
        {
            out.ignored.push(Ignored {
                path,
                why: IgnoredWhy::Hidden,
            });
            continue;
        }
        // Regular files only; a symlink to a regular file is a scene too (we only read it).
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => out.scenes.push(path),
            Ok(m) => out.ignored.push(Ignored {
                path,
                why: IgnoredWhy::NotAFile(kind_of(m.file_type())),
            }),
            Err(e) => out.ignored.push(Ignored {
                path,
                why: IgnoredWhy::Unreadable(e.to_string()),
            }),
        }
    }
    let by_name = |a: &PathBuf, b: &PathBuf| {
        a.file_name()
            .unwrap_or_default()
            .as_bytes()
            .cmp(b.file_name().unwrap_or_default().as_bytes())
    };
    out.scenes.sort_by(by_name);
    out.ignored.sort_by(|a, b| by_name(&a.path, &b.path));
    Ok(out)
}

/// A scene extension after a non-empty name, also for names starting with a dot
/// (`.x.mp4` is a hidden scene; `.mp4` alone is not named like one).
fn hidden_aware_extension(name: &OsStr) -> bool {
    let b = name.as_bytes();
    let rest = b.strip_prefix(b".").unwrap_or(b);
    has_scene_extension(OsStr::from_bytes(rest))
}

/// Where every file of one scene lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenePaths {
    pub scene: PathBuf,
    pub stem: OsString,
    pub markers_dir: PathBuf,
    pub output: PathBuf,
    pub claim: PathBuf,
    pub done: PathBuf,
    pub failed: PathBuf,
}

fn dot_name(stem: &OsStr, task: &str, kind: &str) -> OsString {
    let suffix = format!(".{task}.{kind}");
    crate::names::fit(b".", stem, suffix.as_bytes(), crate::names::MARKER_NAME_MAX)
}

impl ScenePaths {
    pub fn new(
        scene: &Path,
        task: &str,
        markers_dir: Option<&Path>,
        output_dir: Option<&Path>,
        output_ext: &str,
    ) -> Self {
        let dir = scene
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."));
        let stem = stem_of(scene);
        let markers_dir = markers_dir.unwrap_or(dir).to_path_buf();
        let mut out_name = stem.clone();
        out_name.push(".");
        out_name.push(output_ext);
        let output = output_dir.unwrap_or(dir).join(out_name);
        ScenePaths {
            scene: scene.to_path_buf(),
            claim: markers_dir.join(dot_name(&stem, task, "claim")),
            done: markers_dir.join(dot_name(&stem, task, "done")),
            failed: markers_dir.join(dot_name(&stem, task, "failed")),
            stem,
            markers_dir,
            output,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        assert!(has_scene_extension(OsStr::new("a.MP4")));
        assert!(has_scene_extension(OsStr::new("x y.m2ts")));
        assert!(!has_scene_extension(OsStr::new("a.srt")));
        assert!(!has_scene_extension(OsStr::new(".mp4")));
        assert!(!has_scene_extension(OsStr::new("mp4")));
    }

    #[test]
    fn stems_and_paths() {
        assert_eq!(stem_of(Path::new("/a/b.c.mp4")), OsString::from("b.c"));
        let p = ScenePaths::new(Path::new("/s/tape 1.mkv"), "subtitles", None, None, "srt");
        assert_eq!(p.claim, Path::new("/s/.tape 1.subtitles.claim"));
        assert_eq!(p.done, Path::new("/s/.tape 1.subtitles.done"));
        assert_eq!(p.failed, Path::new("/s/.tape 1.subtitles.failed"));
        assert_eq!(p.output, Path::new("/s/tape 1.srt"));
        let p = ScenePaths::new(
            Path::new("/s/x.mp4"),
            "t",
            Some(Path::new("/m")),
            Some(Path::new("/o")),
            "vtt",
        );
        assert_eq!(p.done, Path::new("/m/.x.t.done"));
        assert_eq!(p.output, Path::new("/o/x.vtt"));
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"*.mp4", b"a.mp4"));
        assert!(!glob_match(b"*.mp4", b".a.mp4"));
        assert!(glob_match(b"tape?_*", b"tape1_scene"));
        assert!(glob_match(b"[a-c]x", b"bx"));
        assert!(!glob_match(b"[!a-c]x", b"bx"));
        assert!(glob_match(b"*a*b*", b"xxaxxbxx"));
        assert!(!glob_match(b"*a*b", b"xxaxxbxx"));
    }

    #[test]
    fn listing_sorted_and_filtered() {
        let d = std::env::temp_dir().join(format!("scenes-test-{}", crate::fsutil::random_u64()));
        std::fs::create_dir_all(&d).unwrap();
        for n in ["b.mp4", "a.MKV", "c.txt", ".hidden.mp4", "Z.wav"] {
            std::fs::write(d.join(n), b"x").unwrap();
        }
        std::fs::create_dir(d.join("dir.mp4")).unwrap();
        let fifo = std::ffi::CString::new(d.join("pipe.mkv").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        std::os::unix::fs::symlink(d.join("loop.mp4"), d.join("loop.mp4")).unwrap();
        let listing = list_scenes(&d).unwrap();
        let ignored: Vec<_> = listing
            .ignored
            .iter()
            .map(|i| i.path.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(ignored, [".hidden.mp4", "dir.mp4", "loop.mp4", "pipe.mkv"]);
        assert_eq!(listing.ignored[3].why, IgnoredWhy::NotAFile("FIFO"));
        assert!(matches!(listing.ignored[2].why, IgnoredWhy::Unreadable(_)));
        let l: Vec<_> = listing
            .scenes
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(l, ["Z.wav", "a.MKV", "b.mp4"]);
        let l = list_scenes(&d.join("*.mp4")).unwrap();
        assert_eq!(l.scenes.len(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
