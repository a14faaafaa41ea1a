//! The request loop after `Ready`: audio in (read ahead on the intake thread, which also feeds
//! the VAD mirror), `Segments` out, `Drain` / `Flush` / `Shutdown`;
//! a stream resumed from the element's `ResumeState`; and a memory failure while decoding
//! moves down the chain and redoes the audio the element has no text for yet.
//!
//! Test hooks (environment, tests only): `ARCWHISPER_WORKER_DIE_AFTER_WINDOWS=N` aborts right
//! after N windows were sent; `ARCWHISPER_WORKER_FAKE_OOM_AFTER_WINDOWS=N` fails the next push
//! once "out of memory" after N windows.

use super::chain::{self, Loaded};
use super::convert::{decode_options, from_engine_state, segment_msg, to_engine_state};
use super::intake::{Intake, Requests};
use super::output::{fail, log, send, warn};
use arcwhisper_worker::memory::{self, human};
use std::io::Read;
use whisper_engine::{DecodeOptions, EngineConfig, Stream, StreamState, WhisperModel};
use worker_protocol::{
    DecodeSettings, ErrorKind, Frame, ModelReport, Request, Response, ResumeState,
};

/// One second of audio per `push`, so that (nearly) every decoded window is reported on its own.
const PUSH_CHUNK: usize = 16_000;

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
    /// Streams ended so far (`Drain`, `Flush`): the current stream's number for the VAD mirror.
    generation: u64,
}

impl StreamCtx {
    fn new(resume: Option<ResumeState>) -> Self {
        let hook = |name: &str| {
            let v = std::env::var(name).ok()?.trim().parse::<u64>().ok()?;
            log(&format!("test-hook {name}={v}"));
            Some(v)
        };
        StreamCtx {
            base: resume.as_ref().map_or(0, |r| r.seek_samples),
            resume,
            pending: Vec::new(),
            draining: false,
            windows_sent: 0,
            die_after: hook(arcwhisper_worker::DIE_AFTER_WINDOWS_ENV),
            fake_oom_after: hook(arcwhisper_worker::FAKE_OOM_AFTER_WINDOWS_ENV),
            generation: 0,
        }
    }

    fn reset(&mut self) {
        self.resume = None;
        self.pending.clear();
        self.base = 0;
        self.draining = false;
        self.generation += 1;
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

/// Serves requests until `Shutdown`, EOF or a failure; returns the exit code.
pub fn serve<R: Read + Send + 'static>(
    loaded: Loaded,
    cfg: &EngineConfig,
    settings: &DecodeSettings,
    resume: Option<ResumeState>,
    input: R,
) -> i32 {
    let opts = decode_options(settings, &cfg.device);
    let mirror = (opts.vad.is_some() && mirror_wanted())
        .then(|| speech_mirror(resume.as_ref()))
        .flatten();
    let requests = match Requests::spawn(input, mirror) {
        Ok(r) => r,
        Err(e) => {
            return fail((
                ErrorKind::Internal,
                format!("cannot start the reader thread: {e}"),
            ))
        }
    };
    let mut ctx = StreamCtx::new(resume);
    let Loaded {
        model,
        mut report,
        mut rest,
    } = loaded;
    let mut model = Some(model);
    loop {
        let m = model.as_mut().expect("a model is loaded");
        match serve_model(m, &opts, &mut ctx, &requests) {
            Outcome::Exit(code) => return code,
            Outcome::Downgrade(msg) => {
                log(&format!("decode-oom model={} error={msg:?}", report.name));
                // Free the old model before compiling the next one.
                drop(model.take());
                let (mut skipped, mut oom) = (Vec::new(), Vec::new());
                let next = chain::load_first(&mut rest, cfg, settings, &mut skipped, &mut oom);
                match moved_down(next, &mut report, &msg, ctx.base) {
                    Ok(m) => model = Some(m),
                    Err(code) => return code,
                }
            }
        }
    }
}

/// After a memory failure of `report.name` while decoding: the next model of the chain (and a
/// warning saying so), or the exit code when none is left.
fn moved_down(
    next: Result<Option<(WhisperModel, chain::Candidate)>, super::output::Failure>,
    report: &mut ModelReport,
    msg: &str,
    from_sample: u64,
) -> Result<WhisperModel, i32> {
    let from = report.name.clone();
    match next {
        Ok(Some((model, c))) => {
            warn(format!(
                "{from} ran out of memory while decoding ({msg}): moved down to {} (need {}) \
                 and redid the audio from sample {from_sample}",
                c.name,
                human(c.need),
            ));
            report.name = c.name;
            report.path = c.path;
            report.need = c.need;
            report.precision = chain::precision_report(model.precision());
            Ok(model)
        }
        Ok(None) => Err(fail((
            ErrorKind::Memory,
            format!(
                "{from} ran out of memory while decoding ({msg}) and no smaller model of the \
                 chain is left"
            ),
        ))),
        Err(f) => Err(fail(f)),
    }
}

/// `ARCWHISPER_VAD_AHEAD=off` (benchmarks): the streams run the VAD between windows.
fn mirror_wanted() -> bool {
    let off = std::env::var(arcwhisper_worker::VAD_AHEAD_ENV).is_ok_and(|v| v.trim() == "off");
    if off {
        log("vad-mirror off (ARCWHISPER_VAD_AHEAD=off)");
    }
    !off
}

/// Speech detection on its own thread for the first stream (`intake.rs`), or `None` (logged):
/// the streams then run it themselves, with the same result.
fn speech_mirror(resume: Option<&ResumeState>) -> Option<whisper_engine::VadMirror> {
    let state = resume.map(to_engine_state);
    match whisper_engine::VadMirror::spawn(state.as_ref()) {
        Ok(m) => Some(m),
        Err(e) => {
            log(&format!("vad-mirror off error={e:?}"));
            None
        }
    }
}

/// Serves with one model until exit or a memory failure (then the caller moves down the chain).
fn serve_model(
    model: &mut WhisperModel,
    opts: &DecodeOptions,
    ctx: &mut StreamCtx,
    requests: &Requests,
) -> Outcome {
    loop {
        // One stream (until Drain / Flush).
        let resume = ctx.resume.as_ref().map(to_engine_state);
        let mut stream = match requests.speech(ctx.generation) {
            Some(ahead) => model.stream_with_speech(opts.clone(), resume, ahead),
            None => model.stream(opts.clone(), resume),
        };
        let mut last = stream.state();
        let served = replay(&mut stream, ctx, &mut last).and_then(|()| {
            if ctx.draining {
                finish(&mut stream, ctx)
            } else {
                one_stream(&mut stream, ctx, &mut last, requests)
            }
        });
        drop(stream);
        if opts.vad.is_some() {
            let st = model.stats();
            log(&format!(
                "vad blocks_ahead={} seconds={:.3}",
                st.vad_blocks_ahead, st.vad_seconds
            ));
        }
        if let Err(o) = served {
            return o;
        }
    }
}

/// After a downgrade: redoes the audio the element has no text for yet.
fn replay(
    stream: &mut Stream<'_>,
    ctx: &mut StreamCtx,
    last: &mut StreamState,
) -> Result<(), Outcome> {
    if ctx.pending.is_empty() {
        return Ok(());
    }
    let replay = ctx.pending.clone();
    log(&format!(
        "replay samples={} from={}",
        replay.len(),
        ctx.base
    ));
    for chunk in replay.chunks(PUSH_CHUNK) {
        push(stream, chunk, ctx, last, false)?;
    }
    Ok(())
}

/// Reads requests into `stream` until it ends (`Drain` answered, `Flush`): `Ok`; or until the
/// worker must stop: `Err`.
fn one_stream(
    stream: &mut Stream<'_>,
    ctx: &mut StreamCtx,
    last: &mut StreamState,
    requests: &Requests,
) -> Result<(), Outcome> {
    let bad_input = |msg: String| Outcome::Exit(fail((ErrorKind::Input, msg)));
    loop {
        match requests.next() {
            Intake::Frame(Frame::Audio(samples)) => {
                if let Some(bad) = samples.iter().position(|s| !s.is_finite()) {
                    return Err(bad_input(format!(
                        "audio sample {bad} of a frame is not finite"
                    )));
                }
                for chunk in samples.chunks(PUSH_CHUNK) {
                    push(stream, chunk, ctx, last, true)?;
                }
            }
            Intake::Frame(Frame::Control(Request::Drain)) => {
                log("drain");
                ctx.draining = true;
                return finish(stream, ctx);
            }
            Intake::Frame(Frame::Control(Request::Flush)) => {
                log("flush");
                ctx.reset();
                send(&Response::Flushed);
                return Ok(());
            }
            Intake::Frame(Frame::Control(Request::Shutdown)) => {
                log("shutdown");
                return Err(Outcome::Exit(0));
            }
            Intake::Frame(Frame::Control(Request::Start { .. })) => {
                return Err(bad_input(
                    "Start received twice: start a new worker instead".into(),
                ));
            }
            Intake::End(Ok(())) => {
                log("stdin-closed exit");
                return Err(Outcome::Exit(0));
            }
            Intake::End(Err(e)) => {
                return Err(bad_input(format!("bad frame from the element: {e}")))
            }
        }
    }
}

/// Pushes audio; sends `Segments` when a window was decoded (segments or a new state).
fn push(
    stream: &mut Stream<'_>,
    chunk: &[f32],
    ctx: &mut StreamCtx,
    last: &mut StreamState,
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

fn finish(stream: &mut Stream<'_>, ctx: &mut StreamCtx) -> Result<(), Outcome> {
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
    if chain::is_memory_error(&msg) {
        Outcome::Downgrade(msg)
    } else {
        Outcome::Exit(fail((
            ErrorKind::Internal,
            format!("decoding failed: {msg}"),
        )))
    }
}

fn emit(segs: &[whisper_engine::Segment], st: &StreamState, ctx: &mut StreamCtx) {
    let state = from_engine_state(st);
    send(&Response::Segments {
        segments: segs.iter().map(segment_msg).collect(),
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
