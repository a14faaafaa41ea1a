//! Speech regions from per-frame speech probabilities, decided incrementally.
//!
//! Pure: no model, no audio. Frames are fed in order with their start sample and probability;
//! a region is returned once it is final (enough silence followed it, it reached the longest
//! region, or the stream ended). Region bounds include the padding. The tracker's state is
//! serialisable, so a resumed stream makes exactly the decisions the interrupted one would.

use crate::vad::FRAME;

const SAMPLE_RATE: u64 = 16_000;

/// Speech-detection settings. The defaults aim at subtitles of home video: speech now and
/// then over room noise, where the time a cue appears matters to a fraction of a second.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct VadOptions {
    /// A frame whose speech probability reaches this starts (or continues) speech. Silero's
    /// own calibration point; room noise stays well below it.
    pub threshold: f32,
    /// Speech ends only below this (hysteresis); default `threshold - 0.15`.
    pub neg_threshold: Option<f32>,
    /// Shorter speech is dropped: door bangs and clicks give Silero a few high frames, while
    /// the shortest words ("yes", "no") last 250 ms and more.
    pub min_speech_ms: u32,
    /// Silence that ends a region; shorter pauses stay in it, as heard. 2 s (faster-whisper's
    /// default too): pauses between phrases and turns of a conversation (up to 1.5-2 s) stay
    /// whole, because cutting them clips the edges of words Silero scores low (a final "s",
    /// band-limited audio) and Whisper then drops them; longer silences are cut out, so
    /// Whisper's timestamps never bridge one (the cause of cues seconds early).
    pub min_silence_ms: u32,
    /// Audio kept before and after each region. 400 ms (faster-whisper's default too):
    /// Silero flags soft onsets (an unvoiced "p", "s", "h") several 32 ms frames late, and
    /// Whisper misreads or drops a word at the very edge of its audio (seen with base at
    /// 200 ms; home-video WER 9.6 % at 300 ms, 8.5 % at 400 ms). Cues do not start in the
    /// padding: a region's first word starts at the detected onset at the earliest.
    pub speech_pad_ms: u32,
    /// Regions closer than this are laid end to end in one window (up to 30 s of audio),
    /// farther ones get windows of their own. Default: any gap, as faster-whisper packs its
    /// speech chunks. Whisper then hears neighbouring speech as context (on home-video tracks:
    /// WER 13.6 % -> 9.6 % with base, words written on loud non-speech bursts 25 -> 0, since a
    /// burst next to speech is heard as what it is); times still map back region by region and
    /// no word straddles a removed silence (see `timeline.rs`).
    pub merge_gap_ms: u32,
    /// What Whisper leaves unfinished at the end of a window (its last segment had no closing
    /// time stamp: it goes on in the audio after) starts the next window, with the speech that
    /// follows, instead of being decoded alone: as faster-whisper's seek runs on over its
    /// speech chunks. Home video: 10-25 % fewer windows. Batched windows never carry.
    pub carry_unfinished: bool,
    /// Decode speech windows with Whisper's timestamp tokens. Off by default: a speech window
    /// holds whole regions that end in silence and its words are timed by the alignment heads,
    /// so the tokens only cost time (a pair per segment) and, where Whisper ended a window on an
    /// unfinished segment, a second decode of its end; without them every window is decoded
    /// once, as faster-whisper's batched pipeline does. Home video, AVX2 EPYC (BENCHMARKS.md):
    /// 8-20 % less time, WER lower on average. Where words cannot be timed (word timing off, a
    /// model without the alignment output) the tokens stay on: they are the only times.
    pub timestamp_tokens: bool,
    /// Condition each speech window on the previous window's text (with
    /// `DecodeOptions::condition_on_previous_text`). Off by default: every window is decoded on
    /// the initial prompt alone, as faster-whisper's batched pipeline and our batches do. Speech
    /// windows are stretches of speech cut apart by silences, so the earlier text adds little
    /// but its prompt (~95 tokens a window on home video) and the ways it leads Whisper past
    /// the speech (`coverage.rs`). Home video, 20 tracks on an AVX2 EPYC (BENCHMARKS.md, top
    /// section): base-int8 5-8 % less time, WER 8.41 against 8.53 %, tiny.en-int8 2-3 % and
    /// 9.26 against 9.25 %; 70-90 MB less peak memory.
    pub condition_on_previous_window: bool,
}

impl Default for VadOptions {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            neg_threshold: None,
            min_speech_ms: 250,
            min_silence_ms: 2000,
            speech_pad_ms: 400,
            merge_gap_ms: u32::MAX,
            carry_unfinished: true,
            timestamp_tokens: false,
            condition_on_previous_window: false,
        }
    }
}

/// A pause inside speech at least this long is where an over-long region is split.
const MIN_SPLIT_PAUSE: u64 = 3 * FRAME as u64;

/// [`VadOptions`] in samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionRules {
    pub threshold: f32,
    pub neg_threshold: f32,
    pub min_speech: u64,
    pub min_silence: u64,
    pub pad: u64,
    /// Longest raw region: padded, it still fits one 30 s window.
    pub max_region: u64,
    pub merge_gap: u64,
}

fn ms(v: u32) -> u64 {
    v as u64 * SAMPLE_RATE / 1000
}

impl RegionRules {
    /// Samples from settings; `window` is the longest padded region (Whisper's 30 s).
    pub fn new(o: &VadOptions, window: u64) -> Self {
        let threshold = o.threshold.clamp(0.0, 1.0);
        let pad = ms(o.speech_pad_ms).min(window / 4);
        Self {
            threshold,
            neg_threshold: o
                .neg_threshold
                .unwrap_or(threshold - 0.15)
                .clamp(0.0, threshold),
            min_speech: ms(o.min_speech_ms),
            min_silence: ms(o.min_silence_ms).max(FRAME as u64),
            pad,
            max_region: window - 2 * pad - FRAME as u64,
            merge_gap: ms(o.merge_gap_ms),
        }
    }
}

/// A speech region in samples of the original timeline, padding included: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    /// Where the detector heard the speech begin (unpadded; `start` when there is no padding
    /// before it, as after a split). 0 in states written before it existed: no clamp then.
    #[serde(default)]
    pub onset: u64,
}

impl Region {
    /// A region with no padding before its speech.
    pub fn new(start: u64, end: u64) -> Self {
        Self {
            start,
            end,
            onset: start,
        }
    }

    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// `regions` laid end to end, cut `at` samples into that speech-only timeline: the regions
/// before the cut and those after it (a region across the cut in both, the later part with no
/// padding before its speech).
pub fn split_at(regions: &[Region], at: u64) -> (Vec<Region>, Vec<Region>) {
    let (mut before, mut after) = (Vec::new(), Vec::new());
    let mut laid = 0;
    for r in regions {
        if laid + r.len() <= at {
            before.push(*r);
        } else if laid >= at {
            after.push(*r);
        } else {
            let cut = r.start + (at - laid);
            before.push(Region { end: cut, ..*r });
            after.push(Region {
                start: cut,
                end: r.end,
                onset: r.onset.max(cut),
            });
        }
        laid += r.len();
    }
    (before, after)
}

/// Where the tracker is; everything it needs to continue.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RegionTracker {
    /// First sample of the speech in progress (unpadded).
    speech_start: Option<u64>,
    /// First sample of the below-threshold run inside the speech in progress.
    silence_start: Option<u64>,
    /// The latest pause of at least [`MIN_SPLIT_PAUSE`] inside the speech: `(start, end)`.
    last_pause: Option<(u64, u64)>,
    /// End of the last region returned: the next one never starts before it.
    last_end: u64,
}

impl RegionTracker {
    /// Feed the frame starting at sample `start` with speech probability `prob`.
    pub fn frame(&mut self, r: &RegionRules, start: u64, prob: f32) -> Option<Region> {
        let end = start + FRAME as u64;
        let Some(speech) = self.speech_start else {
            if prob >= r.threshold {
                self.speech_start = Some(start);
                self.silence_start = None;
                self.last_pause = None;
            }
            return None;
        };
        if prob >= r.threshold {
            if let Some(s) = self.silence_start.take() {
                if start - s >= MIN_SPLIT_PAUSE {
                    self.last_pause = Some((s, start));
                }
            }
        } else if prob < r.neg_threshold && self.silence_start.is_none() {
            self.silence_start = Some(start);
        }
        if let Some(s) = self.silence_start {
            if end - s >= r.min_silence {
                self.speech_start = None;
                self.silence_start = None;
                return self.close(r, speech, s, end, true);
            }
        }
        if end - speech >= r.max_region {
            return Some(self.split(r, speech, end));
        }
        None
    }

    /// The stream ended at sample `end`: the region in progress, if any.
    pub fn finish(&mut self, r: &RegionRules, end: u64) -> Option<Region> {
        let speech = self.speech_start.take()?;
        let speech_end = self.silence_start.take().unwrap_or(end).min(end);
        self.close(r, speech, speech_end, end, true)
    }

    /// Padded start of the speech in progress (where its region will start).
    pub fn open_start(&self, r: &RegionRules) -> Option<u64> {
        self.speech_start
            .map(|s| s.saturating_sub(r.pad).max(self.last_end))
    }

    /// Unpadded end of the speech in progress as known so far (at most `now`).
    pub fn open_end(&self, now: u64) -> Option<u64> {
        self.speech_start
            .map(|_| self.silence_start.unwrap_or(now).min(now))
    }

    /// End of the last region returned.
    pub fn last_end(&self) -> u64 {
        self.last_end
    }

    /// The region of speech `[speech, speech_end)`, padded, its end at most `limit`.
    fn close(
        &mut self,
        r: &RegionRules,
        speech: u64,
        speech_end: u64,
        limit: u64,
        check_length: bool,
    ) -> Option<Region> {
        if check_length && speech_end.saturating_sub(speech) < r.min_speech {
            return None;
        }
        let start = speech.saturating_sub(r.pad).max(self.last_end);
        let end = (speech_end + r.pad).min(limit).max(start);
        self.last_end = end;
        Some(Region {
            start,
            end,
            onset: speech.clamp(start, end),
        })
    }

    /// The speech in progress reached the longest region: cut it at its latest pause (or here)
    /// and go on with the rest as new speech.
    fn split(&mut self, r: &RegionRules, speech: u64, now: u64) -> Region {
        let (cut_end, resume) = match self.last_pause.take() {
            Some((s, e)) if s > speech => (s, e),
            _ => (now, now),
        };
        let region = self
            .close(r, speech, cut_end, resume, false)
            .unwrap_or(Region::new(speech, cut_end));
        self.speech_start = Some(resume);
        if self.silence_start.is_some_and(|s| s < resume) {
            self.silence_start = None;
        }
        region
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u64 = FRAME as u64;

    fn rules() -> RegionRules {
        RegionRules::new(&VadOptions::default(), 480_000)
    }

    /// Regions of a probability sequence (one value per frame), with the stream's end.
    fn run(probs: &[f32]) -> Vec<Region> {
        let r = rules();
        let mut t = RegionTracker::default();
        let mut out: Vec<Region> = probs
            .iter()
            .enumerate()
            .filter_map(|(i, &p)| t.frame(&r, i as u64 * F, p))
            .collect();
        out.extend(t.finish(&r, probs.len() as u64 * F));
        out
    }

    fn frames(ms: u64) -> usize {
        (ms * 16 / F) as usize
    }

    #[test]
    fn split_cuts_the_laid_out_regions_where_asked() {
        let regions = [
            Region {
                start: 100,
                end: 200,
                onset: 120,
            },
            Region::new(500, 600),
        ];
        let (before, after) = split_at(&regions, 150);
        assert_eq!(
            before,
            vec![
                regions[0],
                Region {
                    start: 500,
                    end: 550,
                    onset: 500
                }
            ]
        );
        assert_eq!(after, vec![Region::new(550, 600)]);
        let (before, after) = split_at(&regions, 50);
        assert_eq!(before[0].end, 150);
        assert_eq!(
            after[0],
            Region {
                start: 150,
                end: 200,
                onset: 150
            }
        );
        assert_eq!(after[1], regions[1]);
        assert_eq!(split_at(&regions, 200), (regions.to_vec(), Vec::new()));
        assert_eq!(split_at(&regions, 0), (Vec::new(), regions.to_vec()));
    }

    #[test]
    fn one_utterance_is_padded_and_closed_after_the_silence() {
        // 1 s silence, 1 s speech, 2 s silence.
        let mut p = vec![0.05; frames(1000)];
        let speech_at = p.len() as u64 * F;
        p.extend(vec![0.9; frames(1000)]);
        let speech_end = p.len() as u64 * F;
        p.extend(vec![0.05; frames(2000)]);
        let got = run(&p);
        let pad = rules().pad;
        assert_eq!(pad, 6400);
        assert_eq!(
            got,
            vec![Region {
                start: speech_at - pad,
                end: speech_end + pad,
                onset: speech_at,
            }]
        );
    }

    #[test]
    fn hysteresis_keeps_a_wobbly_region_whole_and_short_pauses_inside() {
        // Speech with values between neg_threshold (0.35) and threshold, and a 300 ms pause.
        let mut p = vec![0.9; frames(600)];
        p.extend(vec![0.4; frames(600)]);
        p.extend(vec![0.1; frames(300)]);
        p.extend(vec![0.8; frames(600)]);
        p.extend(vec![0.0; frames(1000)]);
        assert_eq!(run(&p).len(), 1);
    }

    #[test]
    fn short_bursts_are_dropped_pauses_kept_and_long_silences_split() {
        let mut p = vec![0.95; 3]; // 96 ms click
        p.extend(vec![0.0; frames(2000)]);
        p.extend(vec![0.9; frames(500)]);
        p.extend(vec![0.0; frames(1500)]); // a pause: kept inside
        p.extend(vec![0.9; frames(500)]);
        p.extend(vec![0.0; frames(2500)]); // a silence: cut
        p.extend(vec![0.9; frames(500)]);
        let got = run(&p);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].end <= got[1].start);
    }

    #[test]
    fn over_long_speech_is_split_at_a_pause_and_fits_a_window() {
        let r = rules();
        let mut p = vec![0.9; frames(20_000)];
        p.extend(vec![0.2; frames(600)]); // a breath (longer than the padding)
        p.extend(vec![0.9; frames(25_000)]);
        let got = run(&p);
        assert!(got.len() >= 2, "{got:?}");
        for g in &got {
            assert!(g.len() <= 480_000, "{g:?}");
        }
        // The first cut is at the breath, not in the middle of a word.
        let breath = frames(20_000) as u64 * F;
        assert_eq!(got[0].end, breath + r.pad);
        for w in got.windows(2) {
            assert!(w[0].end <= w[1].start);
        }
    }

    #[test]
    fn speech_running_to_the_end_is_closed_by_finish() {
        let mut p = vec![0.0; frames(500)];
        p.extend(vec![0.9; frames(700)]);
        let got = run(&p);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].end, p.len() as u64 * F);
    }
}
