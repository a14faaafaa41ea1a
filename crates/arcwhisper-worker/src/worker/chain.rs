//! The model chain: each entry looked up and its memory need estimated, passed over when it
//! cannot honour the settings (an English-only model asked to translate or to hear German) or
//! does not fit the budget, and the first one left loaded, moving down the chain when loading
//! runs out of memory.

use super::budget::Budget;
use super::convert::decode_options;
use super::output::{log, warn, Failure};
use arcwhisper_worker::device::DeviceSpec;
use arcwhisper_worker::memory::{self, human};
use arcwhisper_worker::models::{self, DeviceKind, ModelLanguages};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use whisper_engine::{EngineConfig, Precision, WhisperModel};
use worker_protocol::{languages, DecodeSettings, ErrorKind, ModelReport, PrecisionReport, Task};

/// A chain entry that exists, with its need.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub name: String,
    pub path: PathBuf,
    pub need: u64,
    pub need_source: String,
}

/// One chain entry as looked up.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// Not installed: the entry and why.
    Missing(String, String),
    Found(Candidate, ModelLanguages),
}

/// The chain sorted out against the settings and the budget, in chain order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Candidates to try, most preferred first.
    pub fitting: Vec<Candidate>,
    /// Candidates above the budget.
    pub too_big: Vec<Candidate>,
    /// Entries passed over, each with why (reported in `ModelReport.skipped`).
    pub skipped: Vec<(String, String)>,
}

/// Looks up every entry of the chain in `dirs` and estimates its need on `kind` when decoding
/// `batch_size` windows together.
pub fn look_up(
    chain: &[String],
    dirs: &[PathBuf],
    kind: DeviceKind,
    batch_size: usize,
) -> Vec<Entry> {
    chain
        .iter()
        .map(|entry| match models::resolve(entry, dirs) {
            Err(why) => {
                log(&format!("model-skip entry={entry} reason={why:?}"));
                Entry::Missing(entry.clone(), why)
            }
            Ok(found) => {
                let (need, need_source) = models::estimate_need(&found.path, kind, batch_size);
                log(&format!(
                    "model-candidate entry={entry} name={} path={} need={need} ({need_source})",
                    found.name,
                    found.path.display(),
                ));
                let langs = models::languages(&found.path);
                let c = Candidate {
                    name: found.name,
                    path: found.path,
                    need,
                    need_source,
                };
                Entry::Found(c, langs)
            }
        })
        .collect()
}

/// Sorts the looked-up chain into what to try, what is too big and what is passed over; an error
/// when nothing is installed, nothing can honour the settings, or nothing fits.
pub fn plan(
    entries: Vec<Entry>,
    dirs: &[PathBuf],
    budget: &Budget,
    settings: &DecodeSettings,
) -> Result<Plan, Failure> {
    if entries.is_empty() {
        return Err((ErrorKind::Model, "the model chain is empty".into()));
    }
    let mut plan = Plan::default();
    let (mut missing, mut refused) = (Vec::new(), Vec::new());
    for e in entries {
        let (name, why) = match e {
            Entry::Missing(entry, why) => {
                missing.push(entry.clone());
                (entry, why)
            }
            Entry::Found(c, langs) => match cannot_honour(&c.name, &langs, settings) {
                Some(why) => {
                    refused.push(why.clone());
                    (c.name, why)
                }
                None if c.need <= budget.bytes => {
                    plan.fitting.push(c);
                    continue;
                }
                None => {
                    let why = format!(
                        "{} is below {}'s need of {}",
                        budget.label,
                        c.name,
                        human(c.need)
                    );
                    plan.too_big.push(c.clone());
                    (c.name, why)
                }
            },
        };
        plan.skipped.push((name, why));
    }
    let reasons = |p: &Plan| {
        p.skipped
            .iter()
            .map(|(_, w)| w.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    if plan.fitting.is_empty() && plan.too_big.is_empty() {
        return Err(if refused.is_empty() {
            not_installed(&missing, &reasons(&plan), dirs)
        } else {
            none_honours(&reasons(&plan))
        });
    }
    if plan.fitting.is_empty() {
        let extra = refused.iter().map(|w| format!("; {w}")).collect::<String>();
        return Err(no_fit(&plan, budget, &extra));
    }
    Ok(plan)
}

/// What in `settings` needs a multilingual model: `task=translate`, `language=<not en>`.
fn multilingual_setting(settings: &DecodeSettings) -> Option<String> {
    if settings.task == Task::Translate {
        return Some("task=translate".into());
    }
    match settings.language.as_deref() {
        Some(l) if !languages::is_auto(l) && l != "en" => Some(format!("language={l}")),
        _ => None,
    }
}

/// Why model `name` cannot honour `settings`, or `None` when it can (as far as its files say).
pub fn cannot_honour(
    name: &str,
    langs: &ModelLanguages,
    settings: &DecodeSettings,
) -> Option<String> {
    let wants = multilingual_setting(settings)?;
    if langs.multilingual == Some(false) {
        return Some(if settings.task == Task::Translate {
            format!("{name} is English-only and cannot translate ({wants})")
        } else {
            format!("{name} is English-only and ignores {wants}")
        });
    }
    let lang = settings
        .language
        .as_deref()
        .filter(|l| !languages::is_auto(l))?;
    (!langs.codes.is_empty() && !langs.codes.iter().any(|c| c == lang))
        .then(|| format!("{name} does not know language {lang}"))
}

fn not_installed(missing: &[String], reasons: &str, dirs: &[PathBuf]) -> Failure {
    (
        ErrorKind::Model,
        format!(
            "none of the models [{}] is installed; searched: {}; {reasons}. Run tools/setup.sh \
             to convert tiny.en, base and their int8 variants (tiny.en-int8, base-int8), or set \
             ARCWHISPER_MODEL_DIR",
            missing.join(", "),
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
    )
}

fn none_honours(reasons: &str) -> Failure {
    let fix = if reasons.contains("English-only") {
        "use a multilingual model such as base (model=base), or leave language empty and \
         task=transcribe for English speech"
    } else {
        "use a model that knows this language, or leave language empty to detect it"
    };
    (
        ErrorKind::Model,
        format!("no model of the chain can honour the settings: {reasons}; {fix}"),
    )
}

fn no_fit(plan: &Plan, budget: &Budget, extra: &str) -> Failure {
    (
        ErrorKind::Memory,
        format!(
            "no model of the chain fits: budget {}; needs: {}{extra}",
            budget.describe(),
            plan.too_big
                .iter()
                .chain(plan.fitting.iter())
                .map(|c| format!("{} {}", c.name, human(c.need)))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Loading

/// The model loaded, its report, and the candidates after it that fit (where a memory failure
/// while decoding moves to).
pub struct Loaded {
    pub model: WhisperModel,
    pub report: ModelReport,
    pub rest: VecDeque<Candidate>,
}

/// Loads the first candidate of the plan that loads within memory and that the engine agrees
/// honours the settings; warns about what was passed over.
pub fn load(
    plan: Plan,
    cfg: &EngineConfig,
    budget: &Budget,
    settings: &DecodeSettings,
) -> Result<Loaded, Failure> {
    let mut queue: VecDeque<Candidate> = plan.fitting.iter().cloned().collect();
    let mut skipped = plan.skipped.clone();
    let mut oom = Vec::new();
    let Some((model, c)) = load_first(&mut queue, cfg, settings, &mut skipped, &mut oom)? else {
        let extra = if oom.is_empty() {
            String::new()
        } else {
            format!("; out of memory while loading: {}", oom.join("; "))
        };
        return Err(no_fit(&plan, budget, &extra));
    };
    if !skipped.is_empty() {
        warn(format!(
            "{}: loaded {} (need {})",
            skipped
                .iter()
                .map(|(_, w)| w.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            c.name,
            human(c.need)
        ));
    }
    let precision = precision_report(model.precision());
    Ok(Loaded {
        model,
        report: ModelReport {
            name: c.name,
            path: c.path,
            need: c.need,
            budget: budget.bytes,
            skipped,
            precision,
        },
        rest: queue,
    })
}

/// The engine's precision choice as the protocol reports it.
pub fn precision_report(p: &Precision) -> PrecisionReport {
    let hint = |h: &Option<String>| h.clone().unwrap_or_else(|| "default".into());
    PrecisionReport {
        encoder: hint(&p.encoder),
        decoder: hint(&p.decoder),
        reason: p.reason.clone(),
    }
}

/// Loads candidates from the front of `queue` until one loads and honours `settings`. One that
/// runs out of memory, or that the engine finds cannot honour the settings, is passed over
/// (recorded in `skipped`; memory failures also in `oom`); any other load error is a failure.
/// `Ok(None)`: the queue ran out.
pub fn load_first(
    queue: &mut VecDeque<Candidate>,
    cfg: &EngineConfig,
    settings: &DecodeSettings,
    skipped: &mut Vec<(String, String)>,
    oom: &mut Vec<String>,
) -> Result<Option<(WhisperModel, Candidate)>, Failure> {
    while let Some(c) = queue.pop_front() {
        let t0 = std::time::Instant::now();
        let (rss0, _) = memory::self_rss();
        let mut model = match WhisperModel::load(&c.path, cfg) {
            Ok(m) => m,
            Err(e) => {
                let msg = format!("{e:#}");
                if !is_memory_error(&msg) {
                    return Err(cannot_load(&c.name, &c.path, &msg));
                }
                log(&format!("model-load-oom name={} error={msg:?}", c.name));
                skipped.push((
                    c.name.clone(),
                    format!("{} ran out of memory loading: {msg}", c.name),
                ));
                oom.push(format!("{}: {msg}", c.name));
                continue;
            }
        };
        let (rss1, hwm1) = memory::self_rss();
        log(&format!(
            "model-load name={} path={} need={} seconds={:.2} rss_before={rss0} rss_after={rss1} \
             hwm={hwm1} precision={:?}",
            c.name,
            c.path.display(),
            c.need,
            t0.elapsed().as_secs_f64(),
            model.precision().describe(),
        ));
        if let Some(why) = engine_refusal(&mut model, &c.name, settings) {
            log(&format!("model-skip name={} reason={why:?}", c.name));
            skipped.push((c.name.clone(), why));
            continue;
        }
        return Ok(Some((model, c)));
    }
    Ok(None)
}

/// The engine's own verdict on the settings, once the model is loaded (its tokenizer is the
/// authority on languages): a stream is opened and given no audio, which checks the options.
fn engine_refusal(
    model: &mut WhisperModel,
    name: &str,
    settings: &DecodeSettings,
) -> Option<String> {
    let langs = ModelLanguages {
        multilingual: Some(model.is_multilingual()),
        codes: Vec::new(),
    };
    if let Some(why) = cannot_honour(name, &langs, settings) {
        return Some(why);
    }
    let opts = decode_options(settings, model.device());
    let mut stream = model.stream(opts, None);
    stream
        .push(&[])
        .err()
        .map(|e| format!("{name} refuses the settings: {e:#}"))
}

fn cannot_load(name: &str, path: &Path, msg: &str) -> Failure {
    (
        ErrorKind::Model,
        format!("cannot load model {name} from {}: {msg}", path.display()),
    )
}

/// The engine configuration for the device: OpenVINO device name, cache, as many threads as
/// pinned CPUs, and the batch size the settings ask for.
pub fn engine_config(
    openvino_device: &str,
    cache_dir: Option<PathBuf>,
    spec: &DeviceSpec,
    settings: &DecodeSettings,
) -> EngineConfig {
    EngineConfig {
        device: openvino_device.to_string(),
        cache_dir: cache_dir.or_else(|| models::arcwhisper_home().map(|h| h.join("cache"))),
        threads: match spec {
            DeviceSpec::CpuSet(c) => Some(c.len()),
            _ => None,
        },
        batch_size: decode_options(settings, openvino_device).batch_size,
        ..EngineConfig::default()
    }
}

/// The device kind the memory need is estimated for.
pub fn device_kind(spec: &DeviceSpec) -> DeviceKind {
    if spec.is_gpu() {
        DeviceKind::Gpu
    } else {
        DeviceKind::Cpu
    }
}

/// Whether an OpenVINO/engine error message is about memory (then the chain moves down).
pub fn is_memory_error(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    [
        "out of memory",
        "bad_alloc",
        "cl_out_of_resources",
        "cl_mem_object_allocation_failure",
        "cl_out_of_host_memory",
        "failed to allocate",
        "ze_result_error_out_of_device_memory",
        "ze_result_error_out_of_host_memory",
        "cannot allocate memory",
        "not enough memory",
    ]
    .iter()
    .any(|k| m.contains(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    fn found(name: &str, need: u64, multilingual: bool) -> Entry {
        let codes = if multilingual {
            languages::LANGUAGES[..99]
                .iter()
                .map(|(c, _)| c.to_string())
                .collect()
        } else {
            Vec::new()
        };
        Entry::Found(
            Candidate {
                name: name.into(),
                path: PathBuf::from(format!("/m/{name}")),
                need,
                need_source: "test".into(),
            },
            ModelLanguages {
                multilingual: Some(multilingual),
                codes,
            },
        )
    }

    fn budget(bytes: u64) -> Budget {
        Budget {
            bytes,
            label: format!("max-memory {}", human(bytes)),
            max_memory: bytes,
            free: 8000 * MB,
        }
    }

    fn names(c: &[Candidate]) -> Vec<&str> {
        c.iter().map(|c| c.name.as_str()).collect()
    }

    fn with(language: Option<&str>, task: Task) -> DecodeSettings {
        DecodeSettings {
            language: language.map(str::to_string),
            task,
            ..Default::default()
        }
    }

    fn chain() -> Vec<Entry> {
        vec![
            Entry::Missing("medium".into(), "model \"medium\" is not installed".into()),
            found("base", 626 * MB, true),
            found("tiny.en", 417 * MB, false),
        ]
    }

    #[test]
    fn order_is_kept_and_the_budget_passes_over_big_models() {
        let s = DecodeSettings::default();
        let p = plan(chain(), &[], &budget(1000 * MB), &s).unwrap();
        assert_eq!(names(&p.fitting), ["base", "tiny.en"]);
        assert_eq!(p.skipped.len(), 1, "{:?}", p.skipped);
        let p = plan(chain(), &[], &budget(500 * MB), &s).unwrap();
        assert_eq!(names(&p.fitting), ["tiny.en"]);
        assert_eq!(names(&p.too_big), ["base"]);
        assert_eq!(p.skipped[0].0, "medium");
        assert!(p.skipped[1]
            .1
            .contains("max-memory 500 MB is below base's need of 626 MB"));
        let (kind, msg) = plan(chain(), &[], &budget(100 * MB), &s).unwrap_err();
        assert_eq!(kind, ErrorKind::Memory);
        assert!(msg.contains("base 626 MB, tiny.en 417 MB"), "{msg}");
    }

    #[test]
    fn nothing_installed_names_the_folders() {
        let e = vec![Entry::Missing(
            "x".into(),
            "model \"x\" is not installed".into(),
        )];
        let (kind, msg) =
            plan(e, &[PathBuf::from("/d")], &budget(MB), &Default::default()).unwrap_err();
        assert_eq!(kind, ErrorKind::Model);
        assert!(msg.contains("[x]") && msg.contains("searched: /d"), "{msg}");
        let (kind, msg) = plan(Vec::new(), &[], &budget(MB), &Default::default()).unwrap_err();
        assert_eq!(
            (kind, msg.as_str()),
            (ErrorKind::Model, "the model chain is empty")
        );
    }

    #[test]
    fn english_only_models_are_passed_over_for_other_languages_and_translation() {
        let german = with(Some("de"), Task::Transcribe);
        let p = plan(chain(), &[], &budget(1000 * MB), &german).unwrap();
        assert_eq!(names(&p.fitting), ["base"]);
        assert!(
            p.skipped
                .iter()
                .any(|(n, w)| n == "tiny.en"
                    && w == "tiny.en is English-only and ignores language=de")
        );
        let translate = with(None, Task::Translate);
        let p = plan(chain(), &[], &budget(1000 * MB), &translate).unwrap();
        assert_eq!(names(&p.fitting), ["base"]);
        // English stays fine on an English-only model.
        let english = with(Some("en"), Task::Transcribe);
        let p = plan(chain(), &[], &budget(1000 * MB), &english).unwrap();
        assert_eq!(names(&p.fitting), ["base", "tiny.en"]);
    }

    #[test]
    fn no_model_able_to_honour_is_a_model_error_naming_the_fix() {
        let only_en = vec![found("tiny.en", 417 * MB, false)];
        let (kind, msg) = plan(
            only_en.clone(),
            &[],
            &budget(1000 * MB),
            &with(None, Task::Translate),
        )
        .unwrap_err();
        assert_eq!(kind, ErrorKind::Model);
        assert!(
            msg.contains("tiny.en is English-only and cannot translate (task=translate)"),
            "{msg}"
        );
        assert!(msg.contains("such as base"), "{msg}");
        // yue came with large-v3: base does not know it.
        let base = vec![found("base", 626 * MB, true)];
        let (kind, msg) = plan(
            base,
            &[],
            &budget(1000 * MB),
            &with(Some("yue"), Task::Transcribe),
        )
        .unwrap_err();
        assert_eq!(kind, ErrorKind::Model);
        assert!(msg.contains("base does not know language yue"), "{msg}");
    }

    #[test]
    fn a_refused_model_does_not_count_as_too_big() {
        // base is too big, tiny.en cannot do German: the memory error names only base.
        let (kind, msg) = plan(
            chain(),
            &[],
            &budget(500 * MB),
            &with(Some("de"), Task::Transcribe),
        )
        .unwrap_err();
        assert_eq!(kind, ErrorKind::Memory);
        assert!(
            msg.contains("needs: base 626 MB") && !msg.contains("tiny.en 417"),
            "{msg}"
        );
    }

    #[test]
    fn memory_errors_are_recognised() {
        assert!(is_memory_error(
            "OpenVINO compile: GeneralError: std::bad_alloc"
        ));
        assert!(is_memory_error("[GPU] out of memory while allocating"));
        assert!(is_memory_error("clEnqueue: CL_OUT_OF_RESOURCES"));
        assert!(is_memory_error("Failed to allocate 123 bytes"));
        assert!(!is_memory_error(
            "model /x/openvino_encoder_model.xml: parse error"
        ));
    }
}
