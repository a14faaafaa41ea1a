//! Embedding arcwhisper in an application: builds `sceneckpt ! arcwhisper ! sceneckptsink` from
//! element factories, runs it over one folder of scenes on one device and follows the bus
//! (worker start, scene start/done/failed, progress, errors).
//!
//! ```text
//! arcwhisper-embed-example [--device CPU:0] [--model base] [--task subtitles] SCENES_DIR
//! ```
//!
//! The plugins are looked up in GStreamer's registry (installed, or `GST_PLUGIN_PATH`); when
//! they are not there, the folder of this executable is scanned, so `target/release/` works
//! straight after `cargo build --release --workspace`.

use anyhow::{anyhow, bail, Context, Result};
use gst::prelude::*;

struct Args {
    scenes: String,
    device: String,
    model: Option<String>,
    task: String,
}

const USAGE: &str =
    "usage: arcwhisper-embed-example [--device DEV] [--model NAME|DIR] [--task TASK] SCENES_DIR";

fn parse_args() -> Result<Args> {
    let mut args = Args {
        scenes: String::new(),
        device: "CPU".into(),
        model: None,
        task: "subtitles".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| anyhow!("{name} needs a value"));
        match a.as_str() {
            "--device" => args.device = value("--device")?,
            "--model" => args.model = Some(value("--model")?),
            "--task" => args.task = value("--task")?,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            s if s.starts_with('-') => bail!("unknown option {s}\n{USAGE}"),
            s if args.scenes.is_empty() => args.scenes = s.to_string(),
            s => bail!("unexpected argument {s}\n{USAGE}"),
        }
    }
    if args.scenes.is_empty() {
        bail!("{USAGE}");
    }
    Ok(args)
}

/// Makes the plugins findable: registry first, then the folder of this executable.
fn ensure_plugins() -> Result<()> {
    let registry = gst::Registry::get();
    let missing = |r: &gst::Registry| {
        ["arcwhisper", "sceneckpt", "sceneckptsink"]
            .into_iter()
            .filter(|f| r.lookup_feature(f).is_none())
            .collect::<Vec<_>>()
    };
    if missing(&registry).is_empty() {
        return Ok(());
    }
    if let Some(dir) = std::env::current_exe()?.parent() {
        registry.scan_path(dir);
    }
    let still = missing(&registry);
    if !still.is_empty() {
        bail!(
            "GStreamer elements not found: {} (build with `cargo build --release --workspace` and \
             set GST_PLUGIN_PATH=<repo>/target/release, or install with meson)",
            still.join(", ")
        );
    }
    Ok(())
}

/// Creates an element and sets properties from strings (as gst-launch-1.0 does).
fn make(factory: &str, props: &[(&str, &str)]) -> Result<gst::Element> {
    let element = gst::ElementFactory::make(factory)
        .build()
        .with_context(|| format!("creating {factory}"))?;
    for (name, value) in props {
        if element.find_property(name).is_none() {
            bail!("{factory} has no property {name} (see gst-inspect-1.0 {factory})");
        }
        element.set_property_from_str(name, value);
    }
    Ok(element)
}

/// One line for an element message of ours (`sceneckpt-*`, `arcwhisper-*`, `worker-*`).
fn describe(s: &gst::StructureRef) -> Option<String> {
    let name = s.name().as_str();
    if !(name.starts_with("sceneckpt")
        || name.starts_with("arcwhisper")
        || name.starts_with("worker"))
    {
        return None;
    }
    let fields = s
        .iter()
        .map(|(k, v)| {
            let v = v
                .serialize()
                .map(|v| v.to_string())
                .unwrap_or_else(|_| format!("{v:?}"));
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join(" ");
    Some(format!("{name}: {fields}"))
}

fn main() -> Result<()> {
    let args = parse_args()?;
    gst::init()?;
    ensure_plugins()?;

    let source = make(
        "sceneckpt",
        &[("location", &args.scenes), ("task", &args.task)],
    )?;
    let mut whisper_props = vec![("device", args.device.as_str())];
    if let Some(model) = &args.model {
        whisper_props.push(("model", model.as_str()));
    }
    let whisper = make("arcwhisper", &whisper_props)?;
    let sink = make("sceneckptsink", &[])?;

    let pipeline = gst::Pipeline::new();
    pipeline.add_many([&source, &whisper, &sink])?;
    gst::Element::link_many([&source, &whisper, &sink])?;

    pipeline
        .set_state(gst::State::Playing)
        .context("starting the pipeline")?;
    let bus = pipeline.bus().expect("a pipeline has a bus");
    let mut result = Ok(());
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        use gst::MessageView;
        match msg.view() {
            MessageView::Eos(..) => {
                println!("end of stream: every scene is done, failed or claimed by another run");
                break;
            }
            MessageView::Error(err) => {
                let from = msg
                    .src()
                    .map(|s| s.path_string().to_string())
                    .unwrap_or_default();
                result = Err(anyhow!(
                    "error from {from}: {} ({})",
                    err.error(),
                    err.debug().map(|d| d.to_string()).unwrap_or_default()
                ));
                break;
            }
            MessageView::Warning(w) => eprintln!("warning: {}", w.error()),
            MessageView::Element(e) => {
                if let Some(line) = e.structure().and_then(describe) {
                    println!("{line}");
                }
            }
            _ => {}
        }
    }
    pipeline
        .set_state(gst::State::Null)
        .context("stopping the pipeline")?;
    result
}
