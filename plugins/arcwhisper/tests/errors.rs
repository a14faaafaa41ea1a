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
