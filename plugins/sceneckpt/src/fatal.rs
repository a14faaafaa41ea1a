// SPDX-License-Identifier: MIT OR Apache-2.0
//! Fatal errors posted from a streaming thread, made impossible to miss.
//!
//! An application that quits its main loop from a bus *sync* handler loses an error posted before
//! its loop runs: `g_main_loop_quit` before `g_main_loop_run` does nothing. gst-launch-1.0 (1.22)
//! does exactly that, and a bin whose child posted an error never completes its preroll (it marks
//! its state change failed), so such a pipeline then waits forever. An element that posts a fatal
//! error from its streaming thread therefore posts it again while nobody has stopped it: after
//! 1 s, then 2 s, 4 s, ... (at most 30 s apart). Each repost says how long the element waited.
//! The wait ends when the element is stopped ([`ErrorRepost::disarm`]).

use gst::glib;
use gst::prelude::*;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const FIRST_REPOST: Duration = Duration::from_secs(1);
const LONGEST_GAP: Duration = Duration::from_secs(30);

/// A fatal error: what the user reads, and the debug text.
#[derive(Clone, Debug)]
pub struct FatalError {
    pub error: glib::Error,
    pub debug: String,
}

impl FatalError {
    pub fn new<T: gst::MessageErrorDomain>(kind: T, message: &str, debug: &str) -> Self {
        FatalError {
            error: glib::Error::new(kind, message),
            debug: debug.to_string(),
        }
    }

    fn post(&self, element: &gst::Element, debug: &str) {
        let msg = gst::message::Error::builder_from_error(self.error.clone())
            .debug(debug)
            .src(element)
            .build();
        let _ = element.post_message(msg);
    }
}

#[derive(Default)]
struct Watch {
    armed: bool,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Posts a fatal error and keeps posting it until the element is stopped.
#[derive(Default)]
pub struct ErrorRepost {
    watch: Arc<(Mutex<Watch>, Condvar)>,
}

impl ErrorRepost {
    /// Post `err` now and again later while the element has not been stopped.
    pub fn post(&self, element: &gst::Element, err: FatalError) {
        err.post(element, &err.debug);
        let mut w = self.watch.0.lock().unwrap();
        if w.armed {
            return;
        }
        w.armed = true;
        let watch = self.watch.clone();
        let weak = element.downgrade();
        let spawned = std::thread::Builder::new()
            .name("sceneckpt-error-repost".into())
            .spawn(move || repost_until_disarmed(&watch, &weak, &err));
        w.thread = spawned.ok();
    }

    /// The element was stopped (the application handled the error): end the reposting.
    pub fn disarm(&self) {
        let thread = {
            let mut w = self.watch.0.lock().unwrap();
            w.armed = false;
            self.watch.1.notify_all();
            w.thread.take()
        };
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

fn repost_until_disarmed(
    watch: &(Mutex<Watch>, Condvar),
    element: &glib::WeakRef<gst::Element>,
    err: &FatalError,
) {
    let mut gap = FIRST_REPOST;
    let mut waited = Duration::ZERO;
    let mut w = watch.0.lock().unwrap();
    loop {
        let (g, timeout) = watch.1.wait_timeout(w, gap).unwrap();
        w = g;
        if !w.armed {
            return;
        }
        if !timeout.timed_out() {
            continue;
        }
        waited += gap;
        let Some(el) = element.upgrade() else { return };
        drop(w);
        let debug = format!(
            "{}\n(posted again: the pipeline was not stopped {} s after this error; \
             an application that quit its main loop before running it misses the first one)",
            err.debug,
            waited.as_secs()
        );
        gst::warning!(gst::CAT_RUST, obj = &el, "{}", debug);
        err.post(&el, &debug);
        drop(el);
        gap = (gap * 2).min(LONGEST_GAP);
        w = watch.0.lock().unwrap();
    }
}
