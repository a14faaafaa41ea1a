//! The element's requests read on a thread of their own: audio is taken from the pipe while a
//! window decodes (the element's writes do not wait on inference), and each audio frame goes
//! to the speech-detection mirror as it arrives, before the stream reaches it, so that Silero
//! runs alongside the encoder and decoder (`whisper_engine::VadMirror`).

use std::io::Read;
use std::sync::mpsc;
use whisper_engine::{SpeechProbabilities, VadMirror};
use worker_protocol::{read_frame, Frame, FrameError, Request};

/// Frames read ahead of the stream (the element sends ~1 s each): enough for the mirror to stay
/// a window ahead, bounded so that a stuck decode still stops the element's writes.
const FRAMES_AHEAD: usize = 32;

/// What the reader thread hands on, in the element's order.
// `Start` makes frames large; about one a second is moved, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Intake {
    Frame(Frame<Request>),
    /// The pipe ended or a frame was malformed (the reader stops).
    End(Result<(), String>),
}

/// The receiving end; the mirror's blocks by stream.
pub struct Requests {
    rx: mpsc::Receiver<Intake>,
    mirror: Option<SpeechProbabilities>,
}

impl Requests {
    /// Starts the reader on `input`; with `mirror`, speech detection runs ahead of the streams.
    pub fn spawn<R: Read + Send + 'static>(
        input: R,
        mirror: Option<VadMirror>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel(FRAMES_AHEAD);
        let blocks = mirror.as_ref().map(|m| m.probabilities(0));
        std::thread::Builder::new()
            .name("arcwhisper-in".into())
            .spawn(move || read_all(input, tx, mirror))?;
        Ok(Self { rx, mirror: blocks })
    }

    /// The next request; `End(Ok)` once the pipe is closed.
    pub fn next(&self) -> Intake {
        self.rx.recv().unwrap_or(Intake::End(Ok(())))
    }

    /// The mirror's blocks for the stream numbered `generation`, if a mirror runs.
    pub fn speech(&self, generation: u64) -> Option<SpeechProbabilities> {
        self.mirror.as_ref().map(|m| m.for_stream(generation))
    }
}

fn read_all<R: Read>(mut input: R, tx: mpsc::SyncSender<Intake>, mirror: Option<VadMirror>) {
    loop {
        let item = match read_frame::<_, Request>(&mut input) {
            Ok(f) => {
                if let Some(m) = &mirror {
                    feed(m, &f);
                }
                Intake::Frame(f)
            }
            Err(FrameError::Closed) => Intake::End(Ok(())),
            Err(e) => Intake::End(Err(e.to_string())),
        };
        let last = matches!(item, Intake::End(_));
        if tx.send(item).is_err() || last {
            return;
        }
    }
}

/// The mirror sees the streams as the serve loop will: audio, and their ends.
fn feed(m: &VadMirror, f: &Frame<Request>) {
    match f {
        Frame::Audio(samples) => m.audio(samples),
        Frame::Control(Request::Drain) => m.end_stream(true),
        Frame::Control(Request::Flush) => m.end_stream(false),
        Frame::Control(_) => {}
    }
}
