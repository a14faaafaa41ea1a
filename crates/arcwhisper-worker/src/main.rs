//! `arcwhisper-worker`: one process per `arcwhisper` element instance.
//!
//! stdin: framed `Request`s and audio; stdout: framed `Response`s (and nothing else: the
//! original stdout is moved to a private descriptor at start and fd 1 is pointed at stderr, so
//! a stray print from any library lands in the log, not in the protocol); stderr: the log, one
//! line per event.
//!
//! Sequence: `Hello` at once (before OpenVINO is loaded) -> `Start` -> parse the device, pin
//! (CPU set; `ZE_AFFINITY_MASK` for `GPU.N` when the element did not), load OpenVINO, verify
//! what is visible, measure memory, walk the model chain -> `Ready` (or `Error` and exit) ->
//! audio / `Drain` / `Flush` / `Shutdown`. Each step is a module of `worker/`.
//!
//! Exit codes: 0 on `Shutdown` or EOF; 2 bad input (protocol); 3 device; 4 model; 5 memory;
//! 6 runtime; 7 internal (decoding) error.
//!
//! Test hooks (tests only; ignored when unset):
//! - `ARCWHISPER_WORKER_DIE_AFTER_WINDOWS=N` makes the worker `abort()` right after it has sent
//!   N `Segments` messages that carried decoded windows (crash tests).
//! - `ARCWHISPER_WORKER_FAKE_OOM_AFTER_WINDOWS=N`: once N windows were sent, the next push fails
//!   as if inference ran out of memory (once), to test moving down the chain mid-stream.

mod worker;

use arcwhisper_worker::device::format_cpu_list;
use arcwhisper_worker::memory::{self, human};
use arcwhisper_worker::models;
use std::io::BufReader;
use whisper_engine::EngineConfig;
use worker::output::{fail, log, send, Failure};
use worker::start::StartRequest;
use worker::{budget, chain, placement, probe, serve, start, verify};
use worker_protocol::{DeviceReport, Response};

fn main() {
    worker::output::take_stdout();
    let code = run();
    std::process::exit(code);
}

fn run() -> i32 {
    let pid = std::process::id();
    let version = env!("CARGO_PKG_VERSION");
    send(&Response::Hello {
        pid,
        version: version.to_string(),
    });
    log(&format!("hello pid={pid} version={version}"));

    // Not locked: the reader thread takes it over after `Ready` (`worker/intake.rs`).
    let mut input = BufReader::with_capacity(256 * 1024, std::io::stdin());
    let start = match start::read_start(&mut input) {
        Ok(Some(s)) => s,
        Ok(None) => return 0,
        Err(f) => return fail(f),
    };
    let (device, loaded, cfg, runtime) = match set_up(&start) {
        Ok(s) => s,
        Err(f) => return fail(f),
    };
    send(&Response::Ready {
        device: device.clone(),
        model: loaded.report.clone(),
        runtime: runtime.clone(),
    });
    log_ready(&device, &loaded, &runtime);
    serve::serve(loaded, &cfg, &start.settings, start.resume, input)
}

/// Everything between `Start` and `Ready`, in order: pin, load OpenVINO, verify, measure, load
/// a model of the chain.
fn set_up(
    start: &StartRequest,
) -> Result<(DeviceReport, chain::Loaded, EngineConfig, String), Failure> {
    let pinned = placement::apply(&start.device)?;
    let rt = probe::load_runtime()?;
    let seen = probe::seen(&rt)?;
    verify::check(&pinned.spec, pinned.cpu_problem.as_deref(), &seen)?;
    let ovdev = &pinned.placement.openvino_device;
    let id = probe::identify(&rt, &pinned.spec, ovdev);
    let mem = budget::measure(
        pinned.spec.is_gpu(),
        id.pci_address.as_deref(),
        id.gpu_total_memory,
    )?;
    let runtime = rt.path.display().to_string();
    drop(rt);
    let device = DeviceReport {
        requested: start.device.clone(),
        openvino_device: ovdev.clone(),
        visible_devices: seen.visible,
        full_name: id.full_name,
        uuid: id.uuid,
        pci_address: id.pci_address,
        ze_affinity_mask: seen.ze_mask,
        allowed_cpus: seen.allowed_cpus,
        memory_free: mem.free,
        memory_source: mem.source.clone(),
    };
    log_device(&device);

    let budget = budget::budget(start.max_memory, &mem);
    let dirs = models::search_dirs();
    let kind = chain::device_kind(&pinned.spec);
    let cfg = chain::engine_config(
        ovdev,
        start.cache_dir.clone(),
        &pinned.spec,
        &start.settings,
    );
    let entries = chain::look_up(&start.model_chain, &dirs, kind, cfg.batch_size);
    let plan = chain::plan(entries, &dirs, &budget, &start.settings)?;
    let loaded = chain::load(plan, &cfg, &budget, &start.settings)?;
    Ok((device, loaded, cfg, runtime))
}

fn log_device(d: &DeviceReport) {
    log(&format!(
        "device requested={} openvino={} visible=[{}] ZE_AFFINITY_MASK={} allowed_cpus={} \
         memory_free={} source={:?}",
        d.requested,
        d.openvino_device,
        d.visible_devices.join(","),
        d.ze_affinity_mask.as_deref().unwrap_or("-"),
        format_cpu_list(&d.allowed_cpus),
        d.memory_free,
        d.memory_source,
    ));
}

fn log_ready(d: &DeviceReport, loaded: &chain::Loaded, runtime: &str) {
    let (rss, hwm) = memory::self_rss();
    let m = &loaded.report;
    log(&format!(
        "worker-start pid={} device={} openvino_device={} ZE_AFFINITY_MASK={} allowed_cpus={} \
         visible=[{}] full_name={:?} uuid={} pci={} memory_free={} ({}) budget={} model={} \
         need={} path={} runtime={runtime} rss={rss} hwm={hwm}",
        std::process::id(),
        d.requested,
        d.openvino_device,
        d.ze_affinity_mask.as_deref().unwrap_or("-"),
        format_cpu_list(&d.allowed_cpus),
        d.visible_devices.join(","),
        d.full_name,
        d.uuid.as_deref().unwrap_or("-"),
        d.pci_address.as_deref().unwrap_or("-"),
        human(d.memory_free),
        d.memory_source,
        human(m.budget),
        m.name,
        human(m.need),
        m.path.display(),
    ));
}
