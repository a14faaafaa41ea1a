// SPDX-License-Identifier: MIT OR Apache-2.0
//! A scene's private decoding pipeline (`gst-file-audio`: the first audio track as F32LE mono
//! at the source's rate, stereo mixed so that a channel out of phase does not cancel the
//! speech, video streams left undecoded), pulled a buffer at a time with a stall limit.
//! Stopping it with a bound is `decoder_stop.rs`.

use gst::prelude::*;
use gst_file_audio::downmix::StereoDownmix;
pub use gst_file_audio::ELEMENTS;
use gst_file_audio::{FileAudio, Streams};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one pull gave.
pub enum Pulled {
    Buffer(gst::Buffer),
    Eos,
    Error(String),
    Timeout,
}

pub struct SceneDecoder {
    pipeline: gst::Pipeline,
    appsink: gst_app::AppSink,
    /// What decodebin found (the audio linked, every stream exposed).
    streams: Arc<Mutex<Streams>>,
    /// Time spent waiting for a sample since the last one (the stall watchdog).
    waiting: Duration,
    /// Stereo to mono (see `gst_file_audio::downmix`).
    downmix: StereoDownmix,
}

impl SceneDecoder {
    /// The pipeline for `scene` (not started). Err names the element that cannot be made.
    /// Streams other than the audio stay unlinked.
    pub fn build(scene: &Path, rate: u64) -> Result<Self, String> {
        let FileAudio {
            pipeline,
            appsink,
            streams,
        } = gst_file_audio::build(scene, rate as u32, |_| {}).map_err(|e| e.to_string())?;
        Ok(Self {
            pipeline,
            appsink,
            streams,
            waiting: Duration::ZERO,
            downmix: StereoDownmix::new(),
        })
    }

    /// The scene's stereo mix so far (how much of it was out of phase).
    pub fn downmix(&self) -> &StereoDownmix {
        &self.downmix
    }

    pub fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    /// Start decoding. Err says why not (the bus's error, e.g. the file cannot be opened).
    pub fn play(&self) -> Result<(), String> {
        self.pipeline
            .set_state(gst::State::Playing)
            .map(drop)
            .map_err(|e| {
                self.pipeline
                    .bus()
                    .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]))
                    .and_then(|m| match m.view() {
                        gst::MessageView::Error(err) => Some(err.error().to_string()),
                        _ => None,
                    })
                    .unwrap_or_else(|| format!("cannot start decoding: {e}"))
            })
    }

    /// The next buffer, waiting 50 ms at most; an error once no audio came for `timeout`.
    pub fn pull(&mut self, timeout: Duration) -> Pulled {
        let t0 = Instant::now();
        if let Some(sample) = self
            .appsink
            .try_pull_sample(gst::ClockTime::from_mseconds(50))
        {
            self.waiting = Duration::ZERO;
            return match gst_file_audio::mono_buffer(&sample, &mut self.downmix) {
                Ok(Some(buf)) => Pulled::Buffer(buf),
                Ok(None) => Pulled::Timeout,
                Err(e) => Pulled::Error(e),
            };
        }
        if let Some(e) = self.bus_error() {
            return Pulled::Error(e);
        }
        // Every stream is exposed and none is audio.
        if let Some(why) = self.no_audio() {
            return Pulled::Error(why);
        }
        if self.appsink.is_eos() {
            if !self.streams.lock().unwrap().audio_linked {
                return Pulled::Error(self.no_audio().unwrap_or_else(|| "no audio track".into()));
            }
            return Pulled::Eos;
        }
        // decodebin drops some demuxer errors that happen while it is still autoplugging
        // (the pipeline then never prerolls): a decoder that gives nothing for this long failed.
        self.waiting += t0.elapsed();
        if self.waiting > timeout {
            return Pulled::Error(format!(
                "decoding stalled: no audio for {} s (corrupt or truncated file?)",
                timeout.as_secs()
            ));
        }
        Pulled::Timeout
    }

    /// decodebin exposed every stream and none of them was audio: why, with the streams the
    /// scene has, or the decoder its audio needs.
    fn no_audio(&self) -> Option<String> {
        let why = self.streams.lock().unwrap().no_audio()?;
        Some(why.to_string())
    }

    /// An error on the bus, as the scene's failure reason.
    fn bus_error(&self) -> Option<String> {
        let msg = self
            .pipeline
            .bus()?
            .pop_filtered(&[gst::MessageType::Error])?;
        let gst::MessageView::Error(e) = msg.view() else {
            return None;
        };
        if let Some(why) = self.no_audio() {
            return Some(why);
        }
        let mut m = e.error().to_string();
        if let Some(d) = e.debug() {
            let first = d.lines().last().unwrap_or("").trim().to_string();
            if !first.is_empty() {
                m.push_str(&format!(" ({first})"));
            }
        }
        Some(m)
    }
}
