//! Speech probabilities computed apart from the stream that uses them: the CLI runs Silero over
//! the decoded file on a thread started while the model compiles (`spawn_compute`), the worker
//! on a thread of its own as audio arrives (`vad_mirror.rs`); the stream reads the
//! probabilities instead of running the VAD between windows.
//!
//! Each block is computed exactly as the stream computes it (same rows, same block boundaries,
//! the LSTM state carried from the stream's first frame), and the stream uses a block only when
//! its rows and the LSTM state it starts from are the ones the block was computed from (a hash
//! of the rows, the state compared bit for bit): any other audio falls back to running the VAD,
//! so the result never depends on whether, or how far, probabilities were computed ahead.
//!
//! Blocks are kept by stream (a generation number: the worker's streams end at `Drain` and
//! `Flush`) and start sample. A stream asking for a block that a producer is still going to
//! compute waits for it rather than computing it twice.

use crate::error::Result;
use crate::vad::{LstmState, SileroVad, BLOCK_FRAMES, CONTEXT, FRAME};
use std::collections::BTreeMap;
use std::hash::Hasher;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Blocks kept behind the last one used (about 2 min of audio): a stream redone after a memory
/// failure re-reads from its seek point, which is never that far back.
const KEEP_BEHIND_BLOCKS: u64 = 64;
/// Longest wait for a block in progress before running the VAD in the stream instead (a guard:
/// the producer computes a block in milliseconds).
const WAIT_LIMIT: Duration = Duration::from_secs(10);
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
#[derive(Clone)]
pub(crate) struct Block {
    frames: usize,
    rows_hash: u64,
    lstm_before: LstmState,
    pub(crate) probs: Vec<f32>,
    pub(crate) lstm_after: LstmState,
    /// Time the VAD took for it (counted in `vad_seconds` by the stream that uses it).
    pub(crate) seconds: f64,
}

impl Block {
    /// Runs `vad` over `rows` (whole frames) from `lstm`, which becomes the state after them.
    pub(crate) fn compute(vad: &mut SileroVad, rows: &[f32], lstm: &mut LstmState) -> Result<Self> {
        let t = Instant::now();
        let lstm_before = lstm.clone();
        let probs = vad.run(rows, lstm)?;
        Ok(Block {
            frames: rows.len() / (CONTEXT + FRAME),
            rows_hash: hash_rows(rows),
            lstm_before,
            probs,
            lstm_after: lstm.clone(),
            seconds: t.elapsed().as_secs_f64(),
        })
    }

    fn matches(&self, rows: &[f32], lstm: &LstmState) -> bool {
        self.frames * (CONTEXT + FRAME) == rows.len()
            && self.lstm_before == *lstm
            && self.rows_hash == hash_rows(rows)
    }
}

/// Where a producer is: blocks of streams before `generation`, and of `generation` before
/// `next_pos`, are done; later ones are still coming while it is `running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frontier {
    pub generation: u64,
    pub next_pos: u64,
    pub running: bool,
}

impl Frontier {
    pub(crate) const DONE: Frontier = Frontier {
        generation: 0,
        next_pos: 0,
        running: false,
    };

    /// A producer at work whose next block is stream `generation`'s at `next_pos`.
    pub(crate) fn running_at(generation: u64, next_pos: u64) -> Frontier {
        Frontier {
            generation,
            next_pos,
            running: true,
        }
    }

    /// The block of stream `generation` at `pos` is still to come.
    fn will_compute(&self, generation: u64, pos: u64) -> bool {
        self.running
            && (self.generation < generation
                || (self.generation == generation && self.next_pos <= pos))
    }
}

/// The blocks and the producer's progress, shared between the producer and the streams.
struct Store {
    blocks: BTreeMap<(u64, u64), Block>,
    frontier: Frontier,
    seconds: f64,
}

struct Shared {
    store: Mutex<Store>,
    changed: Condvar,
}

/// Speech probabilities by block (see the module doc): a handle on the blocks of one stream.
#[derive(Clone)]
pub struct SpeechProbabilities {
    shared: Arc<Shared>,
    generation: u64,
}

impl std::fmt::Debug for SpeechProbabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let store = self.store();
        f.debug_struct("SpeechProbabilities")
            .field("generation", &self.generation)
            .field("blocks", &store.blocks.len())
            .field("frontier", &store.frontier)
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
        let ahead = Self::producing(Frontier::DONE);
        ahead.fill(vad, audio)?;
        Ok(ahead)
    }

    /// Computes the probabilities of `audio` (16 kHz mono, from sample 0) on a thread of its own
    /// while the stream that reads them runs: it reads each block as soon as it is done (the
    /// CLI: Silero starts while the model compiles and goes on beside the encoder, instead of
    /// one core running it alone until the whole file is done). If Silero cannot load, the
    /// stream runs the VAD itself and reports why.
    pub fn spawn_compute(audio: std::sync::Arc<Vec<f32>>) -> Self {
        let ahead = Self::producing(Frontier::running_at(0, 0));
        let out = ahead.clone();
        let spawned = std::thread::Builder::new()
            .name("arcwhisper-vad".into())
            .spawn(move || {
                let _stop = StopOnExit(out.clone());
                if let Ok(mut vad) = SileroVad::load() {
                    let _ = out.fill(&mut vad, &audio);
                }
            });
        if spawned.is_err() {
            ahead.advance(Frontier::DONE);
        }
        ahead
    }

    /// Stream 0's blocks of `audio`, in order, each published as it is done.
    fn fill(&self, vad: &mut SileroVad, audio: &[f32]) -> Result<()> {
        let samples = |from: u64, to: u64| samples_or_zeros(audio, 0, from, to);
        let block = (BLOCK_FRAMES * FRAME) as u64;
        let end = audio.len() as u64;
        let (mut lstm, mut pos) = (LstmState::default(), 0u64);
        while pos < end {
            let frames = if end >= pos + block {
                BLOCK_FRAMES
            } else {
                ((end - pos) as usize).div_ceil(FRAME)
            };
            let rows = block_rows(samples, pos, frames);
            self.publish(0, pos, Block::compute(vad, &rows, &mut lstm)?);
            pos += frames as u64 * FRAME as u64;
        }
        self.advance(Frontier::DONE);
        Ok(())
    }

    /// An empty store that a producer fills (`publish`, `advance`), handed out for stream 0.
    pub(crate) fn producing(frontier: Frontier) -> Self {
        let store = Store {
            blocks: BTreeMap::new(),
            frontier,
            seconds: 0.0,
        };
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            changed: Condvar::new(),
        });
        Self {
            shared,
            generation: 0,
        }
    }

    /// The same blocks, for the stream numbered `generation` (0 for the first).
    pub fn for_stream(&self, generation: u64) -> Self {
        Self {
            shared: self.shared.clone(),
            generation,
        }
    }

    /// Time spent computing blocks so far.
    pub fn seconds(&self) -> f64 {
        self.store().seconds
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        // A producer that panicked holding the lock left whole entries only.
        self.shared.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds the block of stream `generation` at `pos`; the producer's next block follows it.
    pub(crate) fn publish(&self, generation: u64, pos: u64, b: Block) {
        let mut store = self.store();
        store.seconds += b.seconds;
        store.frontier.generation = generation;
        store.frontier.next_pos = pos + (b.frames * FRAME) as u64;
        store.blocks.insert((generation, pos), b);
        drop(store);
        self.shared.changed.notify_all();
    }

    /// The producer's new position (`running: false` when it stops: nobody waits any more).
    pub(crate) fn advance(&self, frontier: Frontier) {
        self.store().frontier = frontier;
        self.shared.changed.notify_all();
    }

    /// The block at `pos` of this stream when it was computed from these rows and this LSTM
    /// state, waiting for it while the producer is still going to compute it.
    pub(crate) fn lookup(&self, pos: u64, rows: &[f32], lstm: &LstmState) -> Option<Block> {
        let key = (self.generation, pos);
        let deadline = Instant::now() + WAIT_LIMIT;
        let mut store = self.store();
        loop {
            if let Some(b) = store.blocks.get(&key) {
                let found = b.matches(rows, lstm).then(|| b.clone());
                forget_before(&mut store.blocks, key);
                return found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if !store.frontier.will_compute(self.generation, pos) || left.is_zero() {
                return None;
            }
            store = match self.shared.changed.wait_timeout(store, left) {
                Ok((s, _)) => s,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

/// Tells waiting streams that no more blocks come, however the producer's thread ends (a
/// panic included).
pub(crate) struct StopOnExit(pub(crate) SpeechProbabilities);

impl Drop for StopOnExit {
    fn drop(&mut self) {
        self.0.advance(Frontier::DONE);
    }
}

/// Drops blocks of earlier streams and those far behind `key` (memory stays bounded however
/// long the worker runs).
fn forget_before(blocks: &mut BTreeMap<(u64, u64), Block>, key: (u64, u64)) {
    let behind = KEEP_BEHIND_BLOCKS * (BLOCK_FRAMES * FRAME) as u64;
    let keep_from = (key.0, key.1.saturating_sub(behind));
    *blocks = blocks.split_off(&keep_from);
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
