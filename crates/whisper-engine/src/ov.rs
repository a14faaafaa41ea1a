//! The OpenVINO side: compiling the encoder and decoder IR and running them.

use crate::decode::Session;
use crate::error::{Error, OvContext, Result};
use crate::precision::{CpuCapabilities, Precision};
use openvino::{
    CompiledModel, Core, DeviceType, ElementType, InferRequest, PropertyKey, RwPropertyKey, Shape,
    Tensor,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const ENCODER_XML: &str = "openvino_encoder_model.xml";
const DECODER_XML: &str = "openvino_decoder_model.xml";
const DECODER_PAST_XML: &str = "openvino_decoder_with_past_model.xml";
/// The decoder output with the alignment heads' raw cross-attention scores, `[B, A, T, S]`
/// (tools/convert writes it; optimum-intel exports have none).
pub(crate) const ALIGNMENT_OUTPUT: &str = "cross_attention_qk";

fn check_ir(dir: &Path, xml: &str) -> Result<(PathBuf, PathBuf)> {
    let x = dir.join(xml);
    let b = x.with_extension("bin");
    for p in [&x, &b] {
        if !p.is_file() {
            return Err(Error::Model {
                path: p.clone(),
                msg: "is missing; the model folder is incomplete. Re-run tools/setup.sh (the \
                      converter in tools/convert/) or re-export with `optimum-cli export openvino`"
                    .into(),
            });
        }
    }
    Ok((x, b))
}

fn read_model(core: &mut Core, xml: &Path, bin: &Path) -> Result<openvino::Model> {
    core.read_model_from_file(&xml.to_string_lossy(), &bin.to_string_lossy())
        .map_err(|e| Error::Model {
            path: xml.to_path_buf(),
            msg: format!(
                "OpenVINO cannot read this IR ({e}); the files are corrupt or truncated. \
                 Delete the model folder and re-run tools/setup.sh"
            ),
        })
}

fn input_names(m: &CompiledModel) -> Result<Vec<String>> {
    let n = m.get_input_size().ov(|| "model inputs".into())?;
    (0..n)
        .map(|i| {
            m.get_input_by_index(i)
                .and_then(|node| node.get_name())
                .ov(|| "input name".into())
        })
        .collect()
}

fn output_names(m: &CompiledModel) -> Result<Vec<String>> {
    let n = m.get_output_size().ov(|| "model outputs".into())?;
    (0..n)
        .map(|i| {
            m.get_output_by_index(i)
                .and_then(|node| node.get_name())
                .ov(|| "output name".into())
        })
        .collect()
}

pub(crate) fn tensor_i64(values: &[i64], shape: &[i64]) -> Result<Tensor> {
    let shape = Shape::new(shape).ov(|| "shape".into())?;
    let mut t = Tensor::new(ElementType::I64, &shape).ov(|| "tensor".into())?;
    t.get_data_mut::<i64>()
        .ov(|| "tensor data".into())?
        .copy_from_slice(values);
    Ok(t)
}

enum DecoderKind {
    /// One IR whose KV cache lives in OpenVINO state variables.
    Stateful,
    /// `openvino_decoder_model.xml` (first step) + `openvino_decoder_with_past_model.xml`.
    Stateless { with_past: CompiledModel },
}

pub(crate) struct OvWhisper {
    _core: Core,
    encoder_req: InferRequest,
    features: Tensor,
    decoder: CompiledModel,
    kind: DecoderKind,
    decoder_inputs: Vec<String>,
    /// Heads in the `cross_attention_qk` output; 0 when the decoder has none.
    pub alignment_heads: usize,
    #[allow(dead_code)]
    pub n_mels: usize,
    pub device: String,
    /// The precision hints the encoder and the decoder were compiled with.
    pub precision: Precision,
}

/// The precision for `device` on this machine (see `precision.rs`), asking OpenVINO what the CPU
/// computes natively and `/proc/cpuinfo` whether it has AMX.
fn choose_precision(core: &Core, dev: &DeviceType, device: &str) -> Precision {
    let cpu = device.starts_with("CPU").then(|| {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        core.get_property(dev, &PropertyKey::DeviceCapabilities)
            .map(|c| CpuCapabilities::parse(&c, &cpuinfo))
            .map_err(|e| eprintln!("whisper-engine: reading CPU OPTIMIZATION_CAPABILITIES: {e}"))
            .ok()
    });
    Precision::choose(device, cpu.flatten().as_ref(), |k| std::env::var(k).ok())
}

// SAFETY: the OpenVINO objects are only used from the thread that owns the model (`&mut self`).
unsafe impl Send for OvWhisper {}

impl OvWhisper {
    pub fn load(
        dir: &Path,
        device: &str,
        cache_dir: &Path,
        threads: Option<usize>,
        n_mels: usize,
    ) -> Result<Self> {
        // Two processes compiling the same model into one cache folder race inside OpenVINO
        // (one fails with "filesystem error: cannot set permissions ... .blob"), which is what
        // two per-card pipelines do on a first run. Compile one at a time per cache folder (the
        // second then loads the first's blob, which is faster anyway), and if the cache still
        // fails, compile without it rather than fail the worker.
        let _ = std::fs::create_dir_all(cache_dir);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(cache_dir.join(".compile.lock"))
            .ok();
        if let Some(l) = &lock {
            let _ = l.lock();
        }
        match Self::load_with_cache(dir, device, Some(cache_dir), threads, n_mels) {
            Err(e) if is_cache_failure(&e, cache_dir) => {
                eprintln!(
                    "whisper-engine: the OpenVINO cache {} failed ({e}); compiling without it",
                    cache_dir.display()
                );
                Self::load_with_cache(dir, device, None, threads, n_mels)
            }
            other => other,
        }
    }

    fn load_with_cache(
        dir: &Path,
        device: &str,
        cache_dir: Option<&Path>,
        threads: Option<usize>,
        n_mels: usize,
    ) -> Result<Self> {
        let (enc_xml, enc_bin) = check_ir(dir, ENCODER_XML)?;
        let (dec_xml, dec_bin) = check_ir(dir, DECODER_XML)?;
        crate::runtime::load_runtime()?;
        let mut core = Core::new().map_err(|e| Error::Runtime(format!("{e}")))?;
        let dev = DeviceType::from(device);
        if let Some(cache_dir) = cache_dir {
            core.set_property(&dev, &RwPropertyKey::CacheDir, &cache_dir.to_string_lossy())
                .ov(|| format!("setting CACHE_DIR={} on {device}", cache_dir.display()))?;
        }
        let is_cpu = device == "CPU" || device.starts_with("CPU");
        if is_cpu {
            if let Some(n) = threads {
                core.set_property(&dev, &RwPropertyKey::InferenceNumThreads, &n.to_string())
                    .ov(|| format!("setting INFERENCE_NUM_THREADS={n}"))?;
            }
        }
        let precision = choose_precision(&core, &dev, device);
        let set_precision = |core: &mut Core, hint: &Option<String>| -> Result<()> {
            if let Some(p) = hint {
                core.set_property(&dev, &RwPropertyKey::HintInferencePrecision, p)
                    .ov(|| format!("setting INFERENCE_PRECISION_HINT={p}"))?;
            }
            Ok(())
        };
        set_precision(&mut core, &precision.encoder)?;
        let enc_model = read_model(&mut core, &enc_xml, &enc_bin)?;
        let mut encoder = core
            .compile_model(&enc_model, DeviceType::from(device))
            .ov(|| format!("compiling {} for {device}", enc_xml.display()))?;
        set_precision(&mut core, &precision.decoder)?;
        if is_cpu && cache_dir.is_some() {
            // The CPU compiles the decoder faster than it imports the decoder's cached blob
            // (base: 0.21-0.24 s against 0.29-0.44 s, tiny.en-int8 0.19 against 0.24-0.34 s on
            // the EPYC of BENCHMARKS.md); the encoder's blob stays a gain (0.07 against 0.15 s).
            // GPUs keep the cache for both: their kernels take seconds to build.
            core.set_property(&dev, &RwPropertyKey::CacheDir, "")
                .ov(|| format!("clearing CACHE_DIR on {device}"))?;
        }
        let dec_model = read_model(&mut core, &dec_xml, &dec_bin)?;
        let decoder = core
            .compile_model(&dec_model, DeviceType::from(device))
            .ov(|| format!("compiling {} for {device}", dec_xml.display()))?;
        let decoder_inputs = input_names(&decoder)?;
        let kind = if decoder_inputs.iter().any(|n| n == "beam_idx")
            || !decoder_inputs
                .iter()
                .any(|n| n.starts_with("past_key_values"))
                && !dir.join(DECODER_PAST_XML).is_file()
        {
            DecoderKind::Stateful
        } else {
            let (px, pb) = check_ir(dir, DECODER_PAST_XML)?;
            let pm = read_model(&mut core, &px, &pb)?;
            let with_past = core
                .compile_model(&pm, DeviceType::from(device))
                .ov(|| format!("compiling {} for {device}", px.display()))?;
            DecoderKind::Stateless { with_past }
        };
        let has_alignment = matches!(kind, DecoderKind::Stateful)
            && output_names(&decoder)?
                .iter()
                .any(|n| n == ALIGNMENT_OUTPUT);
        let alignment_heads = if has_alignment {
            alignment_head_count(&decoder)?
        } else {
            0
        };
        let encoder_req = encoder
            .create_infer_request()
            .ov(|| "creating the encoder request".into())?;
        let shape =
            Shape::new(&[1, n_mels as i64, crate::mel::N_FRAMES as i64]).ov(|| "shape".into())?;
        let features = Tensor::new(ElementType::F32, &shape).ov(|| "tensor".into())?;
        Ok(Self {
            _core: core,
            encoder_req,
            features,
            decoder,
            kind,
            decoder_inputs,
            alignment_heads,
            n_mels,
            device: device.to_string(),
            precision,
        })
    }

    /// The forced-alignment pass: `tokens` at once on a fresh decoder state. Returns the
    /// alignment heads' scores over the first `frames` encoder frames, `[heads][T][frames]`
    /// flattened, and the probability (softmax over the first `text_vocab` logits) of each
    /// `targets[k]` at row `first_row + k`.
    pub fn forced_pass(
        &mut self,
        encoder_out: &Tensor,
        tokens: &[u32],
        frames: usize,
        first_row: usize,
        targets: &[u32],
        text_vocab: usize,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let mut session = self.session(encoder_out)?;
        let mut scratch = vec![Vec::new()];
        session.forward(tokens, &[0], &mut scratch)?;
        let logits = session
            .req
            .get_tensor("logits")
            .ov(|| "decoder logits".into())?;
        let qk = session
            .req
            .get_tensor(ALIGNMENT_OUTPUT)
            .ov(|| format!("decoder output {ALIGNMENT_OUTPUT}"))?;
        let probs = target_probs(&logits, first_row, targets, text_vocab)?;
        let dims = qk
            .get_shape()
            .ov(|| "qk shape".into())?
            .get_dimensions()
            .to_vec();
        let (t, s) = (dims[2] as usize, dims[3] as usize);
        let data = qk.get_data::<f32>().ov(|| "qk".into())?;
        let frames = frames.min(s);
        let mut out = Vec::with_capacity(self.alignment_heads * t * frames);
        for row in data.chunks_exact(s).take(self.alignment_heads * t) {
            out.extend_from_slice(&row[..frames]);
        }
        Ok((out, probs))
    }

    /// Run the encoder on `[n_mels, 3000]` features; returns `last_hidden_state` `[1,1500,d]`.
    pub fn encode(&mut self, mel: &[f32]) -> Result<Tensor> {
        self.features
            .get_data_mut::<f32>()
            .ov(|| "features".into())?
            .copy_from_slice(mel);
        self.encoder_req
            .set_input_tensor(&self.features)
            .ov(|| "setting input_features".into())?;
        self.encoder_req
            .infer()
            .ov(|| "running the encoder".into())?;
        self.encoder_req
            .get_output_tensor()
            .ov(|| "encoder output".into())
    }

    /// Whether the decoder can run several windows in one batch: a stateful IR with
    /// `beam_idx` and a dynamic batch dimension (our converter's and optimum-intel's are).
    pub fn supports_batch(&self) -> bool {
        matches!(self.kind, DecoderKind::Stateful)
            && self.decoder_inputs.iter().any(|n| n == "beam_idx")
            && input_batch_is_dynamic(&self.decoder, "input_ids").unwrap_or(false)
    }

    /// A fresh decoder session for `batch` windows decoded in lockstep; `encoder_out` is their
    /// encoder outputs stacked, `[batch, 1500, d]`.
    pub fn batch_session(&mut self, encoder_out: &Tensor, batch: usize) -> Result<BatchSession> {
        let mut req = self
            .decoder
            .create_infer_request()
            .ov(|| "creating a batched decoder request".into())?;
        req.set_tensor("encoder_hidden_states", encoder_out)
            .ov(|| "setting encoder_hidden_states".into())?;
        // Row b keeps its own cache: beam_idx is the identity.
        let shape = Shape::new(&[batch as i64]).ov(|| "shape".into())?;
        let mut b = Tensor::new(ElementType::I32, &shape).ov(|| "tensor".into())?;
        for (i, v) in b
            .get_data_mut::<i32>()
            .ov(|| "beam_idx".into())?
            .iter_mut()
            .enumerate()
        {
            *v = i as i32;
        }
        req.set_tensor("beam_idx", &b)
            .ov(|| "setting beam_idx".into())?;
        Ok(BatchSession {
            req,
            batch,
            pos: 0,
            has_cache_position: self.decoder_inputs.iter().any(|n| n == "cache_position"),
        })
    }

    /// A fresh decoder session for one decoding attempt of one window.
    pub fn session<'a>(&'a mut self, encoder_out: &'a Tensor) -> Result<OvSession<'a>> {
        let mut req = self
            .decoder
            .create_infer_request()
            .ov(|| "creating a decoder request".into())?;
        req.set_tensor("encoder_hidden_states", encoder_out)
            .ov(|| "setting encoder_hidden_states".into())?;
        let has = |n: &str| self.decoder_inputs.iter().any(|x| x == n);
        if has("beam_idx") {
            let shape = Shape::new(&[1]).ov(|| "shape".into())?;
            let mut b = Tensor::new(ElementType::I32, &shape).ov(|| "tensor".into())?;
            b.get_data_mut::<i32>().ov(|| "beam_idx".into())?[0] = 0;
            req.set_tensor("beam_idx", &b)
                .ov(|| "setting beam_idx".into())?;
        }
        let stateless = match &mut self.kind {
            DecoderKind::Stateful => None,
            DecoderKind::Stateless { with_past } => {
                let past_req = with_past
                    .create_infer_request()
                    .ov(|| "creating a decoder-with-past request".into())?;
                let past_inputs = input_names(with_past)?;
                let first_outputs = output_names(&self.decoder)?;
                Some(StatelessState {
                    past_req,
                    past_inputs,
                    first_outputs,
                    encoder_kv: HashMap::new(),
                })
            }
        };
        Ok(OvSession {
            req,
            encoder_out,
            has_cache_position: has("cache_position"),
            has_attention_mask: has("attention_mask"),
            pos: 0,
            stateless,
            first: true,
            step_tensors: None,
        })
    }
}

struct StatelessState {
    past_req: InferRequest,
    past_inputs: Vec<String>,
    first_outputs: Vec<String>,
    /// Cross-attention K/V from the first step, fed to every later step.
    encoder_kv: HashMap<String, Tensor>,
}

pub(crate) struct OvSession<'a> {
    req: InferRequest,
    encoder_out: &'a Tensor,
    has_cache_position: bool,
    has_attention_mask: bool,
    pos: i64,
    stateless: Option<StatelessState>,
    first: bool,
    /// `input_ids` [1,1] and `cache_position` [1] reused by every one-token step (stateful).
    step_tensors: Option<(Tensor, Tensor)>,
}

/// A stateful decoder request over `batch` sequences that advance together (same positions).
pub(crate) struct BatchSession {
    req: InferRequest,
    batch: usize,
    pos: i64,
    has_cache_position: bool,
}

impl BatchSession {
    /// One pass over `tokens` (`batch` rows of `steps` tokens, row-major); positions continue
    /// from the previous call.
    pub fn forward(&mut self, tokens: &[u32], steps: usize) -> Result<()> {
        let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
        let input_ids = tensor_i64(&ids, &[self.batch as i64, steps as i64])?;
        self.req
            .set_tensor("input_ids", &input_ids)
            .ov(|| "setting input_ids".into())?;
        if self.has_cache_position {
            let positions: Vec<i64> = (self.pos..self.pos + steps as i64).collect();
            let cp = tensor_i64(&positions, &[steps as i64])?;
            self.req
                .set_tensor("cache_position", &cp)
                .ov(|| "setting cache_position".into())?;
        }
        self.req
            .infer()
            .ov(|| "running the batched decoder".into())?;
        self.pos += steps as i64;
        Ok(())
    }

    /// The logits at step `row` of the last call, one vector per sequence.
    pub fn logits_at(&self, row: usize, out: &mut [Vec<f32>]) -> Result<()> {
        let logits = self
            .req
            .get_tensor("logits")
            .ov(|| "decoder logits".into())?;
        let dims = logits
            .get_shape()
            .ov(|| "logits shape".into())?
            .get_dimensions()
            .to_vec();
        let (steps, vocab) = (dims[1] as usize, dims[2] as usize);
        let data = logits.get_data::<f32>().ov(|| "logits".into())?;
        for (b, o) in out.iter_mut().enumerate().take(self.batch) {
            let at = (b * steps + row.min(steps - 1)) * vocab;
            o.clear();
            o.extend_from_slice(&data[at..at + vocab]);
        }
        Ok(())
    }
}

/// Encoder outputs `[1, S, d]` stacked into one `[n, S, d]` tensor (and a copy of one).
pub(crate) fn stack(parts: &[&Tensor]) -> Result<Tensor> {
    let dims = parts[0]
        .get_shape()
        .ov(|| "encoder output shape".into())?
        .get_dimensions()
        .to_vec();
    let mut shape = dims.clone();
    shape[0] = parts.len() as i64;
    let shape = Shape::new(&shape).ov(|| "shape".into())?;
    let mut out = Tensor::new(ElementType::F32, &shape).ov(|| "tensor".into())?;
    let data = out.get_data_mut::<f32>().ov(|| "stacked".into())?;
    let each = data.len() / parts.len();
    for (chunk, p) in data.chunks_exact_mut(each).zip(parts) {
        chunk.copy_from_slice(p.get_data::<f32>().ov(|| "encoder output".into())?);
    }
    Ok(out)
}

/// Whether an input's first dimension is dynamic (or already larger than 1).
fn input_batch_is_dynamic(m: &CompiledModel, name: &str) -> Result<bool> {
    let n = m.get_input_size().ov(|| "model inputs".into())?;
    for i in 0..n {
        let port = m.get_input_by_index(i).ov(|| "input".into())?;
        if port.get_name().ov(|| "input name".into())? == name {
            let shape = port.get_partial_shape().ov(|| "input shape".into())?;
            return Ok(shape
                .get_dimensions()
                .first()
                .is_some_and(|d| d.is_dynamic() || d.get_min() > 1));
        }
    }
    Ok(false)
}

fn copy_rows(logits: &Tensor, rows: &[usize], out: &mut [Vec<f32>]) -> Result<()> {
    let shape = logits.get_shape().ov(|| "logits shape".into())?;
    let dims = shape.get_dimensions();
    let vocab = *dims.last().unwrap_or(&0) as usize;
    let t = if dims.len() >= 2 {
        dims[dims.len() - 2] as usize
    } else {
        1
    };
    let data = logits.get_data::<f32>().ov(|| "logits".into())?;
    for (k, &r) in rows.iter().enumerate() {
        let r = r.min(t.saturating_sub(1));
        let row = &data[r * vocab..(r + 1) * vocab];
        out[k].clear();
        out[k].extend_from_slice(row);
    }
    Ok(())
}

impl Session for OvSession<'_> {
    fn forward(&mut self, tokens: &[u32], rows: &[usize], out: &mut [Vec<f32>]) -> Result<()> {
        let n = tokens.len() as i64;
        let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
        let positions: Vec<i64> = (self.pos..self.pos + n).collect();
        let first = self.first;
        self.first = false;
        match &mut self.stateless {
            None if n == 1 && !self.has_attention_mask => {
                // One-token step: write into the tensors already bound to the request.
                if self.step_tensors.is_none() {
                    let ids = tensor_i64(&ids, &[1, 1])?;
                    let cp = tensor_i64(&positions, &[1])?;
                    self.req
                        .set_tensor("input_ids", &ids)
                        .ov(|| "setting input_ids".into())?;
                    if self.has_cache_position {
                        self.req
                            .set_tensor("cache_position", &cp)
                            .ov(|| "setting cache_position".into())?;
                    }
                    self.step_tensors = Some((ids, cp));
                } else if let Some((ids_t, cp_t)) = &mut self.step_tensors {
                    ids_t.get_data_mut::<i64>().ov(|| "input_ids".into())?[0] = ids[0];
                    cp_t.get_data_mut::<i64>().ov(|| "cache_position".into())?[0] = positions[0];
                }
                self.req.infer().ov(|| "running the decoder".into())?;
                let logits = self
                    .req
                    .get_tensor("logits")
                    .ov(|| "decoder logits".into())?;
                copy_rows(&logits, rows, out)?;
            }
            None => {
                self.step_tensors = None;
                let input_ids = tensor_i64(&ids, &[1, n])?;
                self.req
                    .set_tensor("input_ids", &input_ids)
                    .ov(|| "setting input_ids".into())?;
                if self.has_cache_position {
                    let cp = tensor_i64(&positions, &[n])?;
                    self.req
                        .set_tensor("cache_position", &cp)
                        .ov(|| "setting cache_position".into())?;
                }
                if self.has_attention_mask {
                    let total = self.pos + n;
                    let m = tensor_i64(&vec![1; total as usize], &[1, total])?;
                    self.req
                        .set_tensor("attention_mask", &m)
                        .ov(|| "setting attention_mask".into())?;
                }
                self.req.infer().ov(|| "running the decoder".into())?;
                let logits = self
                    .req
                    .get_tensor("logits")
                    .ov(|| "decoder logits".into())?;
                copy_rows(&logits, rows, out)?;
            }
            Some(st) => {
                let input_ids = tensor_i64(&ids, &[1, n])?;
                if first {
                    self.req
                        .set_tensor("input_ids", &input_ids)
                        .ov(|| "setting input_ids".into())?;
                    self.req.infer().ov(|| "running the decoder".into())?;
                    let logits = self
                        .req
                        .get_tensor("logits")
                        .ov(|| "decoder logits".into())?;
                    copy_rows(&logits, rows, out)?;
                    for name in &st.first_outputs {
                        if let Some(rest) = name.strip_prefix("present") {
                            let input = format!("past_key_values{rest}");
                            if st.past_inputs.contains(&input) {
                                let t =
                                    self.req.get_tensor(name).ov(|| format!("output {name}"))?;
                                st.past_req
                                    .set_tensor(&input, &t)
                                    .ov(|| format!("setting {input}"))?;
                                if name.contains("encoder") {
                                    st.encoder_kv.insert(input, t);
                                }
                            }
                        }
                    }
                } else {
                    st.past_req
                        .set_tensor("input_ids", &input_ids)
                        .ov(|| "setting input_ids".into())?;
                    if st.past_inputs.iter().any(|x| x == "encoder_hidden_states") {
                        st.past_req
                            .set_tensor("encoder_hidden_states", self.encoder_out)
                            .ov(|| "setting encoder_hidden_states".into())?;
                    }
                    if st.past_inputs.iter().any(|x| x == "cache_position") {
                        let cp = tensor_i64(&positions, &[n])?;
                        st.past_req
                            .set_tensor("cache_position", &cp)
                            .ov(|| "setting cache_position".into())?;
                    }
                    st.past_req
                        .infer()
                        .ov(|| "running the decoder with past".into())?;
                    let logits = st
                        .past_req
                        .get_tensor("logits")
                        .ov(|| "decoder logits".into())?;
                    copy_rows(&logits, rows, out)?;
                    // Feed this step's decoder self-attention K/V to the next step. Copy them
                    // out first: the request owns its output buffers.
                    let outs: Vec<String> = st
                        .past_inputs
                        .iter()
                        .filter(|n| n.starts_with("past_key_values") && !n.contains("encoder"))
                        .cloned()
                        .collect();
                    for input in outs {
                        let oname = input.replacen("past_key_values", "present", 1);
                        let t = st
                            .past_req
                            .get_tensor(&oname)
                            .ov(|| format!("output {oname}"))?;
                        let shape = t.get_shape().ov(|| "shape".into())?;
                        let et = t.get_element_type().ov(|| "kv type".into())?;
                        let mut copy = Tensor::new(et, &shape).ov(|| "tensor".into())?;
                        copy.get_raw_data_mut()
                            .ov(|| "kv".into())?
                            .copy_from_slice(t.get_raw_data().ov(|| "kv".into())?);
                        st.past_req
                            .set_tensor(&input, &copy)
                            .ov(|| format!("setting {input}"))?;
                    }
                }
            }
        }
        self.pos += n;
        Ok(())
    }
}

/// Number of heads in the alignment output (its dimension 1, static in our IR).
fn alignment_head_count(decoder: &CompiledModel) -> Result<usize> {
    let n = decoder.get_output_size().ov(|| "model outputs".into())?;
    for i in 0..n {
        let port = decoder
            .get_output_by_index(i)
            .ov(|| "decoder output".into())?;
        if port.get_name().ov(|| "output name".into())? == ALIGNMENT_OUTPUT {
            let shape = port.get_partial_shape().ov(|| "output shape".into())?;
            let dims = shape.get_dimensions();
            if let Some(d) = dims.get(1).filter(|d| !d.is_dynamic()) {
                return Ok(d.get_min() as usize);
            }
        }
    }
    Ok(0)
}

/// Probability of `targets[k]` under softmax over the first `text_vocab` logits of row
/// `first_row + k` (CTranslate2's and openai-whisper's word probability).
fn target_probs(
    logits: &Tensor,
    first_row: usize,
    targets: &[u32],
    text_vocab: usize,
) -> Result<Vec<f32>> {
    let dims = logits
        .get_shape()
        .ov(|| "logits shape".into())?
        .get_dimensions()
        .to_vec();
    let vocab = *dims.last().unwrap_or(&0) as usize;
    let data = logits.get_data::<f32>().ov(|| "logits".into())?;
    let text_vocab = text_vocab.min(vocab);
    let mut out = Vec::with_capacity(targets.len());
    for (k, &tok) in targets.iter().enumerate() {
        let row = &data[(first_row + k) * vocab..][..text_vocab];
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = row.iter().map(|&x| (x - max).exp()).sum();
        let p = row
            .get(tok as usize)
            .map_or(0.0, |&x| (x - max).exp() / sum);
        out.push(p);
    }
    Ok(out)
}

/// Whether a load failed in OpenVINO's model cache rather than in the model itself.
fn is_cache_failure(e: &Error, cache_dir: &Path) -> bool {
    let msg = e.to_string();
    matches!(e, Error::OpenVino { .. })
        && (msg.contains("filesystem error") || msg.contains(&*cache_dir.to_string_lossy()))
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    #[test]
    fn cache_failures_are_told_from_model_failures() {
        let cache = Path::new("/home/u/.local/share/arcwhisper/cache");
        let model = Error::Model {
            path: "/m".into(),
            msg: "filesystem error".into(),
        };
        assert!(
            !is_cache_failure(&model, cache),
            "a model error is never retried"
        );
    }
}
