//! The first message: `Start`, read and checked before anything is loaded.

use super::output::{log, Failure};
use std::io::Read;
use std::path::PathBuf;
use worker_protocol::{
    languages, read_frame, DecodeSettings, ErrorKind, Frame, FrameError, Request, ResumeState,
    PROTOCOL_VERSION,
};

/// What the element asked for in `Start`.
pub struct StartRequest {
    pub device: String,
    pub model_chain: Vec<String>,
    pub max_memory: u64,
    pub cache_dir: Option<PathBuf>,
    pub settings: DecodeSettings,
    pub resume: Option<ResumeState>,
}

/// Reads `Start`. `Ok(None)`: the element shut the worker down (or closed the pipe) first.
pub fn read_start<R: Read>(input: &mut R) -> Result<Option<StartRequest>, Failure> {
    match read_frame::<_, Request>(input) {
        Ok(Frame::Control(Request::Start {
            protocol,
            device,
            model_chain,
            max_memory,
            cache_dir,
            settings,
            resume,
        })) => {
            check_protocol(protocol)?;
            check_language(&settings)?;
            Ok(Some(StartRequest {
                device,
                model_chain,
                max_memory,
                cache_dir,
                settings,
                resume,
            }))
        }
        Ok(Frame::Control(Request::Shutdown)) | Err(FrameError::Closed) => {
            log("exit before start");
            Ok(None)
        }
        Ok(other) => Err((
            ErrorKind::Input,
            format!(
                "expected Start as the first message, got {}",
                frame_name(&other)
            ),
        )),
        Err(e) => Err((ErrorKind::Input, format!("reading Start: {e}"))),
    }
}

fn check_protocol(protocol: u32) -> Result<(), Failure> {
    if protocol == PROTOCOL_VERSION {
        return Ok(());
    }
    Err((
        ErrorKind::Input,
        format!(
            "protocol version mismatch: the element speaks {protocol}, this worker ({}) speaks \
             {PROTOCOL_VERSION}; install the element and worker of the same build",
            env!("CARGO_PKG_VERSION")
        ),
    ))
}

/// A language code Whisper does not know is refused before any model is loaded (whether the
/// chosen model knows it is checked with the chain).
pub fn check_language(settings: &DecodeSettings) -> Result<(), Failure> {
    match settings.language.as_deref() {
        Some(l) if !languages::is_auto(l) && languages::code_of(l) != Some(l) => {
            Err((ErrorKind::Input, languages::unknown_language_message(l)))
        }
        _ => Ok(()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with_language(l: Option<&str>) -> DecodeSettings {
        DecodeSettings {
            language: l.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn only_whisper_codes_pass() {
        for ok in [
            None,
            Some(""),
            Some("auto"),
            Some("en"),
            Some("de"),
            Some("yue"),
        ] {
            assert!(check_language(&with_language(ok)).is_ok(), "{ok:?}");
        }
        // The element sends codes: a name or another case is not one.
        for bad in ["xx", "German", "EN"] {
            let (kind, msg) = check_language(&with_language(Some(bad))).unwrap_err();
            assert_eq!(kind, ErrorKind::Input);
            assert!(msg.contains(bad) && msg.contains("de (german)"), "{msg}");
        }
    }
}
