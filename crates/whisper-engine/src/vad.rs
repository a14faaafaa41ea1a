//! Silero VAD v6 (the ONNX shipped in faster-whisper's wheel) on OpenVINO, f32, CPU.
//!
//! The model reads `input [n, 576]` (64 samples of context + 512 new samples at 16 kHz per
//! row) and the LSTM state `h`, `c` `[1,1,128]`; it returns one speech probability per row and
//! the state after the last row. The `n` rows are consecutive frames of one stream (the state
//! runs through them), so frames are run in fixed blocks of [`BLOCK_FRAMES`] aligned to the
//! stream's frame index: a block's result then never depends on how the audio was chunked.

use crate::error::{Error, OvContext, Result};
use crate::vad_level::Level;
use openvino::{CompiledModel, Core, DeviceType, ElementType, InferRequest, RwPropertyKey};
use openvino::{Shape, Tensor};
use std::path::{Path, PathBuf};

/// New samples per VAD frame (32 ms at 16 kHz).
pub const FRAME: usize = 512;
/// Samples of the previous frame prepended to each frame.
pub const CONTEXT: usize = 64;
/// LSTM state size (`h` and `c` are `[1,1,128]`).
pub const STATE: usize = 128;
/// Frames per inference (2 s). Per frame, a call over 64 frames costs 0.021 ms against 0.033
/// over 16 and about ten times that one frame at a time (the EPYC of BENCHMARKS.md); larger
/// blocks gain little more, and speech decisions wait for a whole block.
pub const BLOCK_FRAMES: usize = 64;
/// Where set-up puts the model, relative to a model search folder.
pub const MODEL_FILE: &str = "silero-vad/silero_vad_v6.onnx";

/// Every place the model is looked for, in order (the model search folders).
pub fn model_candidates() -> Vec<PathBuf> {
    crate::runtime::model_search_dirs()
        .into_iter()
        .map(|d| d.join(MODEL_FILE))
        .collect()
}

/// The Silero model file, or an error naming every place searched and the fix.
pub fn find_model() -> Result<PathBuf> {
    let candidates = model_candidates();
    if let Some(p) = candidates.iter().find(|p| p.is_file()) {
        return Ok(p.clone());
    }
    Err(Error::ModelNotFound(format!(
        "the Silero VAD model (speech detection, vad=true) is not installed. Looked for: {}. \
         Run tools/setup.sh (it copies silero_vad_v6.onnx from the faster-whisper wheel), or \
         turn speech detection off (vad=false)",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// The state between blocks: the LSTM's and the input level's (`vad_level.rs`); stored
/// bit-exact so a resumed stream continues with exactly the numbers the interrupted one had.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LstmState {
    /// `h` as `f32::to_bits`.
    pub h: Vec<u32>,
    /// `c` as `f32::to_bits`.
    pub c: Vec<u32>,
    /// The input level's envelope of the loudest recent frames and its sustained loudness
    /// (dBFS, `vad_level::Level`) as `f32::to_bits`; a state saved before they existed resumes
    /// as if no frame had been heard.
    #[serde(default = "no_envelope_yet")]
    pub envelope: u32,
    #[serde(default = "no_loudness_yet")]
    pub loudness: u32,
}

fn no_envelope_yet() -> u32 {
    Level::default().envelope.to_bits()
}

fn no_loudness_yet() -> u32 {
    Level::default().loudness.to_bits()
}

impl Default for LstmState {
    fn default() -> Self {
        let mut state = Self {
            h: vec![0; STATE],
            c: vec![0; STATE],
            envelope: 0,
            loudness: 0,
        };
        state.set_level(Level::default());
        state
    }
}

impl LstmState {
    /// The input level the bits hold.
    fn level(&self) -> Level {
        Level {
            envelope: f32::from_bits(self.envelope),
            loudness: f32::from_bits(self.loudness),
        }
    }

    fn set_level(&mut self, level: Level) {
        self.envelope = level.envelope.to_bits();
        self.loudness = level.loudness.to_bits();
    }
}

/// A compiled Silero model with its request.
pub struct SileroVad {
    _core: Core,
    _model: CompiledModel,
    req: InferRequest,
}

// SAFETY: used only from the thread that owns the model (`&mut self`), as `OvWhisper`.
unsafe impl Send for SileroVad {}

impl std::fmt::Debug for SileroVad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SileroVad")
    }
}

impl SileroVad {
    /// Find ([`find_model`]) and compile the model for the CPU, f32, one thread.
    pub fn load() -> Result<Self> {
        Self::load_from(&find_model()?)
    }

    pub fn load_from(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::Model {
                path: path.to_path_buf(),
                msg: "is missing (the Silero VAD model, for speech detection). Run \
                      tools/setup.sh, which copies it from the faster-whisper wheel"
                    .into(),
            });
        }
        crate::runtime::load_runtime()?;
        let mut core = Core::new().map_err(|e| Error::Runtime(format!("{e}")))?;
        let cpu = DeviceType::CPU;
        // One thread: a block is tiny, and a `CPU:<list>` worker is already pinned.
        core.set_property(&cpu, &RwPropertyKey::InferenceNumThreads, "1")
            .ov(|| "setting INFERENCE_NUM_THREADS=1 for the VAD".into())?;
        core.set_property(&cpu, &RwPropertyKey::HintInferencePrecision, "f32")
            .ov(|| "setting INFERENCE_PRECISION_HINT=f32 for the VAD".into())?;
        crate::ov::leave_cpu_placement_to_os(&mut core)?;
        let model = core
            .read_model_from_file(&path.to_string_lossy(), "")
            .map_err(|e| Error::Model {
                path: path.to_path_buf(),
                msg: format!(
                    "OpenVINO cannot read this Silero VAD model ({e}). Delete it and re-run \
                     tools/setup.sh"
                ),
            })?;
        let mut compiled = core
            .compile_model(&model, cpu)
            .ov(|| format!("compiling {} for CPU", path.display()))?;
        let req = compiled
            .create_infer_request()
            .ov(|| "creating the VAD request".into())?;
        Ok(Self {
            _core: core,
            _model: compiled,
            req,
        })
    }

    /// Speech probabilities of consecutive frames. `rows` holds `n` rows of
    /// `CONTEXT + FRAME` samples; `state` is updated to the state after the last row.
    pub fn run(&mut self, rows: &[f32], state: &mut LstmState) -> Result<Vec<f32>> {
        let width = CONTEXT + FRAME;
        let n = rows.len() / width;
        if n == 0 || !rows.len().is_multiple_of(width) {
            return Err(Error::Options(format!(
                "VAD input of {} samples is not whole rows of {width}",
                rows.len()
            )));
        }
        let mut level = state.level();
        let rows = crate::vad_level::leveled(rows, width, CONTEXT, &mut level);
        let input = tensor_f32(&rows, &[n as i64, width as i64])?;
        let h = tensor_f32(&from_bits(&state.h), &[1, 1, STATE as i64])?;
        let c = tensor_f32(&from_bits(&state.c), &[1, 1, STATE as i64])?;
        for (name, t) in [("input", &input), ("h", &h), ("c", &c)] {
            self.req
                .set_tensor(name, t)
                .ov(|| format!("setting VAD input {name}"))?;
        }
        self.req.infer().ov(|| "running the VAD".into())?;
        let probs = self.output("speech_probs")?;
        state.h = to_bits(&self.output("hn")?);
        state.c = to_bits(&self.output("cn")?);
        state.set_level(level);
        if probs.len() != n {
            return Err(Error::Options(format!(
                "the VAD returned {} probabilities for {n} frames",
                probs.len()
            )));
        }
        Ok(probs)
    }

    fn output(&mut self, name: &str) -> Result<Vec<f32>> {
        let t = self
            .req
            .get_tensor(name)
            .ov(|| format!("VAD output {name}"))?;
        Ok(t.get_data::<f32>()
            .ov(|| format!("VAD output {name} data"))?
            .to_vec())
    }
}

fn tensor_f32(values: &[f32], shape: &[i64]) -> Result<Tensor> {
    let shape = Shape::new(shape).ov(|| "shape".into())?;
    let mut t = Tensor::new(ElementType::F32, &shape).ov(|| "tensor".into())?;
    t.get_data_mut::<f32>()
        .ov(|| "tensor data".into())?
        .copy_from_slice(values);
    Ok(t)
}

fn from_bits(v: &[u32]) -> Vec<f32> {
    let mut out: Vec<f32> = v.iter().map(|&b| f32::from_bits(b)).collect();
    out.resize(STATE, 0.0);
    out
}

fn to_bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}
