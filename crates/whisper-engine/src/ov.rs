//! The OpenVINO side: compiling the encoder and decoder IR and running them.

use crate::error::{Error, OvContext, Result};
use crate::precision::{is_cpu, CpuCapabilities, DecoderUse, Precision};
use crate::EngineConfig;
use openvino::{
    CompiledModel, Core, DeviceType, ElementType, InferRequest, PropertyKey, RwPropertyKey, Shape,
    Tensor,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod encoder_slot;
mod session;
mod window_decoder;

use encoder_slot::EncoderSlot;
pub(crate) use session::BatchSession;
use session::StatelessState;
pub(crate) use window_decoder::WindowDecoder;

const ENCODER_XML: &str = "openvino_encoder_model.xml";
/// An int8 model's encoder whose int8 weights a bf16 CPU folds at compile (converter 1.6.0 on;
/// tools/convert: `fold_at_compile`): 20 % faster a window there, the same numbers.
const FOLDED_ENCODER_XML: &str = "openvino_encoder_model.folded.xml";
/// An int8 model's encoder with int8 activations too (converter 1.9.0 on, NNCF's static
/// quantization): 28-33 % faster a window than bf16 where the CPU has int8 dot products.
const STATIC_INT8_ENCODER_XML: &str = "openvino_encoder_model.static-int8.xml";
/// `0`: never the static int8 encoder (benchmarks compare with and without it).
const STATIC_INT8_ENCODER_ENV: &str = "ARCWHISPER_STATIC_INT8_ENCODER";
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
    /// The decoder's Core (compiles it again: `recompile_decoder`), and the encoder's.
    _core: Core,
    _encoder_core: Core,
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
    /// The precision hints the encoder and `decoder` were compiled with.
    pub precision: Precision,
    /// The decoder's IR (`.xml`, `.bin`), to compile it again when the encoder slot moves.
    decoder_ir: (PathBuf, PathBuf),
    /// Where every decoder request reads the encoder output (see `encoder_slot.rs`).
    encoder_slot: EncoderSlot,
}

/// The precision for `cfg`'s device on this machine and the model in `dir` (see
/// `precision.rs`), asking OpenVINO what the CPU computes natively and `/proc/cpuinfo` whether
/// it has AMX.
fn choose_precision(core: &Core, cfg: &EngineConfig, dir: &Path) -> Precision {
    let (device, dev) = (cfg.device.as_str(), DeviceType::from(cfg.device.as_str()));
    let cpu = is_cpu(device).then(|| {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        core.get_property(&dev, &PropertyKey::DeviceCapabilities)
            .map(|c| CpuCapabilities::parse(&c, &cpuinfo))
            .map_err(|e| eprintln!("whisper-engine: reading CPU OPTIMIZATION_CAPABILITIES: {e}"))
            .ok()
    });
    let cpu = cpu.flatten();
    let decoder_use = DecoderUse {
        bf16_safe_ir: crate::config::bf16_decoder_safe(dir),
        bf16_batch_safe_ir: crate::config::bf16_batch_safe(dir),
        requested: cfg.decoder_precision.clone(),
        batched: cfg.batch_size > 1,
    };
    Precision::choose(device, cpu.as_ref(), decoder_use, |k| std::env::var(k).ok())
}

/// Set `INFERENCE_PRECISION_HINT` on `device` for the models compiled next (`None`: leave it).
fn set_precision_hint(core: &mut Core, device: &str, hint: &Option<String>) -> Result<()> {
    if let Some(p) = hint {
        core.set_property(
            &DeviceType::from(device),
            &RwPropertyKey::HintInferencePrecision,
            p,
        )
        .ov(|| format!("setting INFERENCE_PRECISION_HINT={p}"))?;
    }
    Ok(())
}

/// Which encoder IRs an int8 model folder holds besides the one every tool reads.
#[derive(Debug, Clone, Copy, Default)]
struct EncoderFiles {
    folded: bool,
    static_int8: bool,
}

impl EncoderFiles {
    fn in_dir(dir: &Path) -> Self {
        Self {
            folded: dir.join(FOLDED_ENCODER_XML).is_file(),
            static_int8: dir.join(STATIC_INT8_ENCODER_XML).is_file(),
        }
    }
}

/// Whether the CPU multiplies int8 in hardware (AVX-512 VNNI, AVX-VNNI; every AMX CPU has
/// VNNI): there the static int8 encoder is faster, without it slower than f32 (BENCHMARKS.md).
fn cpu_has_int8_dot_products() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512vnni")
            || std::arch::is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The encoder IR to compile: on a CPU with int8 dot products, an int8 model's static int8
/// encoder (unless `ARCWHISPER_STATIC_INT8_ENCODER=0`); else its folded encoder on a CPU that
/// runs it in bf16; else the one every tool reads (an f32 CPU computes the int8 weights faster
/// compressed, with dynamically quantized activations that folding would change; GPUs keep
/// theirs).
fn encoder_ir(
    on_cpu: bool,
    precision: &Precision,
    files: EncoderFiles,
    int8_dot_products: bool,
) -> &'static str {
    if on_cpu && files.static_int8 && int8_dot_products {
        STATIC_INT8_ENCODER_XML
    } else if on_cpu && files.folded && precision.encoder.as_deref() == Some("bf16") {
        FOLDED_ENCODER_XML
    } else {
        ENCODER_XML
    }
}

/// A Core for `cfg.device`: the thread count on a CPU, and the compile cache when given.
fn new_core(cfg: &EngineConfig, cache_dir: Option<&Path>) -> Result<Core> {
    let device = cfg.device.as_str();
    let mut core = Core::new().map_err(|e| Error::Runtime(format!("{e}")))?;
    let dev = DeviceType::from(device);
    if let Some(cache_dir) = cache_dir {
        core.set_property(&dev, &RwPropertyKey::CacheDir, &cache_dir.to_string_lossy())
            .ov(|| format!("setting CACHE_DIR={} on {device}", cache_dir.display()))?;
    }
    if is_cpu(device) {
        if let Some(n) = cfg.threads {
            core.set_property(&dev, &RwPropertyKey::InferenceNumThreads, &n.to_string())
                .ov(|| format!("setting INFERENCE_NUM_THREADS={n}"))?;
        }
        leave_cpu_placement_to_os(&mut core)?;
    }
    Ok(core)
}

/// Turn off OpenVINO's own thread pinning on the CPU (`ENABLE_CPU_PINNING`, on by default on
/// Linux). It pins every process's inference threads to the first CPUs of its affinity mask,
/// whatever other processes do: two `--threads 1` runs side by side both ran on CPU 0 and took
/// as long as one after the other (6.5 against 3.5 s, BENCHMARKS.md; Intel's knowledge-base
/// article 000058227 reports the same). Where a process should run is its affinity mask's
/// business (`CPU:<list>` workers, `taskset`), which the threads keep either way.
pub(crate) fn leave_cpu_placement_to_os(core: &mut Core) -> Result<()> {
    core.set_property(
        &DeviceType::CPU,
        &RwPropertyKey::HintEnableCpuPinning,
        "false",
    )
    .ov(|| "setting ENABLE_CPU_PINNING=false".into())
}

// SAFETY: the OpenVINO objects are only used from the thread that owns the model (`&mut self`).
unsafe impl Send for OvWhisper {}

impl OvWhisper {
    /// Compile the model in `dir` as `cfg` says, caching in `cache_dir`.
    pub fn load(dir: &Path, cfg: &EngineConfig, cache_dir: &Path, n_mels: usize) -> Result<Self> {
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
        let load = |cache| Self::load_with_cache(dir, cfg, cache, n_mels);
        match load(Some(cache_dir)) {
            Err(e) if is_cache_failure(&e, cache_dir) => {
                eprintln!(
                    "whisper-engine: the OpenVINO cache {} failed ({e}); compiling without it",
                    cache_dir.display()
                );
                load(None)
            }
            other => other,
        }
    }

    fn load_with_cache(
        dir: &Path,
        cfg: &EngineConfig,
        cache_dir: Option<&Path>,
        n_mels: usize,
    ) -> Result<Self> {
        let device = cfg.device.as_str();
        let (dec_xml, dec_bin) = check_ir(dir, DECODER_XML)?;
        crate::runtime::load_runtime()?;
        let on_cpu = is_cpu(device);
        let mut encoder_core = new_core(cfg, cache_dir)?;
        let mut precision = choose_precision(&encoder_core, cfg, dir);
        let int8_dot_products = cpu_has_int8_dot_products()
            && std::env::var(STATIC_INT8_ENCODER_ENV).map_or(true, |v| v.trim() != "0");
        let encoder_file = encoder_ir(
            on_cpu,
            &precision,
            EncoderFiles::in_dir(dir),
            int8_dot_products,
        );
        if encoder_file == STATIC_INT8_ENCODER_XML {
            // Logged with the precision: the encoder's MatMuls then run in int8, not the hint's.
            precision.reason.push_str(
                "; the encoder's activations int8 too (static int8 encoder: the CPU has VNNI)",
            );
        }
        let (enc_xml, enc_bin) = check_ir(dir, encoder_file)?;
        // The CPU compiles the decoder faster than it imports the decoder's cached blob
        // (tiny.en-int8 0.21 against 0.27 s, base-int8 0.29 against 0.36 s at bf16 on the AMX
        // Xeon of BENCHMARKS.md, alike on the EPYC); the encoder's blob stays a gain (0.05
        // against 0.11 s). GPUs keep the cache for both: their kernels take seconds to build.
        let decoder_cache = if on_cpu { None } else { cache_dir };
        let decoder_ir = (dec_xml, dec_bin);
        // The decoder compiles on a thread (and a Core) of its own while this one imports the
        // encoder: a load takes the longer of the two instead of their sum (tiny.en-int8 0.26
        // -> 0.21 s, base-int8 0.36 -> 0.30 s on the AMX Xeon).
        let (encoder, decoder) = std::thread::scope(|s| {
            let decoding = s.spawn(|| -> Result<(Core, CompiledModel)> {
                let mut core = new_core(cfg, decoder_cache)?;
                let decoder = compile_decoder(&mut core, &decoder_ir, device, &precision)?;
                Ok((core, decoder))
            });
            let encoder = set_precision_hint(&mut encoder_core, device, &precision.encoder)
                .and_then(|()| read_model(&mut encoder_core, &enc_xml, &enc_bin))
                .and_then(|m| {
                    encoder_core
                        .compile_model(&m, DeviceType::from(device))
                        .ov(|| format!("compiling {} for {device}", enc_xml.display()))
                });
            let decoder = decoding
                .join()
                .map_err(|_| Error::Runtime("compiling the decoder panicked".into()));
            (encoder, decoder)
        });
        let mut encoder = encoder?;
        let (mut core, decoder) = decoder??;
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
            _encoder_core: encoder_core,
            encoder_req,
            features,
            decoder,
            kind,
            decoder_inputs,
            alignment_heads,
            n_mels,
            device: device.to_string(),
            precision,
            decoder_ir,
            encoder_slot: EncoderSlot::new(),
        })
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
    /// `beam_idx` and a dynamic batch dimension (our converter's and optimum-intel's are),
    /// compiled in a precision that batches deterministically (`Precision::batch_safe`).
    pub fn supports_batch(&self) -> bool {
        self.precision.batch_safe
            && matches!(self.kind, DecoderKind::Stateful)
            && self.decoder_inputs.iter().any(|n| n == "beam_idx")
            && input_batch_is_dynamic(&self.decoder, "input_ids").unwrap_or(false)
    }

    /// Compile the decoder again: the encoder slot moved, and a compiled decoder must not see a
    /// second address (see `encoder_slot.rs`).
    fn recompile_decoder(&mut self) -> Result<()> {
        eprintln!(
            "whisper-engine: a batch needs more room for encoder outputs than reserved; \
             compiling the decoder again"
        );
        self.decoder = compile_decoder(
            &mut self._core,
            &self.decoder_ir,
            &self.device,
            &self.precision,
        )?;
        Ok(())
    }

    /// Room for `windows` windows in one batch from now on (a stream reserves its batch size
    /// before its first window, so that the encoder slot is allocated once). A decoder that
    /// cannot batch decodes one window at a time.
    pub fn reserve_batch(&mut self, windows: usize) {
        let windows = if self.supports_batch() { windows } else { 1 };
        self.encoder_slot.reserve(windows);
    }

    /// A fresh decoder session for the windows of `encoder_outs` (`[1, 1500, d]` each) decoded
    /// in lockstep.
    pub fn batch_session(&mut self, encoder_outs: &[&Tensor]) -> Result<BatchSession> {
        let batch = encoder_outs.len();
        let req = self.decoder_request(encoder_outs)?;
        let has_cache_position = self.decoder_inputs.iter().any(|n| n == "cache_position");
        Ok(BatchSession::new(req, batch, has_cache_position))
    }

    /// A fresh decoder request (a fresh state) over one sequence per window of `encoder_outs`,
    /// read from the encoder slot; each sequence keeps its own cache (`beam_idx` is the
    /// identity).
    fn decoder_request(&mut self, encoder_outs: &[&Tensor]) -> Result<InferRequest> {
        let batch = encoder_outs.len();
        self.encoder_slot.reserve(batch);
        if self.encoder_slot.take_moved() {
            self.recompile_decoder()?;
        }
        let mut req = self
            .decoder
            .create_infer_request()
            .ov(|| "creating a decoder request".into())?;
        let encoder_out = self.encoder_slot.fill(encoder_outs)?;
        req.set_tensor("encoder_hidden_states", encoder_out)
            .ov(|| "setting encoder_hidden_states".into())?;
        if self.decoder_inputs.iter().any(|n| n == "beam_idx") {
            let shape = Shape::new(&[batch as i64]).ov(|| "shape".into())?;
            let mut b = Tensor::new(ElementType::I32, &shape).ov(|| "tensor".into())?;
            let ids = b.get_data_mut::<i32>().ov(|| "beam_idx".into())?;
            for (i, v) in ids.iter_mut().enumerate() {
                *v = i as i32;
            }
            req.set_tensor("beam_idx", &b)
                .ov(|| "setting beam_idx".into())?;
        }
        Ok(req)
    }

    /// The with-past request of a two-IR decoder, fresh; `None` for a stateful decoder.
    fn stateless_state(&mut self) -> Result<Option<StatelessState>> {
        let DecoderKind::Stateless { with_past } = &mut self.kind else {
            return Ok(None);
        };
        let past_req = with_past
            .create_infer_request()
            .ov(|| "creating a decoder-with-past request".into())?;
        Ok(Some(StatelessState {
            past_req,
            past_inputs: input_names(with_past)?,
            first_outputs: output_names(&self.decoder)?,
            encoder_kv: HashMap::new(),
        }))
    }
}

/// The decoder IR compiled with `precision`'s decoder hint (left set on `core`).
fn compile_decoder(
    core: &mut Core,
    (xml, bin): &(PathBuf, PathBuf),
    device: &str,
    precision: &Precision,
) -> Result<CompiledModel> {
    set_precision_hint(core, device, &precision.decoder)?;
    if let Some(p) = &precision.self_attention_cache {
        let key = RwPropertyKey::Other("KV_CACHE_PRECISION".into());
        core.set_property(&DeviceType::from(device), &key, p)
            .ov(|| format!("setting KV_CACHE_PRECISION={p}"))?;
    }
    let model = read_model(core, xml, bin)?;
    core.compile_model(&model, DeviceType::from(device))
        .ov(|| format!("compiling {} for {device}", xml.display()))
}

/// A copy of an encoder output that outlives the encoder request's next run.
pub(crate) fn owned_copy(encoder_out: &Tensor) -> Result<Tensor> {
    let shape = encoder_out
        .get_shape()
        .ov(|| "encoder output shape".into())?;
    let mut out = Tensor::new(ElementType::F32, &shape).ov(|| "tensor".into())?;
    out.get_data_mut::<f32>()
        .ov(|| "encoder output copy".into())?
        .copy_from_slice(
            encoder_out
                .get_data::<f32>()
                .ov(|| "encoder output".into())?,
        );
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
    fn the_folded_encoder_is_for_a_cpu_running_it_in_bf16() {
        let at = |encoder: Option<&str>| Precision {
            encoder: encoder.map(str::to_string),
            decoder: None,
            reason: String::new(),
            batch_safe: true,
            self_attention_cache: None,
        };
        let folded = EncoderFiles {
            folded: true,
            static_int8: false,
        };
        let ir = |cpu, p: Option<&str>, files| encoder_ir(cpu, &at(p), files, false);
        assert_eq!(ir(true, Some("bf16"), folded), FOLDED_ENCODER_XML);
        assert_eq!(ir(true, Some("bf16"), EncoderFiles::default()), ENCODER_XML);
        assert_eq!(ir(true, Some("f32"), folded), ENCODER_XML);
        assert_eq!(ir(true, None, folded), ENCODER_XML);
        assert_eq!(ir(false, Some("bf16"), folded), ENCODER_XML);
    }

    #[test]
    fn the_static_int8_encoder_is_for_a_cpu_with_int8_dot_products() {
        let at = |encoder: &str| Precision {
            encoder: Some(encoder.to_string()),
            decoder: None,
            reason: String::new(),
            batch_safe: true,
            self_attention_cache: None,
        };
        let both = EncoderFiles {
            folded: true,
            static_int8: true,
        };
        for p in ["bf16", "f32"] {
            assert_eq!(
                encoder_ir(true, &at(p), both, true),
                STATIC_INT8_ENCODER_XML,
                "{p}"
            );
        }
        assert_eq!(
            encoder_ir(true, &at("bf16"), both, false),
            FOLDED_ENCODER_XML
        );
        assert_eq!(encoder_ir(true, &at("f32"), both, false), ENCODER_XML);
        assert_eq!(encoder_ir(false, &at("f16"), both, true), ENCODER_XML);
        let without = EncoderFiles {
            folded: true,
            static_int8: false,
        };
        assert_eq!(
            encoder_ir(true, &at("bf16"), without, true),
            FOLDED_ENCODER_XML
        );
    }

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
