//! The arithmetic precision of the encoder and the decoder (OpenVINO's
//! `INFERENCE_PRECISION_HINT`), chosen by machine and model when a model loads.
//!
//! - Encoder on a CPU with native bf16 (OpenVINO's `OPTIMIZATION_CAPABILITIES` lists `BF16`: AMX,
//!   or AVX-512 BF16): bf16 (about 40 % faster than f32 on the AVX-512 BF16 EPYC; output
//!   identical between runs, WER within 0.3 points of f32: README "Precision").
//! - Decoder on such a CPU, unbatched: bf16 (on the EPYC 6-11 % faster than f32 unbatched,
//!   WER within 0.3 points of faster-whisper fp32; on the AMX Xeon 8-24 % faster for the f16
//!   models, up to 8 % for the int8 ones, mean home-video WER within 0.03-0.40 points of an f32
//!   decoder over three seeds, sign varying). Batched bf16 needs every decoder request to
//!   read the encoder output at one address (`ov/encoder_slot.rs`); before that it lost windows.
//! - A bf16 decoder needs an IR from converter 1.4.0 on: older IRs gathered the
//!   alignment heads' keys from the cross-attention state, which the CPU plugin's bf16 path
//!   filled with stale memory once earlier requests were freed (word times varying between
//!   runs); with those the decoder stays f32 (`config::bf16_decoder_safe`).
//! - Batched decoding on a CPU: bf16 as unbatched, with an IR from converter 1.8.0 on. OpenVINO
//!   2026.4's CPU plugin, with a bf16 decoder, indexes the self-attention mask by batch row
//!   whatever its shape: older IRs pass a [T, total] mask, so rows 1.. of a batch read past it
//!   (other numbers than each row decoded alone, varying between processes, and a segmentation
//!   fault at batch 8 in earlier probes); 1.8.0's mask has a row per batch row and every row
//!   gets the logits it gets alone, to the bit (tools/convert `test_batch_rows_decode_as_each_alone`;
//!   probes over both int8 models, batches of 2-8, the encoder output at one address). With an
//!   older IR a batch gets an f32 decoder (`config::bf16_batch_safe`). A bf16 decoder that a batch
//!   cannot use (forced by the environment or the application on an older IR) decodes every
//!   window alone ([`Precision::batch_safe`]).
//! - Any other CPU: f32 for both (bf16 would be emulated, slower than f32).
//! - GPU: f16 (the GPU plugin's native precision). Other devices (`AUTO`, `NPU`, ...): their
//!   own default.
//!
//! `ARCWHISPER_ENCODER_PRECISION` / `ARCWHISPER_DECODER_PRECISION`, then
//! `ARCWHISPER_INFERENCE_PRECISION`, override the choice per part (`f32`, `bf16`, `f16`).

/// What the CPU can do: OpenVINO's `OPTIMIZATION_CAPABILITIES` (`FP32 BF16 INT8 ...`) and
/// whether it has AMX.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuCapabilities {
    optimization: Vec<String>,
    amx: bool,
}

impl CpuCapabilities {
    /// From the property as the C API returns it (a list joined by spaces; commas, brackets and
    /// quotes are tolerated) and the `flags` of `/proc/cpuinfo` (empty when unknown).
    pub fn parse(property: &str, cpuinfo: &str) -> Self {
        let optimization = property
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '\'' | '"'))
            .filter(|s| !s.is_empty())
            .map(|s| s.to_ascii_uppercase())
            .collect();
        let amx = cpuinfo_has_flag(cpuinfo, &["amx_bf16"]);
        Self { optimization, amx }
    }

    fn has(&self, capability: &str) -> bool {
        self.optimization.iter().any(|c| c == capability)
    }
}

/// Whether the `flags` of `/proc/cpuinfo` name a bf16 instruction set (AVX-512 BF16 or AMX):
/// what OpenVINO's `BF16` capability stands for on the CPUs we know, and readable before
/// OpenVINO loads (the batch size is chosen before the model).
pub fn cpuinfo_has_native_bf16(cpuinfo: &str) -> bool {
    cpuinfo_has_flag(cpuinfo, &["avx512_bf16", "amx_bf16"])
}

/// Whether a `flags` line of `/proc/cpuinfo` holds one of `any`.
fn cpuinfo_has_flag(cpuinfo: &str, any: &[&str]) -> bool {
    cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| any.contains(&f)))
}

/// What the decoder's precision depends on besides the machine.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DecoderUse {
    /// The model's IR gives right word timing with a bf16 decoder (`config::bf16_decoder_safe`).
    pub bf16_safe_ir: bool,
    /// A bf16 decoder decodes a batch of this IR right (`config::bf16_batch_safe`).
    pub bf16_batch_safe_ir: bool,
    /// The precision the application asks for (`EngineConfig::decoder_precision`), over the
    /// machine's choice.
    pub requested: Option<String>,
    /// The streams will decode several windows in one request (`EngineConfig::batch_size` > 1).
    pub batched: bool,
}

/// The precision hint of each part; `None` leaves the device's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precision {
    pub encoder: Option<String>,
    pub decoder: Option<String>,
    /// Why, for the log and the worker's report.
    pub reason: String,
    /// The decoder may decode several windows in one request: false for a bf16 decoder on a
    /// CPU with an IR from before converter 1.8.0 (see the module's notes).
    pub batch_safe: bool,
    /// `KV_CACHE_PRECISION` of the decoder's self-attention cache; `None` leaves the IR's
    /// (f32 from converter 1.3.0 on). A bf16 decoder on a CPU computes its keys and values in
    /// bf16, so a bf16 cache holds the very same numbers (logits identical to the bit) in half
    /// the bytes a step reads: base-int8 steps 3-4 % faster on the AMX Xeon, tiny.en-int8 the
    /// same. Never u8, the CPU plugin's default: it quantises a rewound pass's tokens other
    /// than a fresh one's (tools/convert/README.md "1.3.0").
    pub self_attention_cache: Option<String>,
}

const OVERRIDE_ALL: &str = "ARCWHISPER_INFERENCE_PRECISION";

impl Precision {
    /// The choice for `device` (an OpenVINO device name) given what the CPU can do (`None` when
    /// the device is not a CPU or the property could not be read), the model and how it decodes,
    /// and the environment (`env(name)` is the variable's value).
    pub fn choose(
        device: &str,
        cpu: Option<&CpuCapabilities>,
        decoder_use: DecoderUse,
        env: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let ((enc_machine, mut dec_machine), mut why) = Self::by_machine(device, cpu, &decoder_use);
        if let Some(r) = decoder_use.requested.filter(|r| !r.trim().is_empty()) {
            why = format!("decoder {r} as the application asked (else: {why})");
            dec_machine = Some(r.trim().to_string());
        }
        let var = |name: &str| {
            env(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut overrides = Vec::new();
        let mut part = |which: &str, machine: &Option<String>| -> Option<String> {
            let name = format!("ARCWHISPER_{which}_PRECISION");
            match var(&name)
                .map(|v| (name, v))
                .or_else(|| var(OVERRIDE_ALL).map(|v| (OVERRIDE_ALL.to_string(), v)))
            {
                Some((name, v)) => {
                    overrides.push(format!("{name}={v}"));
                    Some(v)
                }
                None => machine.clone(),
            }
        };
        let (encoder, decoder) = (part("ENCODER", &enc_machine), part("DECODER", &dec_machine));
        let bf16_cpu_decoder = is_cpu(device) && decoder.as_deref() == Some("bf16");
        let batch_safe = !bf16_cpu_decoder || decoder_use.bf16_batch_safe_ir;
        let self_attention_cache = bf16_cpu_decoder.then(|| "bf16".to_string());
        overrides.dedup();
        let reason = if overrides.is_empty() {
            why
        } else {
            format!("{} (else: {why})", overrides.join(", "))
        };
        Self {
            encoder,
            decoder,
            reason,
            batch_safe,
            self_attention_cache,
        }
    }

    /// (encoder, decoder) hints for the machine and the model's IR, and why.
    /// Whatever the machine picks, an IR that gives wrong word timing with a bf16 decoder
    /// (`DecoderUse::bf16_safe_ir`) takes f32.
    #[allow(clippy::type_complexity)]
    fn by_machine(
        device: &str,
        cpu: Option<&CpuCapabilities>,
        decoder_use: &DecoderUse,
    ) -> ((Option<String>, Option<String>), String) {
        let ((encoder, decoder), why) = Self::by_cpu(device, cpu);
        if decoder.as_deref() != Some("bf16") {
            return ((encoder, decoder), why);
        }
        let but = if !decoder_use.bf16_safe_ir {
            "the decoder stays f32: this model's IR is from a converter before 1.4.0, whose word \
             timing a bf16 decoder gets wrong (re-convert it: tools/setup.sh)"
        } else if decoder_use.batched && is_cpu(device) && !decoder_use.bf16_batch_safe_ir {
            "the decoder is f32 for batched decoding: this model's IR is from a converter before \
             1.8.0, whose self-attention mask OpenVINO's bf16 decoder misreads for a batch's rows \
             after the first (re-convert it: tools/setup.sh)"
        } else {
            return ((encoder, decoder), why);
        };
        ((encoder, Some("f32".into())), format!("{why}, but {but}"))
    }

    /// (encoder, decoder) hints for the device and what its CPU computes natively, and why.
    #[allow(clippy::type_complexity)]
    fn by_cpu(
        device: &str,
        cpu: Option<&CpuCapabilities>,
    ) -> ((Option<String>, Option<String>), String) {
        let both = |p: &str| (Some(p.to_string()), Some(p.to_string()));
        match (device_kind(device), cpu) {
            ("CPU", Some(c)) if c.has("BF16") => (both("bf16"), native_bf16(c)),
            ("CPU", Some(_)) => (
                both("f32"),
                "the CPU has no native bf16 (no BF16 in OPTIMIZATION_CAPABILITIES)".into(),
            ),
            ("CPU", None) => (
                both("f32"),
                "the CPU's OPTIMIZATION_CAPABILITIES could not be read".into(),
            ),
            ("GPU", _) => (both("f16"), "GPU: f16 is its native precision".into()),
            _ => ((None, None), format!("{device}: the device's default")),
        }
    }

    /// `encoder bf16, decoder bf16 (why)`, as logged and reported.
    pub fn describe(&self) -> String {
        let show = |p: &Option<String>| p.clone().unwrap_or_else(|| "default".into());
        let cache = self
            .self_attention_cache
            .as_ref()
            .map_or(String::new(), |c| {
                format!(" with a {c} self-attention cache")
            });
        format!(
            "encoder {}, decoder {}{cache} ({})",
            show(&self.encoder),
            show(&self.decoder),
            self.reason
        )
    }
}

/// The device's kind: `CPU` of `CPU:0-3`, `GPU` of `GPU.1`.
fn device_kind(device: &str) -> &str {
    device.split(['.', ':']).next().unwrap_or(device)
}

/// `device` is OpenVINO's CPU (`CPU`, `CPU:0-3`).
pub(crate) fn is_cpu(device: &str) -> bool {
    device_kind(device) == "CPU"
}

/// Why a CPU with native bf16 gets it, for the log.
fn native_bf16(c: &CpuCapabilities) -> String {
    if c.amx {
        "the CPU has AMX and computes bf16 natively (OPTIMIZATION_CAPABILITIES has BF16)".into()
    } else {
        "the CPU computes bf16 natively (OPTIMIZATION_CAPABILITIES has BF16; no AMX)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const NEW_IR: DecoderUse = DecoderUse {
        bf16_safe_ir: true,
        bf16_batch_safe_ir: true,
        requested: None,
        batched: false,
    };
    /// Converter 1.4.0 to 1.7.0: bf16 word timing right, bf16 batches not.
    const IR_1_7: DecoderUse = DecoderUse {
        bf16_batch_safe_ir: false,
        ..NEW_IR
    };
    const OLD_IR: DecoderUse = DecoderUse {
        bf16_safe_ir: false,
        bf16_batch_safe_ir: false,
        requested: None,
        batched: false,
    };

    fn hints(p: &Precision) -> (Option<&str>, Option<&str>) {
        (p.encoder.as_deref(), p.decoder.as_deref())
    }

    const ZEN4_FLAGS: &str = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 \
                              avx512_vnni\nbugs\t\t: sysret_ss_attrs\n";
    const SPR_FLAGS: &str =
        "flags\t\t: avx512f avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8\n";

    #[test]
    fn capabilities_parse_as_the_c_api_and_python_print_them() {
        let c = CpuCapabilities::parse("FP32 BF16 INT8 BIN EXPORT_IMPORT", "");
        assert!(c.has("BF16") && c.has("EXPORT_IMPORT") && !c.has("FP16") && !c.amx);
        let c = CpuCapabilities::parse("['bf16', 'WINOGRAD', 'FP32']", SPR_FLAGS);
        assert!(c.has("BF16") && c.has("WINOGRAD") && c.amx);
        assert!(!CpuCapabilities::parse("", "").has("BF16"));
        // A capability or flag that merely contains the letters is not it.
        assert!(!CpuCapabilities::parse("FP32 NOBF16", "").has("BF16"));
        assert!(!CpuCapabilities::parse("", "flags : amx_bf16x\n").amx);
        assert!(!CpuCapabilities::parse("", "bugs : amx_bf16\n").amx);
    }

    #[test]
    fn a_cpu_with_bf16_runs_both_parts_in_bf16() {
        // A Sapphire Rapids (AMX) and the AMD EPYC (Zen 4) of the reference machine: OpenVINO
        // lists BF16 on both, only the first has AMX.
        for (flags, why) in [(SPR_FLAGS, "has AMX"), (ZEN4_FLAGS, "no AMX")] {
            let caps = CpuCapabilities::parse("BF16 WINOGRAD FP32 INT8 EXPORT_IMPORT", flags);
            // Batched or not with a converter 1.8.0 IR.
            for batched in [false, true] {
                let use_ = DecoderUse { batched, ..NEW_IR };
                let p = Precision::choose("CPU:0-1", Some(&caps), use_, no_env);
                assert_eq!(hints(&p), (Some("bf16"), Some("bf16")));
                assert!(p.reason.contains(why) && p.batch_safe, "{}", p.reason);
                assert_eq!(p.self_attention_cache.as_deref(), Some("bf16"));
            }
        }
    }

    #[test]
    fn batched_decoding_with_an_older_ir_gets_an_f32_decoder() {
        let batched = DecoderUse {
            batched: true,
            ..IR_1_7
        };
        let amx = CpuCapabilities::parse("BF16 FP32 INT8", SPR_FLAGS);
        let p = Precision::choose("CPU:0", Some(&amx), batched.clone(), no_env);
        assert_eq!(hints(&p), (Some("bf16"), Some("f32")));
        assert!(p.reason.contains("before 1.8.0"), "{}", p.reason);
        assert!(p.batch_safe);
        // Unbatched: bf16, and a batch would be decoded window by window.
        let p = Precision::choose("CPU", Some(&amx), IR_1_7, no_env);
        assert_eq!(hints(&p), (Some("bf16"), Some("bf16")));
        assert!(!p.batch_safe);
        // The environment's bf16 wins, and the batch is then decoded window by window.
        let env = |k: &str| (k == "ARCWHISPER_DECODER_PRECISION").then(|| "bf16".to_string());
        let p = Precision::choose("CPU", Some(&amx), batched.clone(), env);
        assert_eq!(hints(&p), (Some("bf16"), Some("bf16")));
        assert!(!p.batch_safe);
        // AVX-512 BF16 without AMX likewise; a CPU without bf16 batches in f32; GPUs in f16.
        let zen4 = CpuCapabilities::parse("BF16 FP32 INT8", ZEN4_FLAGS);
        let p = Precision::choose("CPU", Some(&zen4), batched.clone(), no_env);
        assert_eq!(hints(&p), (Some("bf16"), Some("f32")));
        assert!(p.batch_safe);
        // An f32 decoder keeps the IR's f32 cache.
        assert_eq!(p.self_attention_cache, None);
        let old = CpuCapabilities::parse("FP32 INT8", "flags : avx2\n");
        let p = Precision::choose("CPU", Some(&old), batched.clone(), no_env);
        assert_eq!(hints(&p), (Some("f32"), Some("f32")));
        assert!(
            p.batch_safe && !p.reason.contains("batched"),
            "{}",
            p.reason
        );
        let p = Precision::choose("GPU.0", None, batched, no_env);
        assert_eq!(hints(&p), (Some("f16"), Some("f16")));
        assert!(p.batch_safe);
    }

    #[test]
    fn an_ir_from_before_converter_1_4_0_keeps_an_f32_decoder() {
        for flags in [SPR_FLAGS, ZEN4_FLAGS] {
            let caps = CpuCapabilities::parse("FP32 BF16 INT8", flags);
            let p = Precision::choose("CPU", Some(&caps), OLD_IR, no_env);
            assert_eq!(hints(&p), (Some("bf16"), Some("f32")));
            assert!(p.reason.contains("before 1.4.0"), "{}", p.reason);
        }
        // Where the decoder is f32 anyway, the reason does not talk of the IR.
        let caps = CpuCapabilities::parse("FP32 INT8", ZEN4_FLAGS);
        let p = Precision::choose("CPU", Some(&caps), OLD_IR, no_env);
        assert_eq!(hints(&p), (Some("f32"), Some("f32")));
        assert!(!p.reason.contains("1.4.0"), "{}", p.reason);
        assert_eq!(
            hints(&Precision::choose("GPU", None, OLD_IR, no_env)),
            (Some("f16"), Some("f16"))
        );
    }

    #[test]
    fn a_requested_decoder_precision_beats_the_machine_and_loses_to_the_environment() {
        let caps = CpuCapabilities::parse("BF16 FP32 INT8", ZEN4_FLAGS);
        let f32_asked = DecoderUse {
            requested: Some("f32".into()),
            ..NEW_IR
        };
        let p = Precision::choose("CPU", Some(&caps), f32_asked.clone(), no_env);
        assert_eq!(hints(&p), (Some("bf16"), Some("f32")));
        assert!(
            p.reason
                .starts_with("decoder f32 as the application asked (else: "),
            "{}",
            p.reason
        );
        let env = |k: &str| (k == "ARCWHISPER_DECODER_PRECISION").then(|| "bf16".to_string());
        let p = Precision::choose("CPU", Some(&caps), f32_asked, env);
        assert_eq!(hints(&p), (Some("bf16"), Some("bf16")));
    }

    #[test]
    fn cpu_without_bf16_gets_f32() {
        let caps = CpuCapabilities::parse("FP32 INT8 BIN EXPORT_IMPORT", "flags : avx2 fma\n");
        let p = Precision::choose("CPU", Some(&caps), NEW_IR, no_env);
        assert_eq!(hints(&p), (Some("f32"), Some("f32")));
        assert!(p.reason.contains("no BF16"), "{}", p.reason);
        let p = Precision::choose("CPU", None, NEW_IR, no_env);
        assert_eq!(hints(&p), (Some("f32"), Some("f32")));
        assert!(p.reason.contains("could not be read"), "{}", p.reason);
    }

    #[test]
    fn gpu_gets_f16_and_other_devices_their_default() {
        for dev in ["GPU", "GPU.1"] {
            let p = Precision::choose(dev, None, NEW_IR, no_env);
            assert_eq!(hints(&p), (Some("f16"), Some("f16")), "{dev}");
        }
        let p = Precision::choose("AUTO", None, NEW_IR, no_env);
        assert_eq!(hints(&p), (None, None));
        assert_eq!(
            p.describe(),
            "encoder default, decoder default (AUTO: the device's default)"
        );
    }

    #[test]
    fn environment_overrides_per_part_then_for_both() {
        let caps = CpuCapabilities::parse("FP32 BF16", SPR_FLAGS);
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let p = Precision::choose(
            "CPU",
            Some(&caps),
            NEW_IR,
            env(&[("ARCWHISPER_DECODER_PRECISION", "f32")]),
        );
        assert_eq!(hints(&p), (Some("bf16"), Some("f32")));
        assert!(
            p.reason
                .starts_with("ARCWHISPER_DECODER_PRECISION=f32 (else: the CPU"),
            "{}",
            p.reason
        );
        let p = Precision::choose(
            "CPU",
            Some(&caps),
            NEW_IR,
            env(&[
                ("ARCWHISPER_INFERENCE_PRECISION", "f32"),
                ("ARCWHISPER_ENCODER_PRECISION", "bf16"),
            ]),
        );
        assert_eq!(hints(&p), (Some("bf16"), Some("f32")));
        let p = Precision::choose(
            "CPU",
            Some(&caps),
            NEW_IR,
            env(&[("ARCWHISPER_INFERENCE_PRECISION", " f32 ")]),
        );
        assert_eq!(hints(&p), (Some("f32"), Some("f32")));
        assert_eq!(
            p.describe(),
            "encoder f32, decoder f32 (ARCWHISPER_INFERENCE_PRECISION=f32 (else: the CPU has \
             AMX and computes bf16 natively (OPTIMIZATION_CAPABILITIES has BF16)))"
        );
        // Empty values are no override.
        let p = Precision::choose(
            "CPU",
            Some(&caps),
            NEW_IR,
            env(&[("ARCWHISPER_INFERENCE_PRECISION", "")]),
        );
        assert_eq!(hints(&p), (Some("bf16"), Some("bf16")));
    }
}
