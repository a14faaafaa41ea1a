//! The most tokens one attempt at a window may sample, by how much audio the window holds.
//!
//! Whisper's own limit is half the decoder's context (224 tokens) whatever the window holds. A
//! window with a few seconds of audio cannot hold that much text, but a decode that loops
//! ("the most beautiful, and the most beautiful, ...") runs to the limit, and each fallback
//! temperature does it again. Seen with base-int8 on the rest of a batched window after its
//! decode stopped early: 2-3 s of audio, 224 tokens at temperature 0 and again at 0.2 (home-video
//! seed 41: 914 tokens on a track that needs 468). Such a decode fails the compression-ratio
//! rule anyway; the budget only makes it fail sooner.
//!
//! The budget is far above what speech holds: read English on the shared clips peaks at 5.5 text
//! tokens a second (timestamps add about 0.5), and languages whose characters take several
//! tokens (Japanese, Thai) stay well under 25 a second.

use crate::mel::SAMPLE_RATE;

/// Tokens a second of audio a window may take.
const TOKENS_PER_SECOND: f64 = 25.0;
/// Tokens on top, whatever the length (timestamps, a short exclamation).
const TOKENS_BASE: usize = 20;

/// `model_limit` (Whisper's), lowered for a window of `content_samples` of audio.
pub(crate) fn max_new_tokens(model_limit: usize, content_samples: usize) -> usize {
    let seconds = content_samples as f64 / SAMPLE_RATE as f64;
    let budget = TOKENS_BASE + (seconds * TOKENS_PER_SECOND).ceil() as usize;
    model_limit.min(budget).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_window_keeps_whispers_limit() {
        assert_eq!(max_new_tokens(224, 480_000), 224);
        assert_eq!(max_new_tokens(224, 320_000), 224, "20 s: 520 > 224");
    }

    #[test]
    fn a_few_seconds_get_a_budget_far_above_speech() {
        // 2.5 s: 20 + 63 tokens; English speech holds about 15.
        assert_eq!(max_new_tokens(224, 40_000), 83);
        assert_eq!(max_new_tokens(224, 0), 20);
        assert_eq!(max_new_tokens(5, 40_000), 5, "a smaller model limit wins");
    }
}
