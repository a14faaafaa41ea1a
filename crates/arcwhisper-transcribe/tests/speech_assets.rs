//! The speech clips the repository carries (assets/speech, re-encoded small for the demo and a
//! bare clone's tests) still transcribe to their reference text with the real tiny.en model.

mod common;

use common::{assets, transcribe, wer};

#[test]
fn committed_speech_clips_transcribe_to_their_transcripts() {
    let mut clips: Vec<_> = std::fs::read_dir(assets())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "flac" || x == "opus"))
        .collect();
    clips.sort();
    assert!(
        clips.len() >= 5,
        "assets/speech holds {} clips",
        clips.len()
    );
    let (mut errors, mut words) = (0.0, 0usize);
    for clip in &clips {
        let reference = std::fs::read_to_string(clip.with_extension("txt"))
            .unwrap_or_else(|e| panic!("{}: no transcript beside it: {e}", clip.display()));
        let r = transcribe(&[clip.to_str().unwrap(), "--quiet", "--format", "txt"]);
        assert!(r.ok(), "{}: {}", clip.display(), r.stderr);
        let w = wer(&reference, &r.stdout);
        eprintln!("{}: WER {:.1}%", clip.display(), w * 100.0);
        // A clip whose encoding broke it comes out as noise or nothing: far above this.
        assert!(w < 0.3, "{}: WER {w:.2}: {}", clip.display(), r.stdout);
        let n = common::words(&reference).len();
        errors += w * n as f64;
        words += n;
    }
    let total = errors / words as f64;
    eprintln!("all clips: WER {:.1}% over {words} words", total * 100.0);
    assert!(total < 0.12, "WER over all clips {total:.3}");
}
