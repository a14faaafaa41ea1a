//! The pipeline on small files made here with GStreamer's own encoders: the audio comes out as
//! 16 kHz mono (stereo out of phase too), a video stream is exposed undecoded, a file without
//! audio says so.

use gst::prelude::*;
use gst_file_audio::{build, Streams};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use test_support::gst_launch::run_quiet;
use test_support::tempdir::tmpdir;

const RATE: u32 = 16_000;

/// Decode `path` to the end: samples, what was found, and the factories plugged.
fn decode(path: &Path, other_pads: Arc<AtomicUsize>) -> (usize, Streams, Vec<String>) {
    gst::init().unwrap();
    let fa = build(path, RATE, move |_| {
        other_pads.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    fa.pipeline.set_state(gst::State::Playing).unwrap();
    let mut samples = 0;
    let mut downmix = gst_file_audio::downmix::StereoDownmix::new();
    while let Ok(sample) = fa.appsink.pull_sample() {
        let mono = gst_file_audio::mono_buffer(&sample, &mut downmix).unwrap();
        samples += mono.map_or(0, |b| b.size() / 4);
    }
    let plugged = factories(fa.pipeline.upcast_ref());
    fa.pipeline.set_state(gst::State::Null).unwrap();
    let streams = std::mem::take(&mut *fa.streams.lock().unwrap());
    (samples, streams, plugged)
}

/// Factory names of every element in `bin`, nested bins included.
fn factories(bin: &gst::Bin) -> Vec<String> {
    bin.iterate_recurse()
        .into_iter()
        .flatten()
        .filter_map(|e| e.factory().map(|f| f.name().to_string()))
        .collect()
}

#[test]
fn stereo_48k_wav_comes_out_as_16k_mono() {
    let dir = tmpdir("file-audio-wav");
    let wav = dir.join("tone.wav");
    run_quiet(&format!(
        "audiotestsrc num-buffers=50 samplesperbuffer=4800 ! \
         audio/x-raw,rate=48000,channels=2 ! wavenc ! filesink location={}",
        wav.display()
    ));
    let others = Arc::new(AtomicUsize::new(0));
    let (samples, streams, _) = decode(&wav, others.clone());
    // 5 s at 48 kHz -> 80 000 samples at 16 kHz (the resampler may keep a few in its filter).
    assert!((79_900..=80_100).contains(&samples), "{samples} samples");
    assert!(streams.audio_linked && !streams.no_audio_track());
    assert!(streams.others.is_empty(), "{:?}", streams.others);
    assert_eq!(others.load(Ordering::SeqCst), 0);
}

/// A stereo tone whose right channel is the left one inverted: `mono_buffer` gives the tone at
/// its level, where summing the channels would give silence.
#[test]
fn stereo_out_of_phase_comes_out_as_the_signal_not_silence() {
    gst::init().unwrap();
    let dir = tmpdir("file-audio-out-of-phase");
    let anti = test_support::scenes::out_of_phase_tone(&dir, "anti", 48_000);
    let fa = build(&anti, RATE, |_| {}).unwrap();
    fa.pipeline.set_state(gst::State::Playing).unwrap();
    let mut downmix = gst_file_audio::downmix::StereoDownmix::new();
    let mut mono = Vec::new();
    while let Ok(sample) = fa.appsink.pull_sample() {
        let buffer = gst_file_audio::mono_buffer(&sample, &mut downmix)
            .unwrap()
            .unwrap();
        let map = buffer.map_readable().unwrap();
        mono.extend(gst_file_audio::f32_samples(map.as_slice()));
    }
    fa.pipeline.set_state(gst::State::Null).unwrap();
    test_support::scenes::assert_is_the_tone(&mono);
    assert!(downmix.inverted_frames() > 31_000, "{downmix:?}");
}

#[test]
fn video_is_exposed_undecoded_beside_the_audio() {
    let dir = tmpdir("file-audio-mkv");
    let mkv = dir.join("scene.mkv");
    run_quiet(&format!(
        "matroskamux name=mux ! filesink location={} \
         videotestsrc num-buffers=20 ! video/x-raw,width=64,height=48,framerate=10/1 ! jpegenc ! mux. \
         audiotestsrc num-buffers=20 samplesperbuffer=1600 ! audio/x-raw,rate=16000,channels=1 ! \
         audioconvert ! vorbisenc ! mux.",
        mkv.display()
    ));
    let others = Arc::new(AtomicUsize::new(0));
    let (samples, streams, plugged) = decode(&mkv, others.clone());
    assert!((31_000..=32_100).contains(&samples), "{samples} samples");
    assert!(streams.audio_linked);
    assert_eq!(streams.others, ["image/jpeg"]);
    assert_eq!(
        others.load(Ordering::SeqCst),
        1,
        "the video pad goes to the caller"
    );
    assert!(plugged.iter().any(|f| f == "vorbisdec"), "{plugged:?}");
    assert!(!plugged.iter().any(|f| f == "jpegdec"), "{plugged:?}");
}

#[test]
fn a_file_without_audio_says_so() {
    let dir = tmpdir("file-audio-video-only");
    let mkv = dir.join("silent-film.mkv");
    run_quiet(&format!(
        "videotestsrc num-buffers=10 ! video/x-raw,width=64,height=48,framerate=10/1 ! jpegenc ! \
         matroskamux ! filesink location={}",
        mkv.display()
    ));
    gst::init().unwrap();
    let fa = build(&mkv, RATE, |_| {}).unwrap();
    // With nothing linked the pipeline does not preroll: wait for decodebin's word instead.
    fa.pipeline.set_state(gst::State::Paused).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !fa.streams.lock().unwrap().no_more_pads {
        assert!(
            std::time::Instant::now() < deadline,
            "decodebin never exposed its streams"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    fa.pipeline.set_state(gst::State::Null).unwrap();
    let st = fa.streams.lock().unwrap();
    assert!(st.no_audio_track());
    assert_eq!(st.others, ["image/jpeg"]);
}
