// SPDX-License-Identifier: MIT OR Apache-2.0
//! Hardware test: two Intel cards, `GPU.0` and `GPU.1`, one worker each in one process, each
//! verified (ZE_AFFINITY_MASK and the card's PCI address against sysfs) and transcribing.
//! Skipped, with a printed reason, on a machine without two Intel GPUs.

mod common;

use common::*;
use gst::prelude::*;
use std::path::Path;
use std::time::Duration;

/// Printed straight to stderr (not through the test harness's capture) so that the skip shows.
fn skip(why: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED two_intel_cards_one_worker_each: {why}"
    );
}

#[test]
fn two_intel_cards_one_worker_each() {
    if !gstarcwhisper::verify::has_intel_render_node(
        Path::new("/dev/dri"),
        Path::new("/sys/class/drm"),
    ) {
        skip("no Intel GPU here (no /dev/dri/renderD* with vendor 0x8086)");
        return;
    }
    let cards = gstarcwhisper::verify::intel_cards(Path::new("/sys/class/drm"));
    if cards.len() < 2 {
        skip(&format!(
            "{} Intel card(s) here, the test needs 2: {cards:?}",
            cards.len()
        ));
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
    // READY->PAUSED starts both workers: look at each one's environment.
    let _ = p.set_state(gst::State::Paused);
    let mut pids = Vec::new();
    for (name, mask, card) in [("a", "0", &cards[0]), ("b", "1", &cards[1])] {
        let e = p.by_name(name).unwrap();
        let pid = e.property::<i64>("worker-pid");
        assert!(pid > 0, "{name}: no worker");
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let want = format!("ZE_AFFINITY_MASK={mask}");
        assert!(
            env.split(|b| *b == 0).any(|v| v == want.as_bytes()),
            "{name}: worker {pid} has no {want} in its environment"
        );
        let v = e.property::<String>("verified-device");
        eprintln!("{name}: worker {pid}: {v}");
        assert!(
            v.contains(&format!("ZE_AFFINITY_MASK={mask} verified")),
            "{v}"
        );
        if v.contains("PCI") {
            assert!(v.contains(&card.pci_address), "{v} vs {card:?}");
        }
        pids.push(pid);
    }
    assert_ne!(pids[0], pids[1]);
    let o = run(&p, Duration::from_secs(600));
    assert!(o.error.is_none(), "{:?}", o.error);
    for f in [&a, &b] {
        let srt = std::fs::read_to_string(f).unwrap();
        assert!(
            words(&srt).contains("your country"),
            "{}: {srt}",
            f.display()
        );
    }
}
