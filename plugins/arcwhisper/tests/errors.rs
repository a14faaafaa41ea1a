// SPDX-License-Identifier: MIT OR Apache-2.0
//! Every way of getting the element wrong gives a clear error before any data flows (or, for
//! caps, a not-negotiated error naming the problem).

mod common;

use common::*;
use gst::prelude::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(300);

/// Builds `filesrc jfk ! ... ! arcwhisper <props> ! fakesink`, runs it, returns the error.
fn error_of(props: &str) -> String {
    init();
    let p = launch(&format!(
        "filesrc location={} ! decodebin ! audioconvert ! audioresample ! arcwhisper {props} ! fakesink",
        speech("jfk/jfk.flac").display()
    ));
    let o = run(&p, T);
    let e = o
        .error
        .unwrap_or_else(|| panic!("arcwhisper {props}: no error"));
    eprintln!("arcwhisper {props}:\n  {e}");
    e
}

#[test]
fn missing_model() {
    let e = error_of("model=no-such-model");
    assert!(e.contains("no-such-model"), "{e}");
    assert!(
        e.contains("not installed") || e.contains("not found"),
        "{e}"
    );
}

#[test]
fn missing_model_directory() {
    let e = error_of("model=/nonexistent/models/tiny");
    assert!(e.contains("/nonexistent/models/tiny"), "{e}");
}

/// A model directory whose encoder IR is garbage.
#[test]
fn corrupt_ir() {
    init();
    let src = model_dir("tiny.en");
    let dir = tmpdir("corrupt").join("tiny-corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        std::os::unix::fs::symlink(e.path(), dir.join(e.file_name())).unwrap();
    }
    let xml = dir.join("openvino_encoder_model.xml");
    std::fs::remove_file(&xml).unwrap();
    std::fs::write(
        &xml,
        "<?xml version=\"1.0\"?>\n<net name=\"broken\" version=\"11\"><layers><layer id=\"0\"",
    )
    .unwrap();
    let e = error_of(&format!("model={}", dir.display()));
    assert!(e.contains("tiny-corrupt"), "{e}");
}

#[test]
fn nonexistent_gpu() {
    let e = error_of("device=GPU.3 model=tiny.en");
    assert!(e.contains("GPU.3"), "{e}");
}

#[test]
fn nonexistent_cpu() {
    let e = error_of("device=CPU:99 model=tiny.en");
    assert!(e.contains("CPU 99 does not exist"), "{e}");
    assert!(e.contains("CPUs online"), "{e}");
}

#[test]
fn malformed_device() {
    let e = error_of("device=GPU.0.1 model=tiny.en");
    assert!(e.contains("accepted forms"), "{e}");
}

#[test]
fn worker_binary_not_found() {
    let e = error_of("worker-path=/nonexistent/arcwhisper-worker model=tiny.en");
    assert!(e.contains("/nonexistent/arcwhisper-worker"), "{e}");
    assert!(e.contains("worker-path"), "{e}");
}

/// `videotestsrc ! arcwhisper` does not even link in gst-launch syntax ...
#[test]
fn video_does_not_link() {
    init();
    let err =
        gst::parse::launch("videotestsrc num-buffers=3 ! arcwhisper model=tiny.en ! fakesink")
            .expect_err("videotestsrc ! arcwhisper must not link");
    eprintln!("{err}");
    assert!(err.to_string().contains("could not link"), "{err}");
}

/// ... and forced together without a caps check, it fails with not-negotiated.
#[test]
fn video_forced_link_is_not_negotiated() {
    init();
    let p = gst::Pipeline::new();
    let src = gst::ElementFactory::make("videotestsrc")
        .property("num-buffers", 3i32)
        .build()
        .unwrap();
    let w = gst::ElementFactory::make("arcwhisper")
        .property("model", "tiny.en")
        .build()
        .unwrap();
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    p.add_many([&src, &w, &sink]).unwrap();
    src.static_pad("src")
        .unwrap()
        .link_full(&w.static_pad("sink").unwrap(), gst::PadLinkCheck::empty())
        .unwrap();
    w.link(&sink).unwrap();
    let o = run(&p, T);
    let e = o.error.expect("an error");
    eprintln!("{e}");
    assert!(e.contains("not-negotiated"), "{e}");
}

/// A language Whisper does not know is refused when the property is set (names become codes),
/// and the element does not start with it: READY->PAUSED fails, no worker is spawned, and the
/// error lists the valid choices. It used to fail only after base had decoded a first window.
#[test]
fn unknown_language_is_refused_when_set_and_at_start() {
    init();
    let w = gst::ElementFactory::make("arcwhisper").build().unwrap();
    w.set_property("language", "German");
    assert_eq!(w.property::<String>("language"), "de");
    w.set_property("language", "auto");
    assert_eq!(w.property::<String>("language"), "auto");

    let p = launch(
        "audiotestsrc num-buffers=1 ! audio/x-raw,format=F32LE,rate=16000,channels=1 \
         ! arcwhisper name=w model=base language=xx ! fakesink",
    );
    assert!(
        p.set_state(gst::State::Paused).is_err(),
        "language=xx must fail the start"
    );
    let msg = p
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Error])
        .expect("an error message");
    let gst::MessageView::Error(err) = msg.view() else {
        unreachable!()
    };
    let e = err.error().to_string();
    eprintln!("language=xx: {e}");
    assert!(
        e.contains("language 'xx'") && e.contains("de (german)") && e.contains("auto"),
        "{e}"
    );
    let w = p.by_name("w").unwrap();
    assert_eq!(w.property::<i64>("worker-pid"), 0, "no worker was started");
    p.set_state(gst::State::Null).unwrap();
}

/// German or translation asked of the English-only tiny.en: an error naming the model and the
/// fix before any text, instead of English-sounding nonsense and exit 0.
#[test]
fn english_only_model_refuses_other_languages_and_translation() {
    for (props, what) in [
        ("model=tiny.en language=de", "ignores language=de"),
        ("model=tiny.en task=translate", "cannot translate"),
    ] {
        let e = error_of(props);
        assert!(
            e.contains(&format!("tiny.en is English-only and {what}")),
            "{e}"
        );
        assert!(e.contains("multilingual model such as base"), "{e}");
    }
}
