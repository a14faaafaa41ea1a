// SPDX-License-Identifier: MIT OR Apache-2.0
//! The walk over the listing: which scene to look at next, the done ones skipped, the next
//! free one claimed, those that other pipelines hold noted and looked at once more at the end,
//! those that cannot be worked marked failed before any decoding.

use super::*;

impl SceneCkptSrc {
    /// The next scene index to look at: the listing in order, then once more the scenes found
    /// claimed by others (their claim may have gone stale meanwhile). (index, revisiting).
    fn next_index(state: &mut State) -> Option<(usize, bool)> {
        loop {
            if state.next < state.scenes.len() {
                state.next += 1;
                return Some((state.next - 1, false));
            }
            if let Some(i) = state.revisit.pop_front() {
                return Some((i, true));
            }
            if state.second_pass || state.busy.is_empty() {
                return None;
            }
            state.second_pass = true;
            state.revisit = state.busy.drain(..).collect();
        }
    }

    fn claim_info(&self, s: &Settings, device: &str, scene: &Path) -> ClaimInfo {
        ClaimInfo {
            pid: std::process::id() as i64,
            host: fsutil::hostname(),
            device_label: s.device_label.clone(),
            device: device.to_string(),
            started: fsutil::rfc3339(fsutil::now_unix()),
            scene: fsutil::path_str(scene),
            task: s.task.clone(),
        }
    }

    /// Why a claimed scene cannot be worked on at all, before decoding it.
    fn unworkable(paths: &ScenePaths) -> Option<String> {
        // The events and markers carry paths as UTF-8 strings: a name that is not UTF-8 would
        // be written under another name and redone forever. Say so instead.
        if paths.scene.to_str().is_none()
            || paths.output.to_str().is_none()
            || paths.markers_dir.to_str().is_none()
        {
            return Some("file name is not valid UTF-8: rename it".into());
        }
        let out_name = paths.output.file_name().unwrap_or_default();
        if !names::fits(out_name) {
            return Some(format!(
                "its output name {} is {} bytes, longer than the {} bytes a file name may have: \
                 rename the scene (at most {} bytes before the extension)",
                out_name.to_string_lossy(),
                out_name.len(),
                names::NAME_MAX,
                names::NAME_MAX.saturating_sub(out_name.len() - paths.stem.len()),
            ));
        }
        None
    }

    /// A scene that cannot be started: `.failed` marker with the reason, claim released, a bus
    /// warning; the walk goes on.
    fn fail_unstarted(
        &self,
        state: &State,
        index: usize,
        paths: &ScenePaths,
        claim: Option<Claim>,
        msg: String,
    ) {
        let task = &state.settings.as_ref().unwrap().task;
        gst::warning!(CAT, imp = self, "{}: {}", paths.scene.display(), msg);
        if let Err(e) = markers::write_failed(paths, task, &msg) {
            gst::warning!(CAT, imp = self, "cannot write failed marker: {}", e);
        }
        if let Some(c) = claim {
            c.release();
        }
        self.counters.lock().unwrap().failed += 1;
        gst::element_imp_warning!(
            self,
            gst::ResourceError::NotFound,
            ("scene {} failed: {}", paths.scene.display(), msg)
        );
        self.post_scene_msg(paths, index, "failed", Some(("error", msg)));
        self.post_progress(state, None);
    }

    fn skip_done(&self, state: &State, index: usize, paths: &ScenePaths) {
        self.counters.lock().unwrap().skipped += 1;
        gst::info!(
            CAT,
            imp = self,
            "skipping done scene {}",
            paths.scene.display()
        );
        self.post_scene_msg(paths, index, "skipped", None);
        self.post_progress(state, None);
    }

    /// A scene another live pipeline holds, first pass: logged; looked at again at the end.
    fn note_busy(&self, state: &mut State, index: usize, paths: &ScenePaths, who: &str) {
        gst::info!(
            CAT,
            imp = self,
            "scene {} in progress elsewhere: {}",
            paths.scene.display(),
            who
        );
        self.counters.lock().unwrap().in_progress += 1;
        state.busy.push(index);
        self.post_progress(state, None);
    }

    /// Still held by another live pipeline when looked at again at the end: this run ends
    /// without it, said at the default level (a bus INFO; every pipeline of a shared folder
    /// sees the others' current scenes, which is normal, so not a warning).
    fn note_left_to_other(&self, paths: &ScenePaths, who: &str) {
        let text = format!(
            "scene {} is being worked on by another pipeline ({}): left to it",
            paths.scene.display(),
            who
        );
        gst::info!(CAT, imp = self, "{}", text);
        report::post_info(self.obj().upcast_ref(), &text);
    }

    /// Find and claim the next scene to do. Ok(None) when none is left.
    pub(super) fn claim_next(&self, state: &mut State) -> Result<Option<Claimed>, WalkStop> {
        let s = state.settings.clone().unwrap();
        Self::prune_claims(state);
        loop {
            if self.flushing.load(Ordering::SeqCst) {
                return Err(WalkStop::Flushing);
            }
            let Some((index, revisiting)) = Self::next_index(state) else {
                return Ok(None);
            };
            // A revisited scene no longer counts as in progress elsewhere once we settle it.
            let settle = |this: &Self| {
                if revisiting {
                    let mut c = this.counters.lock().unwrap();
                    c.in_progress = c.in_progress.saturating_sub(1);
                }
            };
            let scene = state.scenes[index].clone();
            let paths = ScenePaths::new(
                &scene,
                &s.task,
                s.markers_dir.as_deref(),
                s.output_dir.as_deref(),
                &s.output_extension,
            );
            match markers::check_done(&paths, &s.task) {
                DoneState::Done(_) => {
                    settle(self);
                    self.skip_done(state, index, &paths);
                    continue;
                }
                DoneState::Invalid(why) => {
                    gst::info!(CAT, imp = self, "redoing {}: {}", scene.display(), why);
                }
                DoneState::Missing => {}
            }
            let mut claim = None;
            if s.claim {
                let info = self.claim_info(&s, &state.device, &scene);
                let stale = Duration::from_secs(s.stale_seconds as u64);
                let beat = liveness::heartbeat_interval(stale, HEARTBEAT);
                match markers::try_claim(&paths.claim, &info, stale, beat) {
                    Ok(ClaimResult::Claimed(c)) => {
                        settle(self);
                        if let Some(why) = &c.took_over {
                            gst::info!(
                                CAT,
                                imp = self,
                                "took over stale claim {} ({})",
                                paths.claim.display(),
                                why
                            );
                        }
                        // Someone may have finished it between our check and our claim.
                        if let DoneState::Done(_) = markers::check_done(&paths, &s.task) {
                            c.release();
                            self.skip_done(state, index, &paths);
                            continue;
                        }
                        claim = Some(c);
                    }
                    Ok(ClaimResult::Busy(who)) => {
                        if revisiting {
                            self.note_left_to_other(&paths, &who);
                        } else {
                            self.note_busy(state, index, &paths, &who);
                        }
                        continue;
                    }
                    Err(e) if folder_wide(&e) => {
                        return Err(WalkStop::Fatal(FatalError::new(
                            gst::ResourceError::OpenWrite,
                            &format!("cannot create claim {}: {}", paths.claim.display(), e),
                            &format!(
                                "no scene can be claimed in {}: free space or make it writable \
                                 (or set markers-dir to a writable folder), then run again",
                                paths.markers_dir.display()
                            ),
                        )));
                    }
                    Err(e) => {
                        settle(self);
                        let msg = format!("cannot create claim {}: {}", paths.claim.display(), e);
                        self.fail_unstarted(state, index, &paths, None, msg);
                        continue;
                    }
                }
                // We hold the claim: temp files of earlier, dead writers of this scene can go.
                markers::remove_stale_temps(&paths.output);
                markers::remove_stale_temps(&paths.done);
            }
            if let Some(why) = Self::unworkable(&paths) {
                self.fail_unstarted(state, index, &paths, claim, why);
                continue;
            }
            return Ok(Some(Claimed {
                index,
                paths,
                claim,
            }));
        }
    }
}
