// SPDX-License-Identifier: MIT OR Apache-2.0
//! What a scene that failed to be written really left behind (temp file, output, done marker,
//! claim), said as it is: a message that claims a clean-up that did not happen sends the user
//! looking in the wrong place.

use crate::markers;
use std::io;
use std::path::Path;

/// Remove the temp file of a failed scene and say what became of it.
pub fn remove_temp(tmp: &Path) -> String {
    match std::fs::remove_file(tmp) {
        Ok(()) => "temp file removed".into(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => "no temp file left".into(),
        Err(e) => format!(
            "temp file {} left behind ({e}): a later run of this scene removes it",
            tmp.display()
        ),
    }
}

/// Release the claim of a failed scene (if it is ours) and say what became of it.
pub fn release_claim(claim: &str) -> String {
    let path = Path::new(claim);
    markers::release_claim_if_ours(path).describe(path)
}

/// Whether the output reached its final name before the failure.
pub fn output_state(output_in_place: bool, output: &Path) -> String {
    if output_in_place {
        format!(
            "{} was written but no done marker: the scene is redone on the next run",
            output.display()
        )
    } else {
        "no output or done marker written".into()
    }
}

/// The whole account, for the error's debug text.
pub fn account(tmp: &Path, claim: &str, output_in_place: bool, output: &Path) -> String {
    format!(
        "{}; {}; {}",
        remove_temp(tmp),
        output_state(output_in_place, output),
        release_claim(claim)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_was_left() {
        let d = std::env::temp_dir().join(format!("cleanup-{}", crate::fsutil::random_u64()));
        std::fs::create_dir_all(&d).unwrap();
        let tmp = d.join(".a.srt.tmp-1-2");
        std::fs::write(&tmp, b"x").unwrap();
        assert_eq!(remove_temp(&tmp), "temp file removed");
        assert_eq!(remove_temp(&tmp), "no temp file left");
        // A temp path that is a folder cannot be removed with remove_file: it is left.
        std::fs::create_dir(&tmp).unwrap();
        assert!(
            remove_temp(&tmp).contains("left behind"),
            "{}",
            remove_temp(&tmp)
        );
        assert_eq!(release_claim(""), "no claim held");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
