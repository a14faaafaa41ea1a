//! The shared speech clips (read-only, with transcripts in `MANIFEST.tsv`).

use std::path::{Path, PathBuf};

/// Where the clips are when a checkout has no `shared/` beside it (the machine's copy).
pub const SPEECH: &str = "/work/shared/speech";

/// `ARCWHISPER_SPEECH_DIR`, else `<repo>/../shared/speech`, else [`SPEECH`].
pub fn speech_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ARCWHISPER_SPEECH_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/speech");
    if beside.is_dir() {
        beside
    } else {
        PathBuf::from(SPEECH)
    }
}

/// One clip by its path below the speech folder; panics when it is missing.
pub fn clip(rel: &str) -> PathBuf {
    let p = speech_dir().join(rel);
    assert!(
        p.is_file(),
        "speech clip {} is missing (set ARCWHISPER_SPEECH_DIR, or keep shared/ beside the repository)",
        p.display()
    );
    p
}
