//! Speech probabilities of a whole recording computed ahead, apart from the Whisper model: the
//! CLI runs Silero over the decoded file while the model still compiles, and the stream then
//! reads the probabilities instead of running the VAD between windows.
//!
//! Each block is computed exactly as the stream computes it (same rows, same block boundaries,
//! the LSTM state carried from the first frame), and the stream uses a block only when its rows
//! and the LSTM state it starts from are the ones the block was computed from (a hash of the
//! rows, the state compared bit for bit): any other audio falls back to running the VAD, so the
//! result never depends on whether probabilities were computed ahead.

use crate::error::Result;
use crate::vad::{LstmState, SileroVad, BLOCK_FRAMES, CONTEXT, FRAME};
use std::collections::HashMap;
use std::hash::Hasher;
use std::time::Instant;

/// Silero's input rows for `frames` frames from sample `pos`: each frame's `CONTEXT` samples
/// before it (zeros for the stream's first frame) and its `FRAME` samples; `samples(from, to)`
/// gives the audio, zeros where there is none.
pub(crate) fn block_rows(
    samples: impl Fn(u64, u64) -> Vec<f32>,
    pos: u64,
    frames: usize,
) -> Vec<f32> {
    let mut rows = Vec::with_capacity(frames * (CONTEXT + FRAME));
    for f in 0..frames as u64 {
        let start = pos + f * FRAME as u64;
        if start < CONTEXT as u64 {
            rows.extend([0.0; CONTEXT]);
        } else {
            rows.extend(samples(start - CONTEXT as u64, start));
        }
        rows.extend(samples(start, start + FRAME as u64));
    }
    rows
}

/// One block's result and what it was computed from.
struct Block {
    frames: usize,
    rows_hash: u64,
    lstm_before: LstmState,
    probs: Vec<f32>,
    lstm_after: LstmState,
}

/// A recording's speech probabilities by block (see the module doc).
pub struct SpeechProbabilities {
    blocks: HashMap<u64, Block>,
    seconds: f64,
}

impl std::fmt::Debug for SpeechProbabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechProbabilities")
            .field("blocks", &self.blocks.len())
            .field("seconds", &self.seconds)
            .finish()
    }
}

impl SpeechProbabilities {
    /// Loads Silero ([`SileroVad::load`]) and runs it over `audio` (16 kHz mono, from sample 0).
    pub fn compute(audio: &[f32]) -> Result<Self> {
        Self::compute_with(&mut SileroVad::load()?, audio)
    }

    /// Runs `vad` over `audio` in the stream's blocks: whole blocks, then the rest as one block.
    pub fn compute_with(vad: &mut SileroVad, audio: &[f32]) -> Result<Self> {
        let t = Instant::now();
        let samples = |from: u64, to: u64| samples_or_zeros(audio, 0, from, to);
        let block = (BLOCK_FRAMES * FRAME) as u64;
        let end = audio.len() as u64;
        let (mut blocks, mut lstm, mut pos) = (HashMap::new(), LstmState::default(), 0u64);
        while pos < end {
            let frames = if end >= pos + block {
                BLOCK_FRAMES
            } else {
                ((end - pos) as usize).div_ceil(FRAME)
            };
            let rows = block_rows(samples, pos, frames);
            let lstm_before = lstm.clone();
            let probs = vad.run(&rows, &mut lstm)?;
            let b = Block {
                frames,
                rows_hash: hash_rows(&rows),
                lstm_before,
                probs,
                lstm_after: lstm.clone(),
            };
            blocks.insert(pos, b);
            pos += frames as u64 * FRAME as u64;
        }
        let seconds = t.elapsed().as_secs_f64();
        Ok(Self { blocks, seconds })
    }

    /// Time spent computing (counted in the model's `vad_seconds` by the stream that uses it).
    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// The block at `pos` when it was computed from these rows and this LSTM state.
    pub(crate) fn lookup(
        &self,
        pos: u64,
        rows: &[f32],
        lstm: &LstmState,
    ) -> Option<(&[f32], &LstmState)> {
        let b = self.blocks.get(&pos)?;
        let same = b.frames * (CONTEXT + FRAME) == rows.len()
            && b.lstm_before == *lstm
            && b.rows_hash == hash_rows(rows);
        same.then_some((b.probs.as_slice(), &b.lstm_after))
    }
}

/// Samples `[from, to)` of a stream whose `buf` starts at sample `buf_start`, zeros where `buf`
/// has none (before it, or past its end).
pub(crate) fn samples_or_zeros(buf: &[f32], buf_start: u64, from: u64, to: u64) -> Vec<f32> {
    let mut v = vec![0f32; (to - from) as usize];
    for (i, x) in v.iter_mut().enumerate() {
        let at = from + i as u64;
        if at >= buf_start {
            if let Some(&s) = buf.get((at - buf_start) as usize) {
                *x = s;
            }
        }
    }
    v
}

/// The rows' bits, hashed (equal rows give equal hashes; a collision would need two different
/// recordings to agree on 64 bits of SipHash for the same block).
fn hash_rows(rows: &[f32]) -> u64 {
    // One write of the block's bytes: SipHash per value was ~0.5 % of a run's time.
    let bytes: Vec<u8> = rows.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(&bytes);
    h.finish()
}
