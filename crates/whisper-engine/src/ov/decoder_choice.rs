//! The decoder's precision follows how the streams decode (batched or not: `precision.rs`).
//! A model compiles the decoder for the use it was loaded for; a stream that decodes the other
//! way, where that needs another precision, compiles a second decoder on its first window and
//! both stay (an app that mixes the two pays the second decoder's memory, not a recompile per
//! stream).

use super::{read_model, set_precision_hint, DecoderKind, OvWhisper};
use crate::error::{OvContext, Result};
use crate::precision::Precision;
use openvino::{CompiledModel, Core, DeviceType};
use std::path::PathBuf;

pub(super) struct DecoderChoice {
    xml: PathBuf,
    bin: PathBuf,
    device: String,
    /// The choice for unbatched (0) and batched (1) decoding.
    choices: [Precision; 2],
    /// The decoder of the precision not in use, once compiled, and that precision.
    spare: Option<(CompiledModel, Precision)>,
}

impl DecoderChoice {
    pub fn new(xml: PathBuf, bin: PathBuf, device: &str, choices: [Precision; 2]) -> Self {
        Self {
            xml,
            bin,
            device: device.to_string(),
            choices,
            spare: None,
        }
    }

    /// The decoder IR compiled with `precision`'s decoder hint (left set on `core`).
    pub fn compile(&self, core: &mut Core, precision: &Precision) -> Result<CompiledModel> {
        set_precision_hint(core, &self.device, &precision.decoder)?;
        let model = read_model(core, &self.xml, &self.bin)?;
        core.compile_model(&model, DeviceType::from(self.device.as_str()))
            .ov(|| format!("compiling {} for {}", self.xml.display(), self.device))
    }
}

impl OvWhisper {
    /// Make the decoder of `batched` decoding's precision the one in use (compiling it the
    /// first time it differs from the loaded one). A model that cannot batch decodes unbatched;
    /// a two-IR decoder keeps the precision it loaded with (its second IR compiled with it).
    pub fn use_decoder_for(&mut self, batched: bool) -> Result<()> {
        if !matches!(self.kind, DecoderKind::Stateful) {
            return Ok(());
        }
        let batched = batched && self.supports_batch();
        let wanted = self.choice.choices[usize::from(batched)].clone();
        if wanted.decoder == self.precision.decoder {
            return Ok(());
        }
        let (decoder, precision) = match self.choice.spare.take() {
            Some((d, p)) if p.decoder == wanted.decoder => (d, p),
            _ => {
                let (loaded_for, now) = if batched {
                    ("unbatched", "batched")
                } else {
                    ("batched", "unbatched")
                };
                eprintln!(
                    "whisper-engine: this model was loaded for {loaded_for} decoding; compiling a \
                     second decoder for {now} decoding ({})",
                    wanted.describe()
                );
                (self.choice.compile(&mut self._core, &wanted)?, wanted)
            }
        };
        let old = std::mem::replace(&mut self.decoder, decoder);
        let old_precision = std::mem::replace(&mut self.precision, precision);
        self.choice.spare = Some((old, old_precision));
        Ok(())
    }

    /// Compile the decoder in use again and drop the spare (compiled again on its next use):
    /// the encoder slot moved, and a compiled decoder must not see a second address (see
    /// `encoder_slot.rs`).
    pub(super) fn recompile_decoders(&mut self) -> Result<()> {
        eprintln!(
            "whisper-engine: a batch needs more room for encoder outputs than reserved; \
             compiling the decoder again"
        );
        self.choice.spare = None;
        self.decoder = self.choice.compile(&mut self._core, &self.precision)?;
        Ok(())
    }
}
