//! The arithmetic precision of the encoder and the decoder (OpenVINO's
//! `INFERENCE_PRECISION_HINT`), chosen by machine when a model loads.
//!
//! - CPU with native bf16 arithmetic (OpenVINO's `OPTIMIZATION_CAPABILITIES` lists `BF16`: AMX,
//!   or AVX-512 BF16): bf16 for both. Measured WER against faster-whisper fp32 on the shared
//!   clips is within 0.3 points of f32 (README "Precision"), and the word timing agrees.
//! - Any other CPU: f32 (the plugin would emulate bf16 there, slower than f32).
//! - GPU: f16 (the GPU plugin's native precision).
//! - Other devices (`AUTO`, `NPU`, ...): the device's own default.
//!
//! `ARCWHISPER_ENCODER_PRECISION` / `ARCWHISPER_DECODER_PRECISION`, then
//! `ARCWHISPER_INFERENCE_PRECISION`, override the choice per part (`f32`, `bf16`, `f16`).

/// What OpenVINO says about the CPU: its `OPTIMIZATION_CAPABILITIES` (`FP32 BF16 INT8 ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuCapabilities(Vec<String>);

impl CpuCapabilities {
    /// Parses the property as the C API returns it (a list joined by spaces; commas, brackets
    /// and quotes are tolerated).
    pub fn parse(property: &str) -> Self {
        let items = property
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '\'' | '"'))
            .filter(|s| !s.is_empty())
            .map(|s| s.to_ascii_uppercase())
            .collect();
        Self(items)
    }

    fn has(&self, capability: &str) -> bool {
        self.0.iter().any(|c| c == capability)
    }
}

/// The precision hint of each part; `None` leaves the device's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precision {
    pub encoder: Option<String>,
    pub decoder: Option<String>,
    /// Why, for the log and the worker's report.
    pub reason: String,
}

const OVERRIDE_ALL: &str = "ARCWHISPER_INFERENCE_PRECISION";

impl Precision {
    /// The choice for `device` (an OpenVINO device name) given what the CPU can do (`None` when
    /// the device is not a CPU or the property could not be read) and the environment
    /// (`env(name)` is the variable's value).
    pub fn choose(
        device: &str,
        cpu: Option<&CpuCapabilities>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let (machine, why) = Self::by_machine(device, cpu);
        let var = |name: &str| {
            env(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut overrides = Vec::new();
        let mut part = |which: &str| -> Option<String> {
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
        let (encoder, decoder) = (part("ENCODER"), part("DECODER"));
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
        }
    }

    fn by_machine(device: &str, cpu: Option<&CpuCapabilities>) -> (Option<String>, String) {
        let kind = device.split(['.', ':']).next().unwrap_or(device);
        match kind {
            "CPU" => match cpu {
                Some(c) if c.has("BF16") => (
                    Some("bf16".into()),
                    "the CPU computes bf16 natively (OPTIMIZATION_CAPABILITIES has BF16)".into(),
                ),
                Some(_) => (
                    Some("f32".into()),
                    "the CPU has no native bf16 (no BF16 in OPTIMIZATION_CAPABILITIES)".into(),
                ),
                None => (
                    Some("f32".into()),
                    "the CPU's OPTIMIZATION_CAPABILITIES could not be read".into(),
                ),
            },
            "GPU" => (
                Some("f16".into()),
                "GPU: f16 is its native precision".into(),
            ),
            _ => (None, format!("{device}: the device's default")),
        }
    }

    /// `encoder bf16, decoder bf16 (why)`, as logged and reported.
    pub fn describe(&self) -> String {
        let show = |p: &Option<String>| p.clone().unwrap_or_else(|| "default".into());
        format!(
            "encoder {}, decoder {} ({})",
            show(&self.encoder),
            show(&self.decoder),
            self.reason
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn hints(p: &Precision) -> (Option<&str>, Option<&str>) {
        (p.encoder.as_deref(), p.decoder.as_deref())
    }

    #[test]
    fn capabilities_parse_as_the_c_api_and_python_print_them() {
        let c = CpuCapabilities::parse("FP32 BF16 INT8 BIN EXPORT_IMPORT");
        assert!(c.has("BF16") && c.has("EXPORT_IMPORT") && !c.has("FP16"));
        let c = CpuCapabilities::parse("['bf16', 'WINOGRAD', 'FP32']");
        assert!(c.has("BF16") && c.has("WINOGRAD"));
        assert!(!CpuCapabilities::parse("").has("BF16"));
        // A capability that merely contains the letters is not it.
        assert!(!CpuCapabilities::parse("FP32 NOBF16").has("BF16"));
    }

    #[test]
    fn cpu_with_bf16_gets_bf16_for_both_parts() {
        // AMX (Sapphire Rapids) and AVX-512 BF16 (Zen 4) CPUs both list BF16.
        for caps in [
            "FP32 BF16 FP16 INT8 BIN EXPORT_IMPORT",
            "BF16 WINOGRAD FP32 INT8 BIN",
        ] {
            let p = Precision::choose("CPU", Some(&CpuCapabilities::parse(caps)), no_env);
            assert_eq!(hints(&p), (Some("bf16"), Some("bf16")), "{caps}");
            assert!(p.reason.contains("has BF16"), "{}", p.reason);
        }
    }

    #[test]
    fn cpu_without_bf16_gets_f32() {
        let caps = CpuCapabilities::parse("FP32 INT8 BIN EXPORT_IMPORT");
        let p = Precision::choose("CPU", Some(&caps), no_env);
        assert_eq!(hints(&p), (Some("f32"), Some("f32")));
        assert!(p.reason.contains("no BF16"), "{}", p.reason);
        let p = Precision::choose("CPU", None, no_env);
        assert_eq!(hints(&p), (Some("f32"), Some("f32")));
        assert!(p.reason.contains("could not be read"), "{}", p.reason);
    }

    #[test]
    fn gpu_gets_f16_and_other_devices_their_default() {
        for dev in ["GPU", "GPU.1"] {
            let p = Precision::choose(dev, None, no_env);
            assert_eq!(hints(&p), (Some("f16"), Some("f16")), "{dev}");
        }
        let p = Precision::choose("AUTO", None, no_env);
        assert_eq!(hints(&p), (None, None));
        assert_eq!(
            p.describe(),
            "encoder default, decoder default (AUTO: the device's default)"
        );
    }

    #[test]
    fn environment_overrides_per_part_then_for_both() {
        let caps = CpuCapabilities::parse("FP32 BF16");
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
            env(&[
                ("ARCWHISPER_INFERENCE_PRECISION", "f32"),
                ("ARCWHISPER_ENCODER_PRECISION", "bf16"),
            ]),
        );
        assert_eq!(hints(&p), (Some("bf16"), Some("f32")));
        let p = Precision::choose(
            "CPU",
            Some(&caps),
            env(&[("ARCWHISPER_INFERENCE_PRECISION", " f32 ")]),
        );
        assert_eq!(hints(&p), (Some("f32"), Some("f32")));
        assert_eq!(
            p.describe(),
            "encoder f32, decoder f32 (ARCWHISPER_INFERENCE_PRECISION=f32 (else: the CPU computes \
             bf16 natively (OPTIMIZATION_CAPABILITIES has BF16)))"
        );
        // Empty values are no override.
        let p = Precision::choose(
            "CPU",
            Some(&caps),
            env(&[("ARCWHISPER_INFERENCE_PRECISION", "")]),
        );
        assert_eq!(hints(&p), (Some("bf16"), Some("bf16")));
    }
}
