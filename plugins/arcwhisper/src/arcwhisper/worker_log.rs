// SPDX-License-Identifier: MIT OR Apache-2.0
//! The worker's log (its stderr) in the element's debug category: each line is re-emitted in
//! `arcwhisper` at a level that fits what it says, tagged `arcwhisper-worker[<pid>]:`, so that
//! nothing reaches the terminal unless `GST_DEBUG` asks for it (`GST_DEBUG=arcwhisper:4` shows
//! the start-up facts, `:5` every window, `GST_DEBUG_FILE` puts them in a file).

use gst::glib;

/// Level of one worker log line. The worker writes `arcwhisper-worker[<pid>]: <keyword> ...`;
/// the keyword says what the line is. Anything else on its stderr (a panic message, a library
/// writing to stdout or stderr) is unexpected, so it is a warning.
pub fn level_of(line: &str) -> gst::DebugLevel {
    let Some(rest) = strip_worker_prefix(line) else {
        return gst::DebugLevel::Warning;
    };
    let keyword = rest.split_whitespace().next().unwrap_or("");
    match keyword {
        "error" => gst::DebugLevel::Error,
        "warning" | "model-load-oom" | "decode-oom" => gst::DebugLevel::Warning,
        // Start-up facts and the worker's end.
        "hello" | "runtime" | "device" | "model-candidate" | "model-skip" | "model-load"
        | "worker-start" | "shutdown" | "stdin-closed" | "exit" | "element-gone" | "test-hook" => {
            gst::DebugLevel::Info
        }
        // Per window: how far decoding got, memory figures.
        "segments" => gst::DebugLevel::Debug,
        // Protocol steps.
        "drain" | "drained" | "flush" | "replay" => gst::DebugLevel::Log,
        // Lines added to the worker later: visible at DEBUG until classified here.
        _ => gst::DebugLevel::Debug,
    }
}

/// The text after `arcwhisper-worker[<pid>]: `, if the line has that prefix.
fn strip_worker_prefix(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("arcwhisper-worker[")?;
    let (pid, rest) = rest.split_once("]: ")?;
    pid.bytes().all(|b| b.is_ascii_digit()).then_some(rest)
}

/// Re-emits one line of worker `pid`'s stderr in `cat`, on behalf of `element` while it
/// exists. Lines without the worker's own prefix get it, so every line names its worker.
pub fn relay(cat: gst::DebugCategory, element: &glib::WeakRef<gst::Element>, pid: u32, line: &str) {
    if line.trim().is_empty() {
        return;
    }
    let level = level_of(line);
    let tagged = if strip_worker_prefix(line).is_some() {
        line.to_string()
    } else {
        format!("arcwhisper-worker[{pid}]: (stderr) {line}")
    };
    match element.upgrade() {
        Some(e) => gst::log_with_level!(cat, level, obj = e, "{tagged}"),
        None => gst::log_with_level!(cat, level, "{tagged}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_keyword() {
        let l = |s: &str| level_of(&format!("arcwhisper-worker[42]: {s}"));
        assert_eq!(l("hello pid=42 version=0.1.0"), gst::DebugLevel::Info);
        assert_eq!(l("worker-start pid=42 device=CPU"), gst::DebugLevel::Info);
        assert_eq!(l("model-load name=tiny.en"), gst::DebugLevel::Info);
        assert_eq!(l("segments n=2 seek=176000"), gst::DebugLevel::Debug);
        assert_eq!(l("drained"), gst::DebugLevel::Log);
        assert_eq!(
            l("warning max-memory 500 MB is below base's need"),
            gst::DebugLevel::Warning
        );
        assert_eq!(l("decode-oom model=base"), gst::DebugLevel::Warning);
        assert_eq!(l("error kind=Model message=\"x\""), gst::DebugLevel::Error);
        assert_eq!(l("something-new x=1"), gst::DebugLevel::Debug);
    }

    #[test]
    fn foreign_lines_are_warnings() {
        assert_eq!(
            level_of("thread 'main' panicked at src/main.rs:1:1"),
            gst::DebugLevel::Warning
        );
        assert_eq!(
            level_of("arcwhisper-worker[x]: hello"),
            gst::DebugLevel::Warning
        );
    }
}
