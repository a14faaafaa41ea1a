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
//! audio / `Drain` / `Flush` / `Shutdown`.
//!
//! Exit codes: 0 on `Shutdown` or EOF; 2 bad input (protocol); 3 device; 4 model; 5 memory;
//! 6 runtime; 7 internal (decoding) error.
//!
//! Test hooks (tests only; ignored when unset):
//! - `ARCWHISPER_WORKER_DIE_AFTER_WINDOWS=N` makes the worker `abort()` right after it has sent
//!   N `Segments` messages that carried decoded windows (crash tests).
//! - `ARCWHISPER_WORKER_FAKE_OOM_AFTER_WINDOWS=N`: once N windows were sent, the next push fails
//!   as if inference ran out of memory (once), to test moving down the chain mid-stream.

use arcwhisper_worker::affinity;
use arcwhisper_worker::device::{self, DeviceSpec};
use arcwhisper_worker::memory::{self, human};
use arcwhisper_worker::models::{self, DeviceKind};
use std::fs::File;
use std::io::{BufReader, Write};
use std::os::fd::FromRawFd;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use whisper_engine::{DecodeOptions, EngineConfig, WhisperModel};
use worker_protocol::{
    read_frame, write_control, DecodeSettings, DeviceReport, ErrorKind, Frame, FrameError,
    ModelReport, Request, Response, ResumeState, SegmentMsg, PROTOCOL_VERSION,
};

// ---------------------------------------------------------------------------------------------
// Output: the one way to the protocol pipe, and the log.

static OUT: OnceLock<Mutex<File>> = OnceLock::new();

/// Moves the protocol pipe away from fd 1 (to a private close-on-exec descriptor) and points
/// fd 1 at stderr, so that nothing but [`send`] can ever write to the element.
fn take_stdout() {
    // SAFETY: plain descriptor calls on fds this process owns.
    let fd = unsafe { libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3) };
    if fd < 0 {
        eprintln!(
            "arcwhisper-worker: cannot duplicate stdout: {}",
            std::io::Error::last_os_error()
        );
        std::process::exit(7);
    }
    // SAFETY: as above. If stderr is closed, fd 1 goes to /dev/null instead: never the pipe.
    if unsafe { libc::dup2(2, 1) } < 0 {
        let null = c"/dev/null";
        let nfd = unsafe { libc::open(null.as_ptr(), libc::O_WRONLY) };
        if nfd < 0 || unsafe { libc::dup2(nfd, 1) } < 0 {
            unsafe { libc::close(1) };
        }
        if nfd > 1 {
            unsafe { libc::close(nfd) };
        }
    }
    // SAFETY: fd is a fresh descriptor owned by nobody else.
    let file = unsafe { File::from_raw_fd(fd) };
    let _ = OUT.set(Mutex::new(file));
}

/// Sends one message to the element. A broken pipe means the element is gone: exit quietly.
fn send(msg: &Response) {
    let out = OUT.get().expect("take_stdout first");
    let mut f = out.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = write_control(&mut *f, msg).and_then(|_| f.flush().map_err(FrameError::Io)) {
        log(&format!("element-gone error={e}"));
        std::process::exit(0);
    }
}

fn log(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "arcwhisper-worker[{}]: {line}", std::process::id());
}

fn exit_code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::Input => 2,
        ErrorKind::Device => 3,
        ErrorKind::Model => 4,
        ErrorKind::Memory => 5,
        ErrorKind::Runtime => 6,
        ErrorKind::Internal => 7,
    }
}

/// Sends `Error`, logs it and returns the exit code.
fn fail(kind: ErrorKind, message: String) -> i32 {
    log(&format!("error kind={kind:?} message={message:?}"));
    send(&Response::Error { kind, message });
    exit_code(kind)
}

type Failure = (ErrorKind, String);

// ---------------------------------------------------------------------------------------------

fn main() {
    take_stdout();
    let code = run();
    std::process::exit(code);
}

struct StartRequest {
    device: String,
    model_chain: Vec<String>,
    max_memory: u64,
    cache_dir: Option<PathBuf>,
    settings: DecodeSettings,
    resume: Option<ResumeState>,
}

fn run() -> i32 {
    let pid = std::process::id();
    send(&Response::Hello {
        pid,
        version: env!("CARGO_PKG_VERSION").to_string(),
    });
    log(&format!(
        "hello pid={pid} version={}",
        env!("CARGO_PKG_VERSION")
    ));

    let stdin = std::io::stdin();
    let mut input = BufReader::with_capacity(256 * 1024, stdin.lock());

    let start = match read_frame::<_, Request>(&mut input) {
        Ok(Frame::Control(Request::Start {
            protocol,
            device,
            model_chain,
            max_memory,
            cache_dir,
            settings,
            resume,
        })) => {
            if protocol != PROTOCOL_VERSION {
                return fail(
                    ErrorKind::Input,
                    format!(
                        "protocol version mismatch: the element speaks {protocol}, this worker \
                         ({}) speaks {PROTOCOL_VERSION}; install the element and worker of the \
                         same build",
                        env!("CARGO_PKG_VERSION")
                    ),
                );
            }
            StartRequest {
                device,
                model_chain,
                max_memory,
                cache_dir,
                settings,
                resume,
            }
        }
        Ok(Frame::Control(Request::Shutdown)) | Err(FrameError::Closed) => {
            log("exit before start");
            return 0;
        }
        Ok(other) => {
            return fail(
                ErrorKind::Input,
                format!(
                    "expected Start as the first message, got {}",
                    frame_name(&other)
                ),
            )
        }
        Err(e) => return fail(ErrorKind::Input, format!("reading Start: {e}")),
    };

    let mut setup = match setup(&start) {
        Ok(s) => s,
        Err((kind, msg)) => return fail(kind, msg),
    };
    let report = setup.report.clone();
    send(&Response::Ready {
        device: report.clone(),
        model: setup.model_report.clone(),
        runtime: setup.runtime.display().to_string(),
    });
    let (rss, hwm) = memory::self_rss();
    log(&format!(
        "worker-start pid={pid} device={} openvino_device={} ZE_AFFINITY_MASK={} allowed_cpus={} \
         visible=[{}] full_name={:?} uuid={} pci={} memory_free={} ({}) budget={} model={} \
         need={} path={} runtime={} rss={} hwm={}",
        report.requested,
        report.openvino_device,
        report.ze_affinity_mask.as_deref().unwrap_or("-"),
        device::format_cpu_list(&report.allowed_cpus),
        report.visible_devices.join(","),
        report.full_name,
        report.uuid.as_deref().unwrap_or("-"),
        report.pci_address.as_deref().unwrap_or("-"),
        human(report.memory_free),
        report.memory_source,
        human(setup.model_report.budget),
        setup.model_report.name,
        human(setup.model_report.need),
        setup.model_report.path.display(),
        setup.runtime.display(),
        rss,
        hwm,
    ));

    serve(&mut setup, &start, &mut input)
}

fn frame_name(f: &Frame<Request>) -> &'static str {
    match f {
        Frame::Audio(_) => "audio",
        Frame::Control(Request::Start { .. }) => "Start",
        Frame::Control(Request::Drain) => "Drain",
        Frame::Control(Request::Flush) => "Flush",
        Frame::Control(Request::Shutdown) => "Shutdown",
    }
}

// ---------------------------------------------------------------------------------------------
// Start: device, pinning, runtime, verification, memory, model chain.

/// A chain entry that exists, with its need.
#[derive(Clone, Debug)]
struct Candidate {
    name: String,
    path: PathBuf,
    need: u64,
    need_source: String,
}

struct Setup {
    report: DeviceReport,
    model_report: ModelReport,
    runtime: PathBuf,
    model: Option<WhisperModel>,
    /// Candidates after the loaded one that fit the budget: where a memory failure moves to.
    rest: Vec<Candidate>,
    engine_cfg: EngineConfig,
}

fn setup(start: &StartRequest) -> Result<Setup, Failure> {
    let spec = DeviceSpec::parse(&start.device).map_err(|e| (ErrorKind::Device, e.0))?;
    let placement = spec.placement();

    // Pinning, before OpenVINO is loaded (its thread pools inherit the mask). The element
    // already applied it before exec; this is belt and braces.
    let mut cpu_problem: Option<String> = None;
    if let Some(cpus) = &placement.cpus {
        let online = device::machine_online_cpus();
        match device::check_cpus_exist(cpus, &online) {
            Err(e) => cpu_problem = Some(e.0),
            Ok(()) => {
                if let Err(e) = affinity::set_current_affinity(cpus) {
                    cpu_problem = Some(format!(
                        "sched_setaffinity({}) failed: {e}",
                        device::format_cpu_list(cpus)
                    ));
                }
            }
        }
    }
    if let Some(mask) = &placement.ze_affinity_mask {
        match std::env::var("ZE_AFFINITY_MASK") {
            Ok(v) if v == *mask => {}
            Ok(v) => {
                return Err((
                    ErrorKind::Device,
                    format!(
                        "device {spec} needs ZE_AFFINITY_MASK={mask} but the worker was started \
                         with ZE_AFFINITY_MASK={v}"
                    ),
                ))
            }
            // Still single-threaded and before any Level Zero / OpenCL initialisation.
            Err(_) => std::env::set_var("ZE_AFFINITY_MASK", mask),
        }
    }

    let runtime =
        whisper_engine::load_runtime().map_err(|e| (ErrorKind::Runtime, format!("{e:#}")))?;
    log(&format!("runtime path={}", runtime.display()));
    let core =
        openvino::Core::new().map_err(|e| (ErrorKind::Runtime, format!("OpenVINO core: {e}")))?;
    let visible: Vec<String> = core
        .available_devices()
        .map_err(|e| {
            (
                ErrorKind::Runtime,
                format!("OpenVINO available_devices: {e}"),
            )
        })?
        .iter()
        .map(|d| d.as_ref().to_string())
        .collect();
    let gpus: Vec<&String> = visible.iter().filter(|d| d.starts_with("GPU")).collect();
    let allowed_cpus = affinity::current_affinity().unwrap_or_default();
    let ze_mask = std::env::var("ZE_AFFINITY_MASK").ok();
    let listing = || {
        let drm = device::machine_intel_gpus();
        format!(
            "devices that exist: OpenVINO sees [{}]{}; CPUs online {}; Intel GPUs on this \
             machine (DRM): {}",
            visible.join(", "),
            ze_mask
                .as_ref()
                .map(|m| format!(" (with ZE_AFFINITY_MASK={m})"))
                .unwrap_or_default(),
            device::format_cpu_list(&device::machine_online_cpus()),
            if drm.is_empty() {
                "none".to_string()
            } else {
                drm.iter()
                    .enumerate()
                    .map(|(i, g)| format!("GPU.{i}={} {} {}", g.card, g.pci_address, g.device_id))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )
    };

    // Verification of what the worker really got.
    match &spec {
        DeviceSpec::CpuSet(cpus) => {
            if let Some(p) = cpu_problem {
                return Err((
                    ErrorKind::Device,
                    format!("device {spec}: {p}; {}", listing()),
                ));
            }
            if &allowed_cpus != cpus {
                return Err((
                    ErrorKind::Device,
                    format!(
                        "device {spec}: the worker may run on CPUs {} instead of {} (a cgroup \
                         cpuset or the parent's mask restricts it); {}",
                        device::format_cpu_list(&allowed_cpus),
                        device::format_cpu_list(cpus),
                        listing()
                    ),
                ));
            }
            let status = affinity::proc_cpus_allowed_list("self").unwrap_or_default();
            if device::parse_cpu_list(&status).ok().as_ref() != Some(cpus) {
                log(&format!(
                    "warning /proc/self/status Cpus_allowed_list={status} differs from the \
                     thread mask {}",
                    device::format_cpu_list(cpus)
                ));
            }
        }
        DeviceSpec::Cpu => {}
        DeviceSpec::GpuIndex(_) | DeviceSpec::Gpu => {
            if gpus.is_empty() {
                return Err((
                    ErrorKind::Device,
                    format!("device {spec}: OpenVINO sees no GPU; {}", listing()),
                ));
            }
            if matches!(spec, DeviceSpec::GpuIndex(_)) && gpus.len() != 1 {
                return Err((
                    ErrorKind::Device,
                    format!(
                        "device {spec}: expected exactly one GPU to be visible with \
                         ZE_AFFINITY_MASK={}, OpenVINO sees [{}]",
                        ze_mask.as_deref().unwrap_or("(unset)"),
                        visible.join(", ")
                    ),
                ));
            }
        }
        DeviceSpec::Auto => {}
    }
    if spec.is_cpu() && !visible.iter().any(|d| d == "CPU") {
        return Err((
            ErrorKind::Device,
            format!("device {spec}: OpenVINO sees no CPU device; {}", listing()),
        ));
    }

    let ovdev = openvino::DeviceType::from(placement.openvino_device.as_str());
    let prop = |key: &'static str| -> Option<String> {
        core.get_property(&ovdev, &openvino::PropertyKey::Other(key.into()))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let full_name = prop("FULL_DEVICE_NAME").unwrap_or_default();
    let (uuid, pci_address) = if spec.is_gpu() {
        let raw = prop("DEVICE_PCI_INFO");
        let pci = raw.as_deref().and_then(pci_from_ov);
        if raw.is_some() && pci.is_none() {
            log(&format!(
                "warning DEVICE_PCI_INFO {raw:?} not understood; no PCI address reported"
            ));
        }
        (prop("DEVICE_UUID"), pci)
    } else {
        (None, None)
    };

    // Memory on the device.
    let host = memory::host_free_memory()
        .map_err(|e| (ErrorKind::Internal, format!("reading /proc/meminfo: {e}")))?;
    let (memory_free, memory_source) = if spec.is_gpu() {
        // 1. Level Zero Sysman: free device-local memory of this card (by PCI address).
        // 2. OpenVINO's GPU_DEVICE_TOTAL_MEM_SIZE: the card's total (OpenVINO does not report
        //    what is used; one worker per card is the design, so the total is what this worker
        //    may use).
        // The host side (IR read, compile) must fit too: the smaller of device and host wins.
        let l0 = arcwhisper_worker::levelzero::device_memory(pci_address.as_deref());
        let ov_total = prop("GPU_DEVICE_TOTAL_MEM_SIZE").and_then(|s| s.parse::<u64>().ok());
        let (dev_free, dev_src) = match (&l0, ov_total) {
            (Ok(m), _) => (
                Some(m.free),
                format!(
                    "level-zero zesMemoryGetState free of {} at {}",
                    m.size, m.pci_address
                ),
            ),
            (Err(e), Some(total)) => (
                Some(total),
                format!(
                    "GPU_DEVICE_TOTAL_MEM_SIZE (total; used memory not known: level-zero: {e})"
                ),
            ),
            (Err(e), None) => (
                None,
                format!("GPU_DEVICE_TOTAL_MEM_SIZE unavailable; level-zero: {e}"),
            ),
        };
        match dev_free {
            Some(f) if f <= host.free => (f, dev_src),
            Some(_) => (
                host.free,
                format!("host {} (below the GPU's: {dev_src})", host.source),
            ),
            None => (host.free, format!("host {} ({dev_src})", host.source)),
        }
    } else {
        (host.free, host.source.clone())
    };
    drop(core);

    let report = DeviceReport {
        requested: start.device.clone(),
        openvino_device: placement.openvino_device.clone(),
        visible_devices: visible.clone(),
        full_name,
        uuid,
        pci_address,
        ze_affinity_mask: ze_mask.clone(),
        allowed_cpus: allowed_cpus.clone(),
        memory_free,
        memory_source: memory_source.clone(),
    };
    log(&format!(
        "device requested={} openvino={} visible=[{}] ZE_AFFINITY_MASK={} allowed_cpus={} \
         memory_free={memory_free} source={memory_source:?}",
        start.device,
        placement.openvino_device,
        visible.join(","),
        ze_mask.as_deref().unwrap_or("-"),
        device::format_cpu_list(&allowed_cpus),
    ));

    // Model chain.
    let (budget, budget_label) = if start.max_memory > 0 && start.max_memory < memory_free {
        (
            start.max_memory,
            format!("max-memory {}", human(start.max_memory)),
        )
    } else {
        (
            memory_free,
            format!("free memory {} ({memory_source})", human(memory_free)),
        )
    };
    let kind = if spec.is_gpu() {
        DeviceKind::Gpu
    } else {
        DeviceKind::Cpu
    };
    let dirs = models::search_dirs();
    let mut skipped: Vec<(String, String)> = Vec::new();
    let mut fitting: Vec<Candidate> = Vec::new();
    let mut too_big: Vec<Candidate> = Vec::new();
    if start.model_chain.is_empty() {
        return Err((ErrorKind::Model, "the model chain is empty".into()));
    }
    for entry in &start.model_chain {
        match models::resolve(entry, &dirs) {
            Err(why) => {
                log(&format!("model-skip entry={entry} reason={why:?}"));
                skipped.push((entry.clone(), why));
            }
            Ok(found) => {
                let (need, need_source) = models::estimate_need(&found.path, kind);
                let c = Candidate {
                    name: found.name,
                    path: found.path,
                    need,
                    need_source,
                };
                log(&format!(
                    "model-candidate entry={entry} name={} path={} need={} ({}) budget={budget}",
                    c.name,
                    c.path.display(),
                    c.need,
                    c.need_source
                ));
                if need <= budget {
                    fitting.push(c);
                } else {
                    skipped.push((
                        c.name.clone(),
                        format!(
                            "{budget_label} is below {}'s need of {}",
                            c.name,
                            human(need)
                        ),
                    ));
                    too_big.push(c);
                }
            }
        }
    }
    if fitting.is_empty() && too_big.is_empty() {
        return Err((
            ErrorKind::Model,
            format!(
                "none of the models [{}] is installed; searched: {}; {}. Run tools/setup.sh to \
                 convert tiny.en and base, or set ARCWHISPER_MODEL_DIR",
                start.model_chain.join(", "),
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                skipped
                    .iter()
                    .map(|(_, w)| w.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ));
    }
    let memory_error = |extra: &str| -> Failure {
        (
            ErrorKind::Memory,
            format!(
                "no model of the chain fits: budget {} ({}{}); needs: {}{}",
                human(budget),
                budget_label,
                if start.max_memory > 0 && budget == start.max_memory {
                    format!(", free {}", human(memory_free))
                } else {
                    String::new()
                },
                too_big
                    .iter()
                    .chain(fitting.iter())
                    .map(|c| format!("{} {}", c.name, human(c.need)))
                    .collect::<Vec<_>>()
                    .join(", "),
                extra
            ),
        )
    };
    if fitting.is_empty() {
        return Err(memory_error(""));
    }

    let engine_cfg = engine_config(&placement.openvino_device, start, &spec);
    let mut queue: std::collections::VecDeque<Candidate> = fitting.clone().into();
    let mut load_failures = Vec::new();
    while let Some(c) = queue.pop_front() {
        let t0 = std::time::Instant::now();
        let (rss0, _) = memory::self_rss();
        match WhisperModel::load(&c.path, &engine_cfg) {
            Ok(model) => {
                let (rss1, hwm1) = memory::self_rss();
                log(&format!(
                    "model-load name={} path={} need={} seconds={:.2} rss_before={rss0} \
                     rss_after={rss1} hwm={hwm1}",
                    c.name,
                    c.path.display(),
                    c.need,
                    t0.elapsed().as_secs_f64()
                ));
                if !skipped.is_empty() {
                    let msg = format!(
                        "{}: loaded {} (need {})",
                        skipped
                            .iter()
                            .map(|(_, w)| w.as_str())
                            .collect::<Vec<_>>()
                            .join("; "),
                        c.name,
                        human(c.need)
                    );
                    log(&format!("warning {msg}"));
                    send(&Response::Warning { message: msg });
                }
                return Ok(Setup {
                    report,
                    model_report: ModelReport {
                        name: c.name.clone(),
                        path: c.path.clone(),
                        need: c.need,
                        budget,
                        skipped,
                    },
                    runtime,
                    model: Some(model),
                    rest: queue.into_iter().collect(),
                    engine_cfg,
                });
            }
            Err(e) => {
                let msg = format!("{e:#}");
                if is_memory_error(&msg) {
                    log(&format!("model-load-oom name={} error={msg:?}", c.name));
                    skipped.push((
                        c.name.clone(),
                        format!("{} ran out of memory loading: {msg}", c.name),
                    ));
                    load_failures.push(format!("{}: {msg}", c.name));
                    continue;
                }
                return Err((
                    ErrorKind::Model,
                    format!(
                        "cannot load model {} from {}: {msg}",
                        c.name,
                        c.path.display()
                    ),
                ));
            }
        }
    }
    Err(memory_error(&format!(
        "; out of memory while loading: {}",
        load_failures.join("; ")
    )))
}

/// OpenVINO prints `DEVICE_PCI_INFO` as `{domain: 0 bus: 3 device: 0x0 function: 0}` (the exact
/// punctuation varies by version); turn it into `0000:03:00.0`. `None` when the four numbers
/// are not all there (the element then skips its PCI check rather than compare garbage).
fn pci_from_ov(s: &str) -> Option<String> {
    let num = |key: &str| -> Option<u32> {
        let i = s.find(key)? + key.len();
        let rest = s[i..].trim_start_matches([':', ' ', '=']);
        let tok: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        match tok.strip_prefix("0x") {
            Some(h) => u32::from_str_radix(h, 16).ok(),
            None => tok.parse().ok(),
        }
    };
    match (num("domain"), num("bus"), num("device"), num("function")) {
        (Some(d), Some(b), Some(v), Some(f)) => Some(format!("{d:04x}:{b:02x}:{v:02x}.{f:x}")),
        _ => None,
    }
}

fn engine_config(openvino_device: &str, start: &StartRequest, spec: &DeviceSpec) -> EngineConfig {
    let cache_dir = start
        .cache_dir
        .clone()
        .or_else(|| models::arcwhisper_home().map(|h| h.join("cache")));
    EngineConfig {
        device: openvino_device.to_string(),
        cache_dir,
        threads: match spec {
            DeviceSpec::CpuSet(c) => Some(c.len()),
            _ => None,
        },
    }
}

/// Whether an OpenVINO/engine error message is about memory (then the chain moves down).
fn is_memory_error(msg: &str) -> bool {
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

#[allow(clippy::field_reassign_with_default)]
fn decode_options(s: &DecodeSettings) -> DecodeOptions {
    let mut o = DecodeOptions::default();
    o.language = s.language.clone().filter(|l| !l.is_empty() && l != "auto");
    o.task = match s.task {
        worker_protocol::Task::Transcribe => whisper_engine::Task::Transcribe,
        worker_protocol::Task::Translate => whisper_engine::Task::Translate,
    };
    if s.initial_prompt.is_some() {
        o.initial_prompt = s.initial_prompt.clone();
    }
    if let Some(v) = s.no_speech_threshold {
        o.no_speech_threshold = Some(v);
    }
    if let Some(v) = s.log_prob_threshold {
        o.log_prob_threshold = Some(v);
    }
    if let Some(v) = s.compression_ratio_threshold {
        o.compression_ratio_threshold = Some(v);
    }
    if let Some(v) = s.condition_on_previous_text {
        o.condition_on_previous_text = v;
    }
    if let Some(v) = &s.temperatures {
        if !v.is_empty() {
            o.temperatures = v.clone();
        }
    }
    if let Some(v) = s.seed {
        o.seed = v;
    }
    o.vad = s.vad.as_ref().map(|v| {
        let d = whisper_engine::VadOptions::default();
        whisper_engine::VadOptions {
            threshold: v.threshold.unwrap_or(d.threshold),
            min_silence_ms: v.min_silence_ms.unwrap_or(d.min_silence_ms),
            speech_pad_ms: v.speech_pad_ms.unwrap_or(d.speech_pad_ms),
            min_speech_ms: v.min_speech_ms.unwrap_or(d.min_speech_ms),
            ..d
        }
    });
    o
}

// ---------------------------------------------------------------------------------------------
// Main loop.

fn to_engine_state(s: &ResumeState) -> whisper_engine::StreamState {
    whisper_engine::StreamState {
        seek_samples: s.seek_samples,
        prompt_tokens: s.prompt_tokens.clone(),
        language: s.language.clone(),
        // Written by this worker's engine; unreadable only if the element changed it.
        vad: s.vad.clone().and_then(|v| serde_json::from_value(v).ok()),
    }
}

fn from_engine_state(s: &whisper_engine::StreamState) -> ResumeState {
    ResumeState {
        seek_samples: s.seek_samples,
        prompt_tokens: s.prompt_tokens.clone(),
        language: s.language.clone(),
        vad: s.vad.as_ref().and_then(|v| serde_json::to_value(v).ok()),
    }
}

fn to_msg(s: &whisper_engine::Segment) -> SegmentMsg {
    SegmentMsg {
        start: s.start,
        end: s.end,
        text: s.text.clone(),
        tokens: s.tokens.clone(),
        avg_logprob: s.avg_logprob,
        no_speech_prob: s.no_speech_prob,
        temperature: s.temperature,
        compression_ratio: s.compression_ratio,
    }
}

/// What the worker keeps of the current stream so that it can be redone on a smaller model
/// after a memory failure: the state last sent to the element and the audio from its seek on.
struct StreamCtx {
    /// The state the current stream started from (`None`: a fresh stream from sample 0), then
    /// the last state sent.
    resume: Option<ResumeState>,
    /// Audio from `resume.seek_samples` (or 0) on, as received.
    pending: Vec<f32>,
    /// Sample index of `pending[0]`.
    base: u64,
    /// A `Drain` was received and is not answered yet (redone after a downgrade).
    draining: bool,
    /// `Segments` messages sent that carried decoded windows (for the crash-test hook).
    windows_sent: u64,
    die_after: Option<u64>,
    /// Test hook: fail one push "out of memory" once this many windows were sent.
    fake_oom_after: Option<u64>,
}

impl StreamCtx {
    fn reset(&mut self) {
        self.resume = None;
        self.pending.clear();
        self.base = 0;
        self.draining = false;
    }

    /// Records a state sent to the element: audio before its seek point is no longer needed.
    fn advance(&mut self, st: &ResumeState) {
        if st.seek_samples > self.base {
            let drop_n = ((st.seek_samples - self.base) as usize).min(self.pending.len());
            self.pending.drain(..drop_n);
            self.base = st.seek_samples;
        }
        self.resume = Some(st.clone());
    }
}

enum Outcome {
    Exit(i32),
    /// Out of memory while decoding: move down the chain and redo the pending audio.
    Downgrade(String),
}

/// One second of audio per `push`, so that (nearly) every decoded window is reported on its own.
const PUSH_CHUNK: usize = 16_000;

fn serve<R: std::io::Read>(setup: &mut Setup, start: &StartRequest, input: &mut R) -> i32 {
    let opts = decode_options(&start.settings);
    let die_after = std::env::var(arcwhisper_worker::DIE_AFTER_WINDOWS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = die_after {
        log(&format!("test-hook die_after_windows={n}"));
    }
    let mut ctx = StreamCtx {
        resume: start.resume.clone(),
        base: start.resume.as_ref().map_or(0, |r| r.seek_samples),
        pending: Vec::new(),
        draining: false,
        windows_sent: 0,
        die_after,
        fake_oom_after: std::env::var(arcwhisper_worker::FAKE_OOM_AFTER_WINDOWS_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok()),
    };
    loop {
        let model = setup.model.as_mut().expect("a model is loaded");
        match serve_model(model, &opts, &mut ctx, input) {
            Outcome::Exit(code) => return code,
            Outcome::Downgrade(msg) => {
                let from = setup.model_report.name.clone();
                log(&format!("decode-oom model={from} error={msg:?}"));
                loop {
                    let Some(next) = (!setup.rest.is_empty()).then(|| setup.rest.remove(0)) else {
                        return fail(
                            ErrorKind::Memory,
                            format!(
                                "{from} ran out of memory while decoding ({msg}) and no smaller \
                                 model of the chain is left"
                            ),
                        );
                    };
                    // Free the old model before compiling the next one.
                    setup.model = None;
                    match WhisperModel::load(&next.path, &setup.engine_cfg) {
                        Ok(m) => {
                            setup.model = Some(m);
                            setup.model_report.name = next.name.clone();
                            setup.model_report.path = next.path.clone();
                            setup.model_report.need = next.need;
                            let w = format!(
                                "{from} ran out of memory while decoding ({msg}): moved down to \
                                 {} (need {}) and redid the audio from sample {}",
                                next.name,
                                human(next.need),
                                ctx.base
                            );
                            log(&format!("warning {w}"));
                            send(&Response::Warning { message: w });
                            break;
                        }
                        Err(e) => {
                            let m = format!("{e:#}");
                            if !is_memory_error(&m) {
                                return fail(
                                    ErrorKind::Model,
                                    format!(
                                        "cannot load model {} from {}: {m}",
                                        next.name,
                                        next.path.display()
                                    ),
                                );
                            }
                            log(&format!("model-load-oom name={} error={m:?}", next.name));
                        }
                    }
                }
            }
        }
    }
}

fn serve_model<R: std::io::Read>(
    model: &mut WhisperModel,
    opts: &DecodeOptions,
    ctx: &mut StreamCtx,
    input: &mut R,
) -> Outcome {
    loop {
        // One stream (until Drain / Flush).
        let mut stream = model.stream(opts.clone(), ctx.resume.as_ref().map(to_engine_state));
        let mut last = stream.state();
        // After a downgrade: redo what the element has not got yet.
        if !ctx.pending.is_empty() {
            let replay = ctx.pending.clone();
            log(&format!(
                "replay samples={} from={}",
                replay.len(),
                ctx.base
            ));
            for chunk in replay.chunks(PUSH_CHUNK) {
                if let Err(o) = push(&mut stream, chunk, ctx, &mut last, false) {
                    return o;
                }
            }
        }
        if ctx.draining {
            if let Err(o) = finish(&mut stream, ctx) {
                return o;
            }
            continue;
        }
        loop {
            match read_frame::<_, Request>(input) {
                Ok(Frame::Audio(samples)) => {
                    if let Some(bad) = samples.iter().position(|s| !s.is_finite()) {
                        return Outcome::Exit(fail(
                            ErrorKind::Input,
                            format!("audio sample {bad} of a frame is not finite"),
                        ));
                    }
                    for chunk in samples.chunks(PUSH_CHUNK) {
                        if let Err(o) = push(&mut stream, chunk, ctx, &mut last, true) {
                            return o;
                        }
                    }
                }
                Ok(Frame::Control(Request::Drain)) => {
                    log("drain");
                    ctx.draining = true;
                    if let Err(o) = finish(&mut stream, ctx) {
                        return o;
                    }
                    break;
                }
                Ok(Frame::Control(Request::Flush)) => {
                    log("flush");
                    ctx.reset();
                    send(&Response::Flushed);
                    break;
                }
                Ok(Frame::Control(Request::Shutdown)) => {
                    log("shutdown");
                    return Outcome::Exit(0);
                }
                Ok(Frame::Control(Request::Start { .. })) => {
                    return Outcome::Exit(fail(
                        ErrorKind::Input,
                        "Start received twice: start a new worker instead".into(),
                    ));
                }
                Err(FrameError::Closed) => {
                    log("stdin-closed exit");
                    return Outcome::Exit(0);
                }
                Err(e) => {
                    return Outcome::Exit(fail(
                        ErrorKind::Input,
                        format!("bad frame from the element: {e}"),
                    ));
                }
            }
        }
    }
}

/// Pushes audio; sends `Segments` when a window was decoded (segments or a new state).
fn push(
    stream: &mut whisper_engine::Stream<'_>,
    chunk: &[f32],
    ctx: &mut StreamCtx,
    last: &mut whisper_engine::StreamState,
    record: bool,
) -> Result<(), Outcome> {
    if record {
        ctx.pending.extend_from_slice(chunk);
    }
    if ctx.fake_oom_after.is_some_and(|n| ctx.windows_sent >= n) {
        ctx.fake_oom_after = None;
        log("test-hook fake out-of-memory");
        return Err(decode_failure("test hook: out of memory (fake)".into()));
    }
    match stream.push(chunk) {
        Ok(segs) => {
            let st = stream.state();
            let advanced = st.seek_samples != last.seek_samples
                || st.prompt_tokens != last.prompt_tokens
                || st.language != last.language;
            if !segs.is_empty() || advanced {
                *last = st.clone();
                emit(&segs, &st, ctx);
            }
            Ok(())
        }
        Err(e) => Err(decode_failure(format!("{e:#}"))),
    }
}

fn finish(stream: &mut whisper_engine::Stream<'_>, ctx: &mut StreamCtx) -> Result<(), Outcome> {
    match stream.finish() {
        Ok(segs) => {
            let st = stream.state();
            emit(&segs, &st, ctx);
            send(&Response::Drained);
            log("drained");
            ctx.reset();
            Ok(())
        }
        Err(e) => Err(decode_failure(format!("{e:#}"))),
    }
}

fn decode_failure(msg: String) -> Outcome {
    if is_memory_error(&msg) {
        Outcome::Downgrade(msg)
    } else {
        Outcome::Exit(fail(ErrorKind::Internal, format!("decoding failed: {msg}")))
    }
}

fn emit(segs: &[whisper_engine::Segment], st: &whisper_engine::StreamState, ctx: &mut StreamCtx) {
    let state = from_engine_state(st);
    send(&Response::Segments {
        segments: segs.iter().map(to_msg).collect(),
        state: state.clone(),
    });
    ctx.advance(&state);
    ctx.windows_sent += 1;
    let (rss, hwm) = memory::self_rss();
    log(&format!(
        "segments n={} seek={} window={} rss={rss} hwm={hwm}{}",
        segs.len(),
        state.seek_samples,
        ctx.windows_sent,
        segs.first()
            .map(|s| format!(" first={:?}", s.text))
            .unwrap_or_default()
    ));
    if ctx.die_after == Some(ctx.windows_sent) {
        log("test-hook abort");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn pci_info_parsing() {
        assert_eq!(
            pci_from_ov("{domain: 0 bus: 3 device: 0x0 function: 0}").as_deref(),
            Some("0000:03:00.0")
        );
        assert_eq!(
            pci_from_ov("{domain: 0, bus: 28, device: 0x1f, function: 1}").as_deref(),
            Some("0000:1c:1f.1")
        );
        assert_eq!(pci_from_ov("weird"), None);
    }
}
