//! The one protocol between the `arcwhisper` element and its `arcwhisper-worker` process.
//!
//! A frame is `u32 LE length` + `u8 kind` + payload, where `length` counts the kind byte and the
//! payload. Control messages are JSON (kind 1); audio is raw f32 LE samples, 16 kHz mono
//! (kind 2). Frames over [`MAX_FRAME_LEN`] or of an unknown kind are errors: a reader never
//! allocates what a corrupt header claims.

pub mod languages;

use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// Largest frame accepted in either direction (kind byte + payload).
pub const MAX_FRAME_LEN: u32 = 16 * 1024 * 1024;
/// Bumped on any incompatible change; the worker refuses a `Start` of another version.
pub const PROTOCOL_VERSION: u32 = 1;

const KIND_CONTROL: u8 = 1;
const KIND_AUDIO: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("i/o error on the worker pipe: {0}")]
    Io(#[from] io::Error),
    #[error("the peer closed the pipe")]
    Closed,
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME_LEN} bytes")]
    TooLarge(u32),
    #[error("empty frame")]
    Empty,
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("audio frame length {0} is not a multiple of 4")]
    BadAudioLength(usize),
    #[error("malformed control message: {0}")]
    BadJson(#[from] serde_json::Error),
}

/// One decoded frame, with a message of type `M` for control frames.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame<M> {
    Control(M),
    Audio(Vec<f32>),
}

/// Writes one control message as a frame.
pub fn write_control<W: Write, M: Serialize>(w: &mut W, msg: &M) -> Result<(), FrameError> {
    let json = serde_json::to_vec(msg)?;
    write_raw(w, KIND_CONTROL, &json)
}

/// Writes audio samples as one or more frames (each within the frame limit).
pub fn write_audio<W: Write>(w: &mut W, samples: &[f32]) -> Result<(), FrameError> {
    const SAMPLES_PER_FRAME: usize = (MAX_FRAME_LEN as usize - 1) / 4;
    for chunk in samples.chunks(SAMPLES_PER_FRAME) {
        let mut bytes = Vec::with_capacity(chunk.len() * 4);
        for s in chunk {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        write_raw(w, KIND_AUDIO, &bytes)?;
    }
    Ok(())
}

fn write_raw<W: Write>(w: &mut W, kind: u8, payload: &[u8]) -> Result<(), FrameError> {
    let len = payload.len() as u64 + 1;
    if len > MAX_FRAME_LEN as u64 {
        return Err(FrameError::TooLarge(len.min(u32::MAX as u64) as u32));
    }
    let mut header = [0u8; 5];
    header[..4].copy_from_slice(&(len as u32).to_le_bytes());
    header[4] = kind;
    w.write_all(&header)?;
    w.write_all(payload)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame. `Err(FrameError::Closed)` at a clean end of stream between frames.
pub fn read_frame<R: Read, M: for<'de> Deserialize<'de>>(
    r: &mut R,
) -> Result<Frame<M>, FrameError> {
    let mut len_bytes = [0u8; 4];
    if !read_exact_or_eof(r, &mut len_bytes)? {
        return Err(FrameError::Closed);
    }
    let len = u32::from_le_bytes(len_bytes);
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len));
    }
    let mut kind = [0u8; 1];
    r.read_exact(&mut kind)?;
    let payload_len = (len - 1) as usize;
    match kind[0] {
        KIND_CONTROL | KIND_AUDIO => {}
        other => return Err(FrameError::UnknownKind(other)),
    }
    // Read through `take` so that a short stream fails without trusting `len` for allocation
    // beyond what actually arrives.
    let mut payload = Vec::with_capacity(payload_len.min(64 * 1024));
    r.take(payload_len as u64).read_to_end(&mut payload)?;
    if payload.len() != payload_len {
        return Err(FrameError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "frame truncated",
        )));
    }
    decode_payload(kind[0], &payload)
}

/// Decodes a frame body (kind + payload); shared by [`read_frame`] and the fuzz target.
pub fn decode_payload<M: for<'de> Deserialize<'de>>(
    kind: u8,
    payload: &[u8],
) -> Result<Frame<M>, FrameError> {
    match kind {
        KIND_CONTROL => Ok(Frame::Control(serde_json::from_slice(payload)?)),
        KIND_AUDIO => {
            if !payload.len().is_multiple_of(4) {
                return Err(FrameError::BadAudioLength(payload.len()));
            }
            Ok(Frame::Audio(
                payload
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ))
        }
        other => Err(FrameError::UnknownKind(other)),
    }
}

fn read_exact_or_eof<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<bool, FrameError> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => {
                return Err(FrameError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "frame header truncated",
                )))
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// Messages

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    #[default]
    Transcribe,
    Translate,
}

/// Decoding options as the element sends them; the worker maps them onto the engine's.
/// `None` means the engine's default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DecodeSettings {
    pub language: Option<String>,
    pub task: Task,
    pub initial_prompt: Option<String>,
    pub no_speech_threshold: Option<f32>,
    pub log_prob_threshold: Option<f32>,
    pub compression_ratio_threshold: Option<f32>,
    pub condition_on_previous_text: Option<bool>,
    pub temperatures: Option<Vec<f32>>,
    pub seed: Option<u64>,
    /// Speech detection: `Some` decodes only the speech Silero VAD finds; `None` (also what an
    /// older element sends) decodes all audio.
    #[serde(default)]
    pub vad: Option<VadSettings>,
    /// With speech detection: windows decoded together (the engine's `batch_size`); `None`
    /// (also what an older element sends) is the engine's default.
    #[serde(default)]
    pub batch_size: Option<u32>,
}

/// Speech-detection settings; `None` means the engine's default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct VadSettings {
    /// Speech probability that starts speech (0-1).
    pub threshold: Option<f32>,
    /// Silence that ends a speech region, ms.
    pub min_silence_ms: Option<u32>,
    /// Audio kept before and after each region, ms.
    pub speech_pad_ms: Option<u32>,
    /// Shorter speech is dropped, ms.
    pub min_speech_ms: Option<u32>,
}

/// Where a restarted worker picks up: mirrors the engine's `StreamState`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ResumeState {
    /// Sample index (16 kHz, from the start of the current stream) of the first sample not yet
    /// covered by a delivered segment; the element re-sends audio from here.
    pub seek_samples: u64,
    pub prompt_tokens: Vec<u32>,
    pub language: Option<String>,
    /// End of the last word delivered (seconds): the word-timing rules look back to it.
    #[serde(default)]
    pub last_speech_seconds: f64,
    /// The engine's speech-detection state (VAD on): opaque to the element, which keeps the
    /// latest and sends it back with the audio from `seek_samples`.
    #[serde(default)]
    pub vad: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentMsg {
    /// Seconds from the start of the current stream.
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub tokens: Vec<u32>,
    pub avg_logprob: f32,
    pub no_speech_prob: f32,
    pub temperature: f32,
    pub compression_ratio: f32,
    /// The segment's words with their times (same timeline as `start`); empty when the model
    /// has no word timestamps (older workers send none).
    #[serde(default)]
    pub words: Vec<WordMsg>,
}

/// A word of a segment: seconds from the start of the current stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordMsg {
    pub start: f64,
    pub end: f64,
    /// The word as Whisper wrote it: leading space and attached punctuation included.
    pub word: String,
    pub probability: f32,
}

/// Element -> worker.
// `Start` is large, but it is sent once per worker start: boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// First message. The worker verifies its pinning, measures memory, picks and loads a
    /// model, and answers `Ready` or `Error`.
    Start {
        protocol: u32,
        /// The element's `device` property as given (`CPU`, `CPU:0-3`, `GPU.1`, `AUTO`).
        device: String,
        /// Model names or directories, most preferred first.
        model_chain: Vec<String>,
        /// Cap on the memory the model may use, bytes (0 = no cap beyond what is free).
        max_memory: u64,
        cache_dir: Option<PathBuf>,
        settings: DecodeSettings,
        /// Set after a restart: continue the interrupted stream from here.
        resume: Option<ResumeState>,
    },
    /// Decode everything buffered as final, send the last `Segments` and `Drained`, then start a
    /// fresh stream (times from 0 again) for the audio that follows.
    Drain,
    /// Drop the buffered audio and stream state (flushing seek); answered by `Flushed`.
    Flush,
    /// Exit cleanly.
    Shutdown,
}

/// What the worker found about itself, for the element to verify against what it asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DeviceReport {
    /// The `device` string the worker was started for.
    pub requested: String,
    /// The OpenVINO device name it compiled for (`CPU`, `GPU`, `GPU.0`, `AUTO`).
    pub openvino_device: String,
    /// OpenVINO's `available_devices` as seen inside the worker.
    pub visible_devices: Vec<String>,
    /// `FULL_DEVICE_NAME` of the device used.
    pub full_name: String,
    /// `DEVICE_UUID` (GPU) or `None`.
    pub uuid: Option<String>,
    /// PCI address where known (GPU).
    pub pci_address: Option<String>,
    /// `ZE_AFFINITY_MASK` in the worker's environment.
    pub ze_affinity_mask: Option<String>,
    /// CPUs the worker may run on (from `sched_getaffinity`).
    pub allowed_cpus: Vec<usize>,
    /// Free memory measured on the device before loading, bytes.
    pub memory_free: u64,
    /// How it was measured (`MemAvailable`, `GPU_DEVICE_TOTAL_MEM_SIZE - ...`, `level-zero`).
    pub memory_source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ModelReport {
    pub name: String,
    pub path: PathBuf,
    /// Estimated memory need of this model on this device, bytes.
    pub need: u64,
    /// Budget it was checked against: min(free, max-memory), bytes.
    pub budget: u64,
    /// Models of the chain passed over, each with why.
    pub skipped: Vec<(String, String)>,
    /// The arithmetic precision the model was compiled with (absent from older workers).
    #[serde(default)]
    pub precision: PrecisionReport,
}

/// OpenVINO's `INFERENCE_PRECISION_HINT` of each part (`f32`, `bf16`, `f16`; `default`: the
/// device's own), and why it was chosen (the machine's capabilities or an override).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PrecisionReport {
    pub encoder: String,
    pub decoder: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The device does not exist or the pinning could not be verified.
    Device,
    /// No model of the chain could be found or loaded (missing, corrupt, wrong layout).
    Model,
    /// No model of the chain fits in the memory budget.
    Memory,
    /// Bad request or audio.
    Input,
    /// The OpenVINO runtime could not be found or loaded.
    Runtime,
    Internal,
}

/// Worker -> element.
// `Ready` is large, but it is sent once per worker start: boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// Sent as soon as the worker runs, before OpenVINO is loaded.
    Hello {
        pid: u32,
        version: String,
    },
    Ready {
        device: DeviceReport,
        model: ModelReport,
        /// Path of the OpenVINO C library loaded.
        runtime: String,
    },
    /// Segments decoded since the last message, and the stream state after them: everything
    /// before `state.seek_samples` is done and need not be re-sent after a restart.
    Segments {
        segments: Vec<SegmentMsg>,
        state: ResumeState,
    },
    /// Answer to `Drain`: all segments of the stream have been sent.
    Drained,
    Flushed,
    /// Something the user should know that does not stop the work (e.g. a model downgrade).
    Warning {
        message: String,
    },
    Error {
        kind: ErrorKind,
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_audio_round_trip() {
        let mut buf = Vec::new();
        let req = Request::Drain;
        write_control(&mut buf, &req).unwrap();
        write_audio(&mut buf, &[0.5, -1.0, 0.25]).unwrap();
        let mut r = &buf[..];
        assert_eq!(
            read_frame::<_, Request>(&mut r).unwrap(),
            Frame::Control(req)
        );
        assert_eq!(
            read_frame::<_, Request>(&mut r).unwrap(),
            Frame::Audio(vec![0.5, -1.0, 0.25])
        );
        assert!(matches!(
            read_frame::<_, Request>(&mut r),
            Err(FrameError::Closed)
        ));
    }

    #[test]
    fn segments_and_states_without_word_fields_still_parse() {
        // what a worker from before word timestamps sends
        let seg: SegmentMsg = serde_json::from_str(
            r#"{"start":0.0,"end":1.5,"text":" Hi","tokens":[1],"avg_logprob":-0.2,
                "no_speech_prob":0.1,"temperature":0.0,"compression_ratio":1.0}"#,
        )
        .unwrap();
        assert!(seg.words.is_empty());
        let st: ResumeState =
            serde_json::from_str(r#"{"seek_samples":160,"prompt_tokens":[],"language":null}"#)
                .unwrap();
        assert_eq!(st.last_speech_seconds, 0.0);
    }

    #[test]
    fn settings_and_state_without_vad_fields_still_parse() {
        let s: DecodeSettings = serde_json::from_str(
            r#"{"language":null,"task":"transcribe","initial_prompt":null,
                "no_speech_threshold":0.6,"log_prob_threshold":null,
                "compression_ratio_threshold":null,"condition_on_previous_text":null,
                "temperatures":null,"seed":null}"#,
        )
        .unwrap();
        assert_eq!(s.vad, None);
        let r: ResumeState =
            serde_json::from_str(r#"{"seek_samples":160,"prompt_tokens":[1],"language":"en"}"#)
                .unwrap();
        assert_eq!(r.vad, None);
        let with = DecodeSettings {
            vad: Some(VadSettings {
                threshold: Some(0.4),
                ..VadSettings::default()
            }),
            ..DecodeSettings::default()
        };
        let back: DecodeSettings =
            serde_json::from_str(&serde_json::to_string(&with).unwrap()).unwrap();
        assert_eq!(back, with);
    }

    #[test]
    fn oversized_frame_is_rejected_without_allocating() {
        let mut buf = (MAX_FRAME_LEN + 1).to_le_bytes().to_vec();
        buf.push(KIND_AUDIO);
        let mut r = &buf[..];
        assert!(matches!(
            read_frame::<_, Request>(&mut r),
            Err(FrameError::TooLarge(_))
        ));
    }

    #[test]
    fn truncated_and_malformed_frames_are_errors() {
        // Header claims 100 bytes, 3 arrive.
        let mut buf = 100u32.to_le_bytes().to_vec();
        buf.extend_from_slice(&[KIND_AUDIO, 0, 0]);
        assert!(read_frame::<_, Request>(&mut &buf[..]).is_err());
        // Unknown kind.
        let mut buf = 1u32.to_le_bytes().to_vec();
        buf.push(9);
        assert!(matches!(
            read_frame::<_, Request>(&mut &buf[..]),
            Err(FrameError::UnknownKind(9))
        ));
        // Audio not a multiple of 4 bytes.
        let mut buf = 4u32.to_le_bytes().to_vec();
        buf.extend_from_slice(&[KIND_AUDIO, 1, 2, 3]);
        assert!(matches!(
            read_frame::<_, Request>(&mut &buf[..]),
            Err(FrameError::BadAudioLength(3))
        ));
        // Bad JSON.
        let mut buf = 3u32.to_le_bytes().to_vec();
        buf.extend_from_slice(&[KIND_CONTROL, b'{', b'x']);
        assert!(matches!(
            read_frame::<_, Request>(&mut &buf[..]),
            Err(FrameError::BadJson(_))
        ));
    }
}
