//! The model's own description: `config.json`, `generation_config.json`, `tokenizer.json`.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
pub struct ModelConfig {
    #[serde(default = "default_mels")]
    pub num_mel_bins: usize,
    #[serde(default)]
    #[allow(dead_code)]
    pub d_model: usize,
    #[serde(default)]
    pub vocab_size: usize,
    #[serde(default = "default_max_target")]
    pub max_target_positions: usize,
    #[serde(default)]
    #[allow(dead_code)]
    pub decoder_layers: usize,
}

fn default_mels() -> usize {
    80
}
fn default_max_target() -> usize {
    448
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct GenerationConfig {
    #[serde(default)]
    pub suppress_tokens: Vec<i64>,
    #[serde(default)]
    pub begin_suppress_tokens: Vec<i64>,
    #[serde(default)]
    pub lang_to_id: BTreeMap<String, u32>,
    #[serde(default)]
    pub task_to_id: BTreeMap<String, u32>,
    pub no_timestamps_token_id: Option<u32>,
    pub is_multilingual: Option<bool>,
    pub decoder_start_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
    #[allow(dead_code)]
    pub max_length: Option<usize>,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Model {
        path: path.to_path_buf(),
        msg: format!(
            "cannot read it ({e}); the model folder is incomplete: re-run tools/setup.sh \
             (or the converter in tools/convert/) to write it again"
        ),
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Model {
        path: path.to_path_buf(),
        msg: format!("is not valid JSON for this file ({e}); re-run the converter to rewrite it"),
    })
}

impl ModelConfig {
    pub fn read(dir: &Path) -> Result<Self> {
        read_json(&dir.join("config.json"))
    }
}

impl GenerationConfig {
    pub fn read(dir: &Path) -> Result<Self> {
        read_json(&dir.join("generation_config.json"))
    }
}

/// The converter version from which the decoder IR rewinds (`tools/convert`, 1.3.0): a call
/// whose `cache_position` starts at 0 on a used request is a fresh sequence over the same
/// cross-attention K/V, so one request serves every pass over a window.
const REWINDING_CONVERTER: (u32, u32, u32) = (1, 3, 0);

/// The converter version from which the alignment heads' keys have a projection of their own
/// (1.4.0). Before it they were a Gather of the cross-attention K state, which the CPU plugin's
/// bf16 path (OpenVINO 2026.4) filled with stale memory once earlier requests had been freed:
/// word timing from such an IR needs an f32 decoder.
const OWN_ALIGNMENT_KEYS_CONVERTER: (u32, u32, u32) = (1, 4, 0);

/// The converter version from which the self-attention mask has a row per batch row (1.8.0).
/// OpenVINO 2026.4's CPU plugin, with a bf16 decoder, read the older [T, total] mask past its end
/// for rows 1.. of a batch: a batch needs an f32 decoder with older IRs.
const BATCH_MASK_CONVERTER: (u32, u32, u32) = (1, 8, 0);

/// The `converter_version` our converter writes into `arcwhisper.json`; `None` without a marker
/// (an optimum-intel export) or with an unreadable one.
fn converter_version(dir: &Path) -> Option<(u32, u32, u32)> {
    #[derive(Deserialize)]
    struct Marker {
        converter_version: Option<String>,
    }
    std::fs::read_to_string(dir.join("arcwhisper.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Marker>(&t).ok())
        .and_then(|m| m.converter_version)
        .and_then(|v| parse_version(&v))
}

/// Whether the model folder's decoder rewinds, by its converter version. No marker (an
/// optimum-intel export), an older or unreadable version: no (the engine then takes a fresh
/// request for every pass, which works with any IR).
pub fn decoder_rewinds(dir: &Path) -> bool {
    converter_version(dir).is_some_and(|v| v >= REWINDING_CONVERTER)
}

/// Whether a bf16 decoder gives right word timing with this folder's IR: our converter's from
/// 1.4.0 on, and IRs without our marker (they have no alignment output of ours). Our older IRs
/// (1.2.0, 1.3.0, or a marker that cannot be read) get an f32 decoder.
pub fn bf16_decoder_safe(dir: &Path) -> bool {
    if !dir.join("arcwhisper.json").is_file() {
        return true;
    }
    converter_version(dir).is_some_and(|v| v >= OWN_ALIGNMENT_KEYS_CONVERTER)
}

/// Whether a bf16 decoder decodes a batch's rows as it decodes each alone with this folder's IR:
/// our converter's from 1.8.0 on. IRs without our marker (their mask is not ours) and older
/// ones batch with an f32 decoder.
pub fn bf16_batch_safe(dir: &Path) -> bool {
    converter_version(dir).is_some_and(|v| v >= BATCH_MASK_CONVERTER)
}

/// "1.3.0" -> (1, 3, 0); a missing part counts as 0.
fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let mut parts = v.trim().split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().unwrap_or(Some(0))?;
    let patch = parts.next().unwrap_or(Some(0))?;
    Some((major, minor, patch))
}

/// Token ids the decoder needs, resolved from the tokenizer and generation config.
#[derive(Debug, Clone)]
pub struct SpecialTokens {
    pub sot: u32,
    pub eot: u32,
    pub sot_prev: u32,
    pub sot_lm: Option<u32>,
    pub no_speech: Option<u32>,
    pub no_timestamps: u32,
    pub transcribe: Option<u32>,
    pub translate: Option<u32>,
    /// First timestamp token (`<|0.00|>`) = no_timestamps + 1.
    pub timestamp_begin: u32,
    /// Language code -> token id (multilingual models).
    pub languages: BTreeMap<String, u32>,
    pub suppress: Vec<u32>,
    pub begin_suppress: Vec<u32>,
    pub multilingual: bool,
}

impl SpecialTokens {
    pub fn resolve(
        tok: &tokenizers::Tokenizer,
        gen: &GenerationConfig,
        path: &Path,
    ) -> Result<Self> {
        let id = |s: &str| tok.token_to_id(s);
        let need = |s: &str| {
            id(s).ok_or_else(|| Error::Model {
                path: path.to_path_buf(),
                msg: format!("tokenizer.json has no token {s}; is this a Whisper tokenizer?"),
            })
        };
        let sot = match gen.decoder_start_token_id {
            Some(v) => v,
            None => need("<|startoftranscript|>")?,
        };
        let eot = match gen.eos_token_id {
            Some(v) => v,
            None => need("<|endoftext|>")?,
        };
        let no_timestamps = match gen.no_timestamps_token_id {
            Some(v) => v,
            None => need("<|notimestamps|>")?,
        };
        let mut languages = BTreeMap::new();
        for (k, v) in &gen.lang_to_id {
            let code = k
                .trim_start_matches("<|")
                .trim_end_matches("|>")
                .to_string();
            languages.insert(code, *v);
        }
        if languages.is_empty() {
            for code in LANGUAGE_CODES {
                if let Some(v) = id(&format!("<|{code}|>")) {
                    languages.insert(code.to_string(), v);
                }
            }
        }
        let multilingual = gen
            .is_multilingual
            .unwrap_or_else(|| tok.get_vocab_size(true) >= 51865);
        let task = |name: &str| {
            gen.task_to_id
                .get(name)
                .copied()
                .or_else(|| id(&format!("<|{name}|>")))
        };
        let to_u32 =
            |v: &[i64]| -> Vec<u32> { v.iter().filter(|&&x| x >= 0).map(|&x| x as u32).collect() };
        let begin_suppress = if gen.begin_suppress_tokens.is_empty() {
            let mut v = Vec::new();
            if let Some(sp) = tok
                .encode(" ", false)
                .ok()
                .and_then(|e| e.get_ids().first().copied())
            {
                v.push(sp);
            }
            v.push(eot);
            v
        } else {
            to_u32(&gen.begin_suppress_tokens)
        };
        Ok(Self {
            sot,
            eot,
            sot_prev: need("<|startofprev|>")?,
            sot_lm: id("<|startoflm|>"),
            no_speech: id("<|nospeech|>").or_else(|| id("<|nocaptions|>")),
            no_timestamps,
            transcribe: task("transcribe"),
            translate: task("translate"),
            timestamp_begin: no_timestamps + 1,
            languages,
            suppress: to_u32(&gen.suppress_tokens),
            begin_suppress,
            multilingual,
        })
    }
}

/// Whisper's language codes (in token order), for detection on models whose generation config
/// lacks `lang_to_id`.
pub const LANGUAGE_CODES: &[&str] = &[
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it",
    "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur",
    "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn",
    "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si",
    "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo",
    "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln",
    "ha", "ba", "jw", "su", "yue",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_1_3_0_on_rewind() {
        let dir = std::env::temp_dir().join(format!("aw-marker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(!decoder_rewinds(&dir), "no marker: an optimum-intel export");
        for (version, rewinds) in [
            ("1.2.0", false),
            ("1.3.0", true),
            ("1.10", true),
            ("2.0.1", true),
            ("1.3.x", false),
            ("", false),
        ] {
            let marker = format!(r#"{{"name": "tiny.en", "converter_version": "{version}"}}"#);
            std::fs::write(dir.join("arcwhisper.json"), marker).unwrap();
            assert_eq!(decoder_rewinds(&dir), rewinds, "{version}");
        }
        std::fs::write(dir.join("arcwhisper.json"), "{not json").unwrap();
        assert!(!decoder_rewinds(&dir));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bf16_decoder_needs_the_alignment_keys_of_1_4_0() {
        let dir = std::env::temp_dir().join(format!("aw-bf16-marker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(
            bf16_decoder_safe(&dir),
            "no marker: no alignment output of ours"
        );
        for (version, safe) in [
            ("1.3.0", false),
            ("1.4.0", true),
            ("1.4.1", true),
            ("x", false),
        ] {
            let marker = format!(r#"{{"name": "base", "converter_version": "{version}"}}"#);
            std::fs::write(dir.join("arcwhisper.json"), marker).unwrap();
            assert_eq!(bf16_decoder_safe(&dir), safe, "{version}");
        }
        std::fs::write(dir.join("arcwhisper.json"), "{not json").unwrap();
        assert!(!bf16_decoder_safe(&dir));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bf16_batch_needs_the_batch_mask_of_1_8_0() {
        let dir = std::env::temp_dir().join(format!("aw-batch-marker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(!bf16_batch_safe(&dir), "no marker: not our mask");
        for (version, safe) in [("1.7.0", false), ("1.8.0", true), ("1.10.0", true)] {
            let marker = format!(r#"{{"name": "base", "converter_version": "{version}"}}"#);
            std::fs::write(dir.join("arcwhisper.json"), marker).unwrap();
            assert_eq!(bf16_batch_safe(&dir), safe, "{version}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
