//! Arbitrary bytes into the frame decoder, in both directions' message types: it must return
//! frames or errors, never panic, and never allocate what a header claims.
//!
//! Run: `cd crates/worker-protocol/fuzz && cargo +nightly fuzz run frames`
#![no_main]

use libfuzzer_sys::fuzz_target;
use worker_protocol::{read_frame, FrameError, Request, Response};

fuzz_target!(|data: &[u8]| {
    for _ in 0..2 {
        let mut r = data;
        // Read frames until the stream ends or breaks, as the element / the worker do.
        for _ in 0..1024 {
            match read_frame::<_, Request>(&mut r) {
                Ok(_) => {}
                Err(FrameError::Closed) => break,
                Err(_) => break,
            }
        }
        let mut r = data;
        for _ in 0..1024 {
            match read_frame::<_, Response>(&mut r) {
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
});
