// SPDX-License-Identifier: MIT OR Apache-2.0
//! The sink's audio as mono samples. The sink takes F32LE at 16 kHz in one or two channels:
//! stereo is mixed here by `gst_file_audio::downmix` rather than by an audioconvert before the
//! element, whose (L + R) / 2 cancels the speech of a tape digitised with one channel out of
//! phase (the scene would get no subtitles).

use gst_file_audio::downmix::StereoDownmix;

/// The negotiated channel count and the stereo mix of the current stream.
#[derive(Debug, Clone)]
pub struct InputAudio {
    channels: usize,
    downmix: StereoDownmix,
}

impl Default for InputAudio {
    fn default() -> Self {
        Self {
            channels: 1,
            downmix: StereoDownmix::new(),
        }
    }
}

impl InputAudio {
    /// The channel count of newly negotiated caps (1 when they do not say).
    pub fn set_caps(&mut self, caps: &gst::CapsRef) {
        self.channels = gst_file_audio::channels(caps);
    }

    /// Appends a buffer's samples to `out` as mono; Err when the bytes are not whole frames.
    pub fn append(&mut self, bytes: &[u8], out: &mut Vec<f32>) -> Result<(), String> {
        let frame = 4 * self.channels;
        if !bytes.len().is_multiple_of(frame) {
            return Err(format!(
                "buffer of {} bytes is not whole F32 frames of {} channel(s)",
                bytes.len(),
                self.channels
            ));
        }
        self.downmix.push_f32le(bytes, self.channels, out);
        Ok(())
    }

    /// The stream's stereo mix so far, counting afresh from here (a stream's end reports it).
    pub fn take_downmix(&mut self) -> StereoDownmix {
        std::mem::take(&mut self.downmix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(samples: &[f32]) -> Vec<u8> {
        samples.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn mono_passes_and_stereo_out_of_phase_is_mixed_from_the_difference() {
        gst::init().unwrap();
        let mut input = InputAudio::default();
        let mut out = Vec::new();
        input.append(&bytes(&[0.1, -0.2]), &mut out).unwrap();
        assert_eq!(out, [0.1, -0.2]);
        let mut fixed = gst_file_audio::f32_caps(16_000);
        fixed.fixate();
        input.set_caps(&fixed);
        assert_eq!(input.channels, 1, "fixating the range takes its lower end");
        let two = gst::Caps::builder("audio/x-raw")
            .field("channels", 2i32)
            .build();
        input.set_caps(&two);
        out.clear();
        input
            .append(&bytes(&[0.5, -0.5, 0.25, -0.25]), &mut out)
            .unwrap();
        assert_eq!(out, [0.5, 0.25]);
        assert_eq!(input.take_downmix().inverted_frames(), 2);
        assert_eq!(input.take_downmix().inverted_frames(), 0, "counted afresh");
        let e = input
            .append(&bytes(&[0.5, 0.5, 0.5]), &mut out)
            .unwrap_err();
        assert!(e.contains("2 channel"), "{e}");
    }
}
