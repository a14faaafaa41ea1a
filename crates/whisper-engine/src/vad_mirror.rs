//! Speech detection on a thread of its own, fed the same audio as the streams it serves and
//! ahead of them: the worker gives each audio frame to the mirror as it arrives and to the
//! stream only when the stream gets to it, so that Silero runs while the encoder and decoder do
//! (on a GPU the CPU is otherwise idle then) and the stream reads its blocks instead.
//!
//! The mirror follows the streams' block grid: a stream starts at sample 0 (or at the VAD
//! position of the state it resumes from), runs whole blocks as audio arrives and the rest as
//! one block when it is drained; `end_stream` starts the next stream's numbering. What it
//! computes is only ever used where it equals what the stream would compute (`vad_ahead.rs`).

use crate::error::Result;
use crate::vad::{LstmState, SileroVad, BLOCK_FRAMES, CONTEXT, FRAME};
use crate::vad_ahead::{
    block_rows, samples_or_zeros, Block, Frontier, SpeechProbabilities, StopOnExit,
};
use crate::StreamState;
use std::sync::mpsc;
use std::thread::JoinHandle;

enum Msg {
    Audio(Vec<f32>),
    /// The stream ends; `drained`: its rest is decoded (the last partial block is run).
    EndStream {
        drained: bool,
    },
}

/// The feeding end of the mirror thread (see the module doc). Dropping it stops the thread.
pub struct VadMirror {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
    probabilities: SpeechProbabilities,
}

impl std::fmt::Debug for VadMirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VadMirror")
            .field("probabilities", &self.probabilities)
            .finish()
    }
}

impl VadMirror {
    /// Loads Silero on a new thread; the first stream starts fresh or from `resume`.
    pub fn spawn(resume: Option<&StreamState>) -> Result<Self> {
        let first = StreamStart::from(resume);
        let probabilities = SpeechProbabilities::producing(Frontier::running_at(0, first.vad_pos));
        let vad = SileroVad::load()?;
        let (tx, rx) = mpsc::channel();
        let out = probabilities.clone();
        let thread = std::thread::Builder::new()
            .name("arcwhisper-vad".into())
            .spawn(move || run(vad, first, rx, out))
            .map_err(|e| crate::Error::Runtime(format!("cannot start the VAD thread: {e}")))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            probabilities,
        })
    }

    /// The blocks, for the stream numbered `generation` (0 first, +1 after each `end_stream`).
    pub fn probabilities(&self, generation: u64) -> SpeechProbabilities {
        self.probabilities.for_stream(generation)
    }

    /// More audio of the current stream.
    pub fn audio(&self, samples: &[f32]) {
        self.send(Msg::Audio(samples.to_vec()));
    }

    /// The current stream ends (`drained`: its rest is decoded); the next starts at sample 0.
    pub fn end_stream(&self, drained: bool) {
        self.send(Msg::EndStream { drained });
    }

    fn send(&self, m: Msg) {
        // A thread that stopped (Silero failed) left `running: false`: streams run the VAD.
        if let Some(tx) = &self.tx {
            let _ = tx.send(m);
        }
    }
}

impl Drop for VadMirror {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Where a stream's VAD starts: its first sample held, its VAD position and LSTM state.
struct StreamStart {
    buf_start: u64,
    vad_pos: u64,
    lstm: LstmState,
}

impl StreamStart {
    fn from(resume: Option<&StreamState>) -> Self {
        let Some(st) = resume else {
            return Self::fresh();
        };
        let (vad_pos, lstm) = st
            .vad
            .as_ref()
            .map_or((st.seek_samples, LstmState::default()), |v| {
                (v.vad_pos, v.lstm.clone())
            });
        Self {
            buf_start: st.seek_samples,
            vad_pos,
            lstm,
        }
    }

    fn fresh() -> Self {
        Self {
            buf_start: 0,
            vad_pos: 0,
            lstm: LstmState::default(),
        }
    }
}

/// One stream's audio and VAD position on the mirror thread.
struct Mirrored {
    generation: u64,
    buf: Vec<f32>,
    buf_start: u64,
    pos: u64,
    lstm: LstmState,
}

impl Mirrored {
    fn new(generation: u64, s: StreamStart) -> Self {
        Self {
            generation,
            buf: Vec::new(),
            buf_start: s.buf_start,
            pos: s.vad_pos,
            lstm: s.lstm,
        }
    }

    fn buf_end(&self) -> u64 {
        self.buf_start + self.buf.len() as u64
    }

    fn frontier(&self) -> Frontier {
        Frontier::running_at(self.generation, self.pos)
    }

    /// Runs `frames` frames from `pos` into `out`, as the stream would.
    fn run_block(
        &mut self,
        vad: &mut SileroVad,
        frames: usize,
        out: &SpeechProbabilities,
    ) -> Result<()> {
        let (buf, start) = (&self.buf, self.buf_start);
        let rows = block_rows(|f, t| samples_or_zeros(buf, start, f, t), self.pos, frames);
        let b = Block::compute(vad, &rows, &mut self.lstm)?;
        out.publish(self.generation, self.pos, b);
        self.pos += (frames * FRAME) as u64;
        self.trim();
        Ok(())
    }

    /// Keeps only the look-back the next block needs.
    fn trim(&mut self) {
        let keep_from = self.pos.saturating_sub(CONTEXT as u64);
        if keep_from > self.buf_start {
            let n = ((keep_from - self.buf_start) as usize).min(self.buf.len());
            self.buf.drain(..n);
            self.buf_start += n as u64;
        }
    }
}

fn run(mut vad: SileroVad, first: StreamStart, rx: mpsc::Receiver<Msg>, out: SpeechProbabilities) {
    let _stop = StopOnExit(out.clone());
    let mut s = Mirrored::new(0, first);
    let block = (BLOCK_FRAMES * FRAME) as u64;
    let served = (|| -> Result<()> {
        for m in rx {
            match m {
                Msg::Audio(a) => {
                    s.buf.extend_from_slice(&a);
                    while s.buf_end() >= s.pos + block {
                        s.run_block(&mut vad, BLOCK_FRAMES, &out)?;
                    }
                }
                Msg::EndStream { drained } => {
                    let left = s.buf_end().saturating_sub(s.pos) as usize;
                    if drained && left > 0 {
                        s.run_block(&mut vad, left.div_ceil(FRAME), &out)?;
                    }
                    s = Mirrored::new(s.generation + 1, StreamStart::fresh());
                    out.advance(s.frontier());
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = served {
        eprintln!(
            "arcwhisper-vad: speech detection ahead stopped ({e}); streams run it themselves"
        );
    }
}
