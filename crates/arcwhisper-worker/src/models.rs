//! Model chain entries -> model directories, and each model's estimated memory need.
//!
//! Lookup for a name such as `base` (docs/ARCHITECTURE.md "Model lookup"), in this order:
//! `$ARCWHISPER_MODEL_DIR/<name>`, `$ARCWHISPER_HOME/models/<name>` (default
//! `$XDG_DATA_HOME/arcwhisper`, i.e. `~/.local/share/arcwhisper`),
//! `/usr/local/share/arcwhisper/models/<name>`, `/usr/share/arcwhisper/models/<name>`. In each
//! directory `<name>` is tried, then `<name>.en` (`tiny` matches `tiny` or `tiny.en`; the int8
//! variant `tiny-int8` matches `tiny-int8` or `tiny.en-int8`). A value containing `/` is a
//! directory path, used as given (canonicalised).

use std::path::{Path, PathBuf};

/// The file that makes a directory a model.
pub const ENCODER_XML: &str = "openvino_encoder_model.xml";

/// `ARCWHISPER_HOME` or its default.
pub fn arcwhisper_home() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("ARCWHISPER_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(h));
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("arcwhisper"));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".local/share/arcwhisper"))
}

/// The directories searched for model names, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("ARCWHISPER_MODEL_DIR").filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(d));
    }
    if let Some(h) = arcwhisper_home() {
        dirs.push(h.join("models"));
    }
    dirs.push(PathBuf::from("/usr/local/share/arcwhisper/models"));
    dirs.push(PathBuf::from("/usr/share/arcwhisper/models"));
    dirs
}

/// A chain entry found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundModel {
    /// Display name: the directory's name (`tiny.en`).
    pub name: String,
    /// Canonical directory.
    pub path: PathBuf,
}

fn is_model_dir(p: &Path) -> bool {
    p.join(ENCODER_XML).is_file()
}

/// The folder names a model name matches, in order: the name, then its English-only form
/// (`tiny` -> `tiny.en`, `tiny-int8` -> `tiny.en-int8`). The engine's `find_model` (the CLI's
/// lookup) follows the same rule; this crate's library side has no engine to call.
pub fn name_candidates(name: &str) -> Vec<String> {
    let (stem, variant) = match name.strip_suffix(INT8_SUFFIX) {
        Some(stem) => (stem, INT8_SUFFIX),
        None => (name, ""),
    };
    let mut names = vec![name.to_string()];
    if !stem.ends_with(".en") {
        names.push(format!("{stem}.en{variant}"));
    }
    names
}

/// The suffix of a model's int8 variant (int8 weight matrices; `tools/convert --weights int8`).
pub const INT8_SUFFIX: &str = "-int8";

/// Resolves one chain entry; `Err` is the reason it is not installed.
pub fn resolve(entry: &str, dirs: &[PathBuf]) -> Result<FoundModel, String> {
    let entry = entry.trim();
    if entry.is_empty() {
        return Err("empty model name".into());
    }
    let found = |p: &Path| -> Result<FoundModel, String> {
        let path = std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| entry.to_string());
        Ok(FoundModel { name, path })
    };
    if entry.contains('/') {
        let p = Path::new(entry);
        if !p.is_dir() {
            return Err(format!("{entry}: no such directory"));
        }
        if !is_model_dir(p) {
            return Err(format!("{entry}: no {ENCODER_XML} in it"));
        }
        return found(p);
    }
    if entry == "." || entry == ".." {
        return Err(format!("{entry:?} is not a model name"));
    }
    let names = name_candidates(entry);
    for d in dirs {
        for cand in &names {
            let p = d.join(cand);
            if is_model_dir(&p) {
                return found(&p);
            }
        }
    }
    Err(format!(
        "model {entry:?} is not installed (looked for {} in the model folders; tools/setup.sh \
         converts tiny.en, base, tiny.en-int8 and base-int8)",
        names.join(" and ")
    ))
}

/// The languages a model can decode, read from its files before it is loaded (the engine has the
/// last word once it is).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelLanguages {
    /// Whether the model is multilingual; `None` when its files do not say.
    pub multilingual: Option<bool>,
    /// The language codes it knows (`lang_to_id` of `generation_config.json`); empty when the
    /// files do not list them.
    pub codes: Vec<String>,
}

/// Reads [`ModelLanguages`] from `generation_config.json` (`is_multilingual`, `lang_to_id`),
/// else from `config.json`'s `vocab_size` (51864 for the English-only models, 51865 and up for
/// the multilingual ones, as the engine decides from the tokenizer).
pub fn languages(dir: &Path) -> ModelLanguages {
    let gen = model_json(dir, "generation_config.json");
    let mut codes: Vec<String> = gen
        .as_ref()
        .and_then(|g| g.get("lang_to_id")?.as_object().cloned())
        .map(|m| {
            m.keys()
                .map(|k| {
                    k.trim_start_matches("<|")
                        .trim_end_matches("|>")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    codes.sort();
    let multilingual = gen
        .as_ref()
        .and_then(|g| g.get("is_multilingual")?.as_bool())
        .or_else(|| {
            let vocab = model_json(dir, "config.json")?
                .get("vocab_size")?
                .as_u64()?;
            Some(vocab >= 51865)
        });
    ModelLanguages {
        multilingual,
        codes,
    }
}

/// Where a model will run, for the memory estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Cpu,
    Gpu,
}

impl DeviceKind {
    fn key(self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Gpu => "gpu",
        }
    }
}

/// Estimated memory need of a model on a device kind, bytes, and where the figure came from.
///
/// The larger of:
/// 1. the figure `arcwhisper.json` records (written by the converter): the key
///    `memory_need_bytes` or `memory_bytes` (the converter's), or any top-level key containing
///    both `memory` and `need`; a number or an object keyed by device kind (`CPU`, `GPU`, any
///    case; a GPU without its own figure uses the CPU one);
/// 2. a formula from the IR weight files (`W` = sum of the `openvino_*_model.bin` sizes):
///    `need = W * WEIGHT_FACTOR + ACTIVATION_BYTES`;
///
/// plus, when `batch_size` windows are decoded together, [`batch_need`].
///
/// Why the larger: the converter measures compile + one window (RSS growth), and the worker's
/// RSS keeps growing for about six windows before it levels off (OpenVINO CPU plugin buffers per
/// new infer request / dynamic shape). Measured in the worker (RSS growth over the runtime-only
/// baseline of 52 MB, 53 s clip repeated 5 times, CPU, 2026-11-21):
///
/// | model   | weights W | after 1 window | steady (>= 6 windows) | arcwhisper.json | formula |
/// | ------- | --------- | -------------- | --------------------- | --------------- | ------- |
/// | tiny.en | 75.5 MB   | 252 MB         | 413 MB                | 257 MB          | 417 MB  |
/// | base    | 145.2 MB  | 433 MB         | 621 MB                | 421 MB          | 626 MB  |
pub fn estimate_need(dir: &Path, kind: DeviceKind, batch_size: usize) -> (u64, String) {
    let (need, source) = single_window_need(dir, kind);
    match batch_need(dir, batch_size) {
        0 => (need, source),
        batch => (
            need + batch,
            format!("{source} + {} MB for batch {batch_size}", batch / 1_000_000),
        ),
    }
}

/// [`estimate_need`] for one window at a time.
fn single_window_need(dir: &Path, kind: DeviceKind) -> (u64, String) {
    let w = weights_bytes(dir);
    let factor = if has_int8_weights(dir) {
        INT8_WEIGHT_FACTOR
    } else {
        WEIGHT_FACTOR
    };
    let formula = (w as f64 * factor) as u64 + ACTIVATION_BYTES;
    let formula_src = format!(
        "formula: weights {} MB x {factor} + {} MB",
        w / 1_000_000,
        ACTIVATION_BYTES / 1_000_000
    );
    match measured_need(dir, kind) {
        Some((n, src)) if n >= formula => (n, src),
        Some((n, src)) => (
            formula,
            format!("{formula_src} (above {src} = {} MB)", n / 1_000_000),
        ),
        None => (formula, formula_src),
    }
}

/// Multiplier on the IR weights, fitted to the worker's peak (VmHWM, absolute) with speech
/// detection, word timing and the bf16 encoder: `worker_memory.py` (LibriVox clip fed 5 times,
/// CPU, AMD EPYC Zen 4, 2026-11-30): tiny.en 587 MB, base 863 MB. The table above (RSS growth,
/// before those features) had 3.0; 5.3 gives tiny.en 590 MB, base 960 MB: an estimate below
/// the real peak would let the chain load a model that then runs out of memory.
pub const WEIGHT_FACTOR: f64 = 5.3;
/// Multiplier on the IR weights of an int8 variant (`arcwhisper.json` `weights` starts with
/// `int8`): its IR is about half the f16 one but its memory falls less (activations, KV cache
/// and per-request buffers do not shrink). Same measurement: tiny.en-int8 478 MB, base-int8
/// 667 MB; 6.9 gives 478 MB and 732 MB.
pub const INT8_WEIGHT_FACTOR: f64 = 6.9;
/// Fixed part, fitted likewise: encoder activations for a 30 s window, mel front end,
/// tokenizer, the plugin's per-model overhead.
pub const ACTIVATION_BYTES: u64 = 190_000_000;

/// Extra memory of decoding `batch_size` windows together, bytes: each window past the first
/// keeps its own cross-attention keys and values (`2 x 1500 frames x d_model x decoder layers`,
/// f32) and activations of about a third of that. Worker peak (VmHWM) at batch 8 over batch 1,
/// `worker_memory.py` on the AMX Xeon of BENCHMARKS.md (2026-12-01, f32 batched decoder):
/// tiny.en +116 MB, tiny.en-int8 +119, base +331, base-int8 +288; this gives +168 / +336.
/// Without a readable `config.json` (no model would load then): 0.
pub fn batch_need(dir: &Path, batch_size: usize) -> u64 {
    let extra_windows = batch_size.saturating_sub(1) as f64;
    let dims = model_json(dir, "config.json").and_then(|v| {
        Some((
            v.get("d_model")?.as_u64()?,
            v.get("decoder_layers")?.as_u64()?,
        ))
    });
    let Some((d_model, layers)) = dims else {
        return 0;
    };
    let cross_kv = 2.0 * 1500.0 * (d_model * layers) as f64 * 4.0;
    (extra_windows * cross_kv * BATCH_WINDOW_MARGIN) as u64
}

/// Cross-attention state to a batched window's whole extra memory (see [`batch_need`]).
pub const BATCH_WINDOW_MARGIN: f64 = 1.3;

/// Whether the converter stored the weight matrices as u8 (`arcwhisper.json` `weights`:
/// `int8-...`, written by `tools/convert --weights int8`).
pub fn has_int8_weights(dir: &Path) -> bool {
    model_json(dir, "arcwhisper.json")
        .and_then(|v| Some(v.get("weights")?.as_str()?.starts_with("int8")))
        .unwrap_or(false)
}

/// The JSON file `file` of the model folder `dir`, or `None` when it is missing or not JSON.
fn model_json(dir: &Path, file: &str) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join(file)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Sum of the sizes of the model's weight files (`openvino_*_model.bin`; the tokenizer IRs
/// are not counted, nor an int8 model's other encoders, `.folded.bin` and `.static-int8.bin`:
/// one of them is loaded instead of the encoder, not beside it).
pub fn weights_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with("openvino_") && n.ends_with("_model.bin")
                })
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn measured_need(dir: &Path, kind: DeviceKind) -> Option<(u64, String)> {
    let v = model_json(dir, "arcwhisper.json")?;
    let obj = v.as_object()?;
    // A number, or an object keyed by device kind; for a GPU without a GPU figure the CPU one is
    // used (conservative: the CPU plugin unpacks f16 weights to f32, the GPU plugin keeps f16).
    let pick = |val: &serde_json::Value| -> Option<(u64, String)> {
        let num = |v: &serde_json::Value| v.as_u64().or_else(|| v.as_f64().map(|f| f as u64));
        if let Some(n) = num(val) {
            return Some((n, String::new()));
        }
        let o = val.as_object()?;
        let get = |k: &str| {
            o.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .and_then(|(_, v)| num(v))
        };
        get(kind.key())
            .map(|n| (n, format!(" {}", kind.key().to_uppercase())))
            .or_else(|| get("cpu").map(|n| (n, " CPU figure".to_string())))
    };
    // The converter writes `memory_bytes: {"CPU": n}` (RSS growth compiling both models,
    // encoding one window and decoding 32 tokens).
    for key in ["memory_need_bytes", "memory_bytes"] {
        if let Some((n, what)) = obj.get(key).and_then(pick) {
            if n > 0 {
                return Some((n, format!("arcwhisper.json {key}{what}")));
            }
        }
    }
    obj.iter()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            k.contains("memory") && k.contains("need")
        })
        .find_map(|(k, v)| pick(v).map(|(n, w)| (n, format!("arcwhisper.json {k}{w}"))))
        .filter(|(n, _)| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder, removed when the returned guard drops (a failed assertion too).
    fn tmp(name: &str) -> test_support::tempdir::TempDir {
        test_support::tempdir::TempDir::new(&format!("models-{name}"))
    }

    fn fake_model(dir: &Path, bin_len: usize) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(ENCODER_XML), "<net/>").unwrap();
        std::fs::write(dir.join("openvino_encoder_model.bin"), vec![0u8; bin_len]).unwrap();
    }

    #[test]
    fn a_batch_adds_each_extra_window_s_cross_attention_state() {
        let m_dir = tmp("batch-need");
        let m = m_dir.path().to_path_buf();
        let cfg = r#"{"d_model": 384, "decoder_layers": 4}"#;
        std::fs::write(m.join("config.json"), cfg).unwrap();
        assert_eq!(batch_need(&m, 1), 0);
        assert_eq!(batch_need(&m, 0), 0);
        // tiny.en: 18.4 MB of cross-attention K/V a window, 24 MB with the margin.
        let one = batch_need(&m, 2);
        assert_eq!(
            one,
            (2.0 * 1500.0 * 384.0 * 4.0 * 4.0 * BATCH_WINDOW_MARGIN) as u64
        );
        // Seven extra windows: seven times one, above the peak growth measured (+119 MB).
        let eight = batch_need(&m, 8);
        assert!(
            eight.abs_diff(7 * one) < 7 && eight > 119_000_000,
            "{eight}"
        );
        // The chain's estimate carries it, and says so.
        let (single, _) = estimate_need(&m, DeviceKind::Cpu, 1);
        let (batched, src) = estimate_need(&m, DeviceKind::Cpu, 8);
        assert_eq!(batched, single + eight);
        assert!(
            src.ends_with(&format!(" + {} MB for batch 8", eight / 1_000_000)),
            "{src}"
        );
        std::fs::write(m.join("config.json"), "{}").unwrap();
        assert_eq!(batch_need(&m, 8), 0);
    }

    #[test]
    fn lookup_order_and_en_suffix() {
        let root_dir = tmp("lookup");
        let root = root_dir.path().to_path_buf();
        let (a, b) = (root.join("a"), root.join("b"));
        fake_model(&b.join("tiny.en"), 10);
        fake_model(&b.join("base"), 10);
        fake_model(&a.join("base"), 10);
        std::fs::create_dir_all(a.join("small")).unwrap(); // not a model: no encoder
        let dirs = vec![a.clone(), b.clone()];
        let t = resolve("tiny", &dirs).unwrap();
        assert_eq!(t.name, "tiny.en");
        assert_eq!(t.path, b.join("tiny.en").canonicalize().unwrap());
        assert_eq!(
            resolve("base", &dirs).unwrap().path,
            a.join("base").canonicalize().unwrap()
        );
        let e = resolve("small", &dirs).unwrap_err();
        assert!(e.contains("not installed"), "{e}");
        // int8 variants: `tiny-int8` finds tiny.en-int8; a missing one names the fix.
        fake_model(&b.join("tiny.en-int8"), 10);
        assert_eq!(resolve("tiny-int8", &dirs).unwrap().name, "tiny.en-int8");
        assert_eq!(resolve("tiny.en-int8", &dirs).unwrap().name, "tiny.en-int8");
        let e = resolve("base-int8", &dirs).unwrap_err();
        assert!(
            e.contains("base-int8 and base.en-int8") && e.contains("tools/setup.sh"),
            "{e}"
        );
        assert!(resolve("medium", &dirs).is_err());
        // Paths are used as given.
        let p = format!("{}/../b/base", a.display());
        assert_eq!(
            resolve(&p, &[]).unwrap().path,
            b.join("base").canonicalize().unwrap()
        );
        assert!(resolve(&format!("{}/nope", a.display()), &dirs).is_err());
    }

    #[test]
    fn languages_from_generation_config_or_vocab_size() {
        let root_dir = tmp("langs");
        let root = root_dir.path().to_path_buf();
        let m = root.join("m");
        fake_model(&m, 10);
        assert_eq!(languages(&m), ModelLanguages::default());
        std::fs::write(m.join("config.json"), r#"{"vocab_size": 51864}"#).unwrap();
        assert_eq!(languages(&m).multilingual, Some(false));
        std::fs::write(m.join("config.json"), r#"{"vocab_size": 51865}"#).unwrap();
        assert_eq!(languages(&m).multilingual, Some(true));
        std::fs::write(
            m.join("generation_config.json"),
            r#"{"is_multilingual": false, "lang_to_id": {"<|en|>": 50259, "<|de|>": 50261}}"#,
        )
        .unwrap();
        let l = languages(&m);
        assert_eq!(l.multilingual, Some(false));
        assert_eq!(l.codes, ["de", "en"]);
    }

    #[test]
    fn need_from_json_or_formula() {
        let root_dir = tmp("need");
        let root = root_dir.path().to_path_buf();
        let m = root.join("m");
        fake_model(&m, 1000);
        let (n, src) = estimate_need(&m, DeviceKind::Cpu, 1);
        assert_eq!(n, (1000.0 * WEIGHT_FACTOR) as u64 + ACTIVATION_BYTES);
        assert!(src.starts_with("formula"), "{src}");
        let big = 1_000_000_000u64;
        std::fs::write(
            m.join("arcwhisper.json"),
            r#"{"memory_need_bytes": {"CPU": 1000000005, "gpu": 1000000007}}"#,
        )
        .unwrap();
        assert_eq!(estimate_need(&m, DeviceKind::Cpu, 1).0, big + 5);
        assert_eq!(estimate_need(&m, DeviceKind::Gpu, 1).0, big + 7);
        std::fs::write(
            m.join("arcwhisper.json"),
            r#"{"measured_memory_need": 1000000009}"#,
        )
        .unwrap();
        assert_eq!(estimate_need(&m, DeviceKind::Gpu, 1).0, big + 9);
        // The converter's key.
        std::fs::write(
            m.join("arcwhisper.json"),
            r#"{"memory_bytes": {"CPU": 1257081344}}"#,
        )
        .unwrap();
        assert_eq!(estimate_need(&m, DeviceKind::Cpu, 1).0, 1257081344);
        assert_eq!(estimate_need(&m, DeviceKind::Gpu, 1).0, 1257081344);
        assert!(estimate_need(&m, DeviceKind::Gpu, 1)
            .1
            .contains("CPU figure"));
        // An int8 variant's formula has its own factor.
        std::fs::write(
            m.join("arcwhisper.json"),
            r#"{"weights": "int8-encoder+decoder (i8 per-channel symmetric), fp16-compressed rest"}"#,
        )
        .unwrap();
        assert!(has_int8_weights(&m));
        // Its folded (converter 1.6.0) and static int8 (1.9.0) encoders are loaded instead of
        // the encoder: not counted.
        std::fs::write(m.join("openvino_encoder_model.folded.bin"), vec![0u8; 800]).unwrap();
        std::fs::write(
            m.join("openvino_encoder_model.static-int8.bin"),
            vec![0u8; 700],
        )
        .unwrap();
        assert_eq!(weights_bytes(&m), 1000);
        let (n, src) = estimate_need(&m, DeviceKind::Cpu, 1);
        assert_eq!(n, (1000.0 * INT8_WEIGHT_FACTOR) as u64 + ACTIVATION_BYTES);
        assert!(src.contains(&format!("x {INT8_WEIGHT_FACTOR}")), "{src}");
        // A recorded figure below the formula: the formula wins, and says so.
        std::fs::write(m.join("arcwhisper.json"), r#"{"memory_bytes": {"CPU": 5}}"#).unwrap();
        let (n, src) = estimate_need(&m, DeviceKind::Cpu, 1);
        assert_eq!(n, (1000.0 * WEIGHT_FACTOR) as u64 + ACTIVATION_BYTES);
        assert!(src.contains("above arcwhisper.json memory_bytes"), "{src}");
    }
}
