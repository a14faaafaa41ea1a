//! `arcwhisper-transcribe` end to end: real tiny.en model (tools/setup.sh installs it; the tests
//! FAIL without it), real speech (the clips committed under assets/speech), GStreamer decoding.

mod common;

use common::{assets, ffmpeg, scratch, transcribe, wer};
use std::path::Path;

const JFK: &str = "And so my fellow Americans, ask not what your country can do for you, ask \
                   what you can do for your country.";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The clip in three containers a user has: a camcorder-like MP4 (H.264 + AAC 48 kHz stereo),
/// MP3 44.1 kHz, and the committed FLAC. Also the three verbosity levels with stderr not a
/// terminal, and the three output formats.
#[test]
fn mp4_flac_and_mp3_inputs_are_transcribed() {
    let dir = scratch("formats");
    let flac = assets().join("jfk.flac");
    let mp4 = dir.join("jfk.mp4");
    let mp3 = dir.join("jfk.mp3");
    ffmpeg(&[
        "-i",
        s(&flac),
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=25",
        "-map",
        "1:v",
        "-map",
        "0:a",
        "-shortest",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-ar",
        "48000",
        "-ac",
        "2",
        s(&mp4),
    ]);
    ffmpeg(&[
        "-i",
        s(&flac),
        "-c:a",
        "libmp3lame",
        "-ar",
        "44100",
        "-b:a",
        "64k",
        s(&mp3),
    ]);

    // FLAC -> JSON (format from the extension), default verbosity: plain progress lines.
    let json = dir.join("jfk.json");
    let r = transcribe(&[s(&flac), "--threads", "2", "-o", s(&json)]);
    assert!(r.ok(), "flac: {}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap())
        .expect("the JSON output parses");
    assert_eq!(v["language"], "en");
    let segs = v["segments"].as_array().unwrap();
    let text: String = segs.iter().map(|x| x["text"].as_str().unwrap()).collect();
    assert!(wer(JFK, &text) < 0.1, "flac: {text}");
    for seg in segs {
        let (a, b) = (seg["start"].as_f64().unwrap(), seg["end"].as_f64().unwrap());
        assert!(0.0 <= a && a < b && b <= 11.1, "segment times {a}..{b}");
    }
    assert!(r.stderr.contains("decoded 11.0 s of audio"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("wrote {}", json.display())),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains('\x1b'),
        "no terminal codes when stderr is not a terminal"
    );
    assert!(
        r.stdout.is_empty(),
        "the result went to --output, stdout stays empty"
    );

    // MP4 (video + AAC) -> SRT, --verbose: each segment on stderr as it is decoded.
    let srt = dir.join("jfk.srt");
    let r = transcribe(&[s(&mp4), "--threads", "2", "--verbose", "-o", s(&srt)]);
    assert!(r.ok(), "mp4: {}", r.stderr);
    let srt_text = std::fs::read_to_string(&srt).unwrap();
    assert!(srt_text.starts_with("1\n00:00:00,"), "{srt_text}");
    let cue_text: String = srt_text
        .lines()
        .filter(|l| !l.contains("-->") && l.parse::<u32>().is_err())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(wer(JFK, &cue_text) < 0.1, "mp4: {srt_text}");
    assert!(
        r.stderr.contains("[00:00.") && r.stderr.contains(" --> 00:"),
        "verbose: {}",
        r.stderr
    );

    // MPEG-TS (as AVCHD camcorders write) whose video runs ~2 s past its audio: complete, not
    // truncated.
    let ts = dir.join("jfk.ts");
    ffmpeg(&[
        "-i",
        s(&flac),
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=25",
        "-map",
        "1:v",
        "-map",
        "0:a",
        "-shortest",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "mp2",
        "-ar",
        "48000",
        s(&ts),
    ]);
    let r = transcribe(&[s(&ts), "--threads", "2", "--quiet", "--format", "txt"]);
    assert!(r.ok(), "ts: {}", r.stderr);
    assert!(wer(JFK, &r.stdout) < 0.1, "ts: {}", r.stdout);

    // MP3 -> text on stdout, --quiet: nothing at all on stderr.
    let r = transcribe(&[s(&mp3), "--threads", "2", "--quiet", "--format", "txt"]);
    assert!(r.ok(), "mp3: {}", r.stderr);
    assert!(wer(JFK, &r.stdout) < 0.1, "mp3: {}", r.stdout);
    assert_eq!(r.stderr, "", "--quiet prints nothing");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tape digitised with one channel's polarity reversed: summed to mono the speech cancels
/// (audioconvert's mix gave no segment at all); mixed from the channels' difference it is the
/// clip, and the CLI says so.
#[test]
fn stereo_with_a_channel_out_of_phase_is_transcribed() {
    let dir = scratch("out-of-phase");
    let anti = dir.join("jfk-out-of-phase.flac");
    test_support::scenes::out_of_phase_stereo(&assets().join("jfk.flac"), &anti);
    let r = transcribe(&[s(&anti), "--threads", "2", "--format", "txt"]);
    assert!(r.ok(), "{}", r.stderr);
    assert!(wer(JFK, &r.stdout) < 0.1, "{}", r.stdout);
    assert!(
        r.stderr.contains("out of phase in 11.0 of 11.0 s"),
        "{}",
        r.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Each bad input ends with exit 1, one error line naming the file and what is wrong, and no
/// output file (nor a temporary one) left behind.
#[test]
fn bad_inputs_fail_clearly_and_write_nothing() {
    let dir = scratch("bad");
    let out = dir.join("out.srt");
    let text = dir.join("notes.mp4");
    std::fs::write(&text, "this is text, not a video\n").unwrap();
    let empty = dir.join("empty.wav");
    std::fs::write(&empty, "").unwrap();
    let video_only = dir.join("video_only.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=25",
        "-t",
        "2",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        s(&video_only),
    ]);
    let flac = std::fs::read(assets().join("jfk.flac")).unwrap();
    let truncated = dir.join("truncated.flac");
    std::fs::write(&truncated, &flac[..flac.len() / 2]).unwrap();
    let cut_video = dir.join("cut.mp4");
    cut_in_half(&assets().join("librivox_sonnet1.opus"), &cut_video);
    let missing = dir.join("no such clip.mp4");
    let cases: [(&Path, &str); 7] = [
        (&missing, "does not exist"),
        (&dir, "is a folder"),
        (&empty, "is empty"),
        (&text, "not an audio or video file GStreamer recognises"),
        (&video_only, "no audio track (it has video/x-h264)"),
        (&truncated, "truncated or corrupt; --allow-partial"),
        (&cut_video, "truncated or corrupt; --allow-partial"),
    ];
    for (input, what) in cases {
        let r = transcribe(&[s(input), "-o", s(&out)]);
        assert_eq!(r.code, Some(1), "{}: {}", input.display(), r.stderr);
        let line = r.stderr.lines().last().unwrap_or("");
        assert!(
            line.starts_with("arcwhisper-transcribe: error: ") && line.contains(what),
            "{}: expected '{what}', got: {}",
            input.display(),
            r.stderr
        );
        let name = input.file_name().unwrap().to_str().unwrap();
        assert!(line.contains(name), "the error names the file: {line}");
        assert!(!out.exists(), "{}: an output was written", input.display());
    }
    let keep = [
        text.as_path(),
        empty.as_path(),
        video_only.as_path(),
        truncated.as_path(),
        cut_video.as_path(),
    ];
    assert_eq!(
        common::leftovers(&dir, &keep),
        Vec::<std::path::PathBuf>::new()
    );

    // A model that is not installed fails before any decoding.
    let r = transcribe(&[
        s(&assets().join("jfk.flac")),
        "--model",
        "nosuch",
        "-o",
        s(&out),
    ]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("nosuch") && !r.stderr.contains("decoding"),
        "{}",
        r.stderr
    );

    // The truncated file with --allow-partial: what decodes, with a warning even when quiet.
    let r = transcribe(&[s(&truncated), "--allow-partial", "--quiet", "-o", s(&out)]);
    assert!(r.ok(), "{}", r.stderr);
    assert!(
        r.stderr.starts_with("warning: ") && r.stderr.contains("truncated"),
        "{}",
        r.stderr
    );
    assert!(std::fs::read_to_string(&out).unwrap().contains("-->"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A camcorder-like MP4 (index first, as `+faststart` writes it) of `audio`, cut in the middle as
/// an interrupted copy leaves it: its header still declares the whole duration.
fn cut_in_half(audio: &Path, out: &Path) {
    let whole = out.with_extension("whole.mp4");
    ffmpeg(&[
        "-i",
        s(audio),
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=25",
        "-map",
        "1:v",
        "-map",
        "0:a",
        "-shortest",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-movflags",
        "+faststart",
        s(&whole),
    ]);
    let bytes = std::fs::read(&whole).unwrap();
    std::fs::write(out, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::remove_file(&whole).unwrap();
}

/// `--format json` is the engine's `Segment`s exactly as serde writes them: whatever fields the
/// engine gains (word timestamps, ...) appear without a change in the CLI.
#[test]
fn json_output_is_the_engines_segments_as_serde_writes_them() {
    let dir = scratch("json");
    let raw = dir.join("jfk.f32");
    ffmpeg(&[
        "-i",
        s(&assets().join("jfk.flac")),
        "-ar",
        "16000",
        "-ac",
        "1",
        "-f",
        "f32le",
        s(&raw),
    ]);
    let r = transcribe(&[s(&raw), "--threads", "1", "--quiet", "--format", "json"]);
    assert!(r.ok(), "{}", r.stderr);
    let cli: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();

    let audio: Vec<f32> = std::fs::read(&raw)
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    // The CLI's default model.
    let dir_model =
        whisper_engine::find_model("tiny.en-int8").expect("tools/setup.sh installs tiny.en-int8");
    // The CLI's defaults: speech detection on, the CPU's batch size.
    let batch_size = whisper_engine::default_batch_size("CPU");
    let cfg = whisper_engine::EngineConfig {
        threads: Some(1),
        batch_size,
        ..Default::default()
    };
    let mut model = whisper_engine::WhisperModel::load(&dir_model, &cfg).unwrap();
    let opts = whisper_engine::DecodeOptions {
        vad: Some(whisper_engine::VadOptions::default()),
        batch_size,
        ..Default::default()
    };
    let segments = model.transcribe(&audio, &opts).unwrap();
    assert!(!segments.is_empty());
    // Compared as written and read back: serde_json's parser (without its `float_roundtrip`
    // feature) may read a printed f64 one ulp off (0.9864561557769775 -> ...777), on both sides.
    let value = serde_json::to_value(&segments).unwrap();
    let written: serde_json::Value = serde_json::from_str(&value.to_string()).unwrap();
    assert_eq!(cli["segments"], written);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--no-word-timestamps` skips word timing: segments without words, the same text (JFK: one
/// window, so the seek after the last word cannot differ).
#[test]
fn no_word_timestamps_gives_segments_without_words() {
    let jfk = assets().join("jfk.flac");
    let text_of = |v: &serde_json::Value| -> String {
        v["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["text"].as_str().unwrap().to_string())
            .collect()
    };
    let with = transcribe(&[s(&jfk), "--threads", "1", "--quiet", "--format", "json"]);
    let without = transcribe(&[
        s(&jfk),
        "--threads",
        "1",
        "--quiet",
        "--format",
        "json",
        "--no-word-timestamps",
    ]);
    assert!(
        with.ok() && without.ok(),
        "{}{}",
        with.stderr,
        without.stderr
    );
    let with: serde_json::Value = serde_json::from_str(&with.stdout).unwrap();
    let without: serde_json::Value = serde_json::from_str(&without.stdout).unwrap();
    let words = |v: &serde_json::Value| -> usize {
        v["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["words"].as_array().map_or(0, Vec::len))
            .sum()
    };
    assert!(words(&with) >= 20, "{with}");
    assert_eq!(words(&without), 0, "{without}");
    // With words the speech window is decoded without timestamp tokens, without them with the
    // tokens (they are then the only times): the same words, the punctuation may differ.
    let (a, b) = (text_of(&with), text_of(&without));
    assert!(wer(&a, &b) < 0.05, "{a:?} against {b:?}");
}

/// `-o x.vtt` writes WebVTT: the `subtitle-cues` cues of the very segments `--format json`
/// gives (their words), the first cue on with the first word; the shape flags reach the shaper.
#[test]
fn vtt_output_is_the_shaped_cues_of_the_json_words() {
    let dir = scratch("vtt");
    let raw = dir.join("jfk.f32");
    ffmpeg(&[
        "-i",
        s(&assets().join("jfk.flac")),
        "-ar",
        "16000",
        "-ac",
        "1",
        "-f",
        "f32le",
        s(&raw),
    ]);
    let audio_seconds = std::fs::metadata(&raw).unwrap().len() as f64 / 4.0 / 16_000.0;
    let r = transcribe(&[s(&raw), "--threads", "1", "--quiet", "--format", "json"]);
    assert!(r.ok(), "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let segments: Vec<subtitle_cues::Segment> = json["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|seg| subtitle_cues::Segment {
            start: seg["start"].as_f64().unwrap(),
            end: seg["end"].as_f64().unwrap(),
            text: seg["text"].as_str().unwrap().into(),
            words: seg["words"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| subtitle_cues::Word {
                    start: w["start"].as_f64().unwrap(),
                    end: w["end"].as_f64().unwrap(),
                    text: w["word"].as_str().unwrap().into(),
                })
                .collect(),
        })
        .collect();
    assert!(
        segments.iter().all(|s| !s.words.is_empty()),
        "no words in {json}"
    );

    let vtt = dir.join("jfk.vtt");
    let r = transcribe(&[s(&raw), "--threads", "1", "--quiet", "-o", s(&vtt)]);
    assert!(r.ok(), "{}", r.stderr);
    let vtt_text = std::fs::read_to_string(&vtt).unwrap();
    eprintln!("{vtt_text}");
    let opts = subtitle_cues::CueOptions::default();
    let cues = subtitle_cues::cues_from_segments(&segments, audio_seconds, &opts);
    assert_eq!(vtt_text, subtitle_cues::write_vtt(&cues));
    assert!(vtt_text.starts_with("WEBVTT\n\n00:00:"), "{vtt_text}");
    assert_eq!(cues[0].start, segments[0].words[0].start);
    assert!(
        wer(
            JFK,
            &cues.iter().map(|c| c.text()).collect::<Vec<_>>().join(" ")
        ) < 0.1
    );

    // One line of at most 20 characters per cue (a longer single word alone on its line).
    let r = transcribe(&[
        s(&raw),
        "--threads",
        "1",
        "--quiet",
        "--format",
        "srt",
        "--max-lines",
        "1",
        "--max-line-length",
        "20",
    ]);
    assert!(r.ok(), "{}", r.stderr);
    let narrow = subtitle_cues::CueOptions {
        max_lines: 1,
        max_line_length: 20,
        ..opts
    };
    let narrow_cues = subtitle_cues::cues_from_segments(&segments, audio_seconds, &narrow);
    assert_eq!(r.stdout, subtitle_cues::write_srt(&narrow_cues));
    for c in &narrow_cues {
        assert_eq!(c.lines.len(), 1, "{c:?}");
        assert!(
            c.lines[0].chars().count() <= 20 || !c.lines[0].contains(' '),
            "{c:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two per-card processes on a first run compile the same model into one empty OpenVINO cache at
/// the same moment; both must load (OpenVINO alone races on the cache blob).
#[test]
fn two_processes_share_an_empty_model_cache() {
    let cache = scratch("cache-race");
    let clip = assets().join("LJ001-0002.opus");
    let args = [
        s(&clip),
        "--model",
        "tiny.en",
        "--threads",
        "1",
        "--quiet",
        "--format",
        "txt",
        "--cache-dir",
        s(&cache),
    ];
    let runs = std::thread::scope(|sc| {
        let a = sc.spawn(|| transcribe(&args));
        let b = sc.spawn(|| transcribe(&args));
        [a.join().unwrap(), b.join().unwrap()]
    });
    for (name, r) in ["first", "second"].iter().zip(&runs) {
        assert!(
            r.ok(),
            "{name} process failed with a shared empty cache: {}",
            r.stderr
        );
        assert!(
            r.stdout.to_lowercase().contains("modern"),
            "{name}: {}",
            r.stdout
        );
    }
    let blobs = std::fs::read_dir(&cache)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "blob")
        })
        .count();
    assert!(blobs > 0, "the cache was filled");
    let _ = std::fs::remove_dir_all(&cache);
}

/// On a terminal (a pseudo-terminal from util-linux's `script`), progress is a bar with an ETA
/// that redraws in place, for decoding and for transcribing.
#[test]
fn a_terminal_gets_a_progress_bar_with_eta() {
    let dir = scratch("tty");
    let out = dir.join("sonnet.srt");
    let clip = assets().join("librivox_sonnet1.opus");
    let line = format!(
        "'{}' '{}' --threads 2 -o '{}'",
        common::BIN,
        clip.display(),
        out.display()
    );
    // script runs `line` with its stdin, stdout and stderr on a new pseudo-terminal and copies
    // what the terminal shows to its own stdout.
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]);
    let shown = common::run_bounded(&mut cmd);
    assert_eq!(shown.code, Some(0), "{}", shown.stdout);
    for want in [
        "decoding [",
        "transcribing [",
        "s of audio",
        "ETA",
        "\x1b[2K",
    ] {
        assert!(
            shown.stdout.contains(want),
            "no {want:?} in: {:?}",
            shown.stdout
        );
    }
    assert!(std::fs::read_to_string(&out).unwrap().contains("-->"));
    let _ = std::fs::remove_dir_all(&dir);
}
