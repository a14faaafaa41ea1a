// SPDX-License-Identifier: MIT OR Apache-2.0
//! Stopping a scene's private decoding pipeline with a bound. Setting it to NULL joins its
//! streaming threads; one stuck in a read (a hung network file system, a device) would hold the
//! source for ever. The state change runs on GStreamer's thread pool and the source waits at
//! most [`STOP_LIMIT`]; past that it goes on without it and says which scene's decoder it left.

use gst::prelude::*;
use std::time::Duration;

pub const STOP_LIMIT: Duration = Duration::from_secs(10);

/// Set `pipeline` to NULL, waiting at most [`STOP_LIMIT`]. Err names what did not stop.
pub fn stop(pipeline: &gst::Pipeline, scene: &std::path::Path) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    pipeline.call_async(move |p| {
        let _ = p.set_state(gst::State::Null);
        let _ = tx.send(());
    });
    rx.recv_timeout(STOP_LIMIT).map_err(|_| {
        format!(
            "the decoder of scene {} did not stop within {} s (stuck reading the file?): left behind",
            scene.display(),
            STOP_LIMIT.as_secs()
        )
    })
}
