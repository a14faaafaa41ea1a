//! Word timestamps from the alignment heads (openai-whisper's `timing.py` and faster-whisper's
//! `add_word_timestamps` describe the method; this is our own rendering of it).
//!
//! The alignment heads' cross-attention over the window's frames, for the queries that predict
//! each text token and the one after the last, normalised and median-filtered, is averaged over
//! the heads, and DTW through it gives the frame at which every token starts. The scores come
//! from the decode itself when it kept them (`decode_attention.rs`); otherwise (a decoder without
//! them, a decode stopped at its token budget) the text tokens go once more through the
//! decoder as a fresh sequence on the window's decoder (`[sot..] <|notimestamps|> text
//! <|endoftext|>`), the forced-alignment pass. Tokens are merged into words, punctuation into
//! its neighbours, implausibly long words are cut, and each segment's start and end follow its
//! words.

use crate::decode_attention::{self, DecodeAttention, TextAttention};
use crate::dtw;
use crate::error::{Error, Result};
use crate::median_filter;
use crate::ov::WindowDecoder;
use crate::softmax;
use crate::{Segment, WhisperModel, Word};

/// Encoder frames per second (1500 per 30 s window).
const FRAMES_PER_SECOND: f64 = 50.0;
/// Median filter width over the frames (openai-whisper's and CTranslate2's default).
const MEDIAN_FILTER_WIDTH: usize = 7;
/// Languages written without spaces: words are cut at every whole character sequence instead.
const NO_SPACE_LANGUAGES: [&str; 6] = ["zh", "ja", "th", "lo", "my", "yue"];
const SENTENCE_END_MARKS: &str = ".。!！?？";
/// Python's `string.punctuation`: a subword whose trimmed text is a substring of it starts a word.
const ASCII_PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// One aligned word; times in seconds from the window start.
#[derive(Debug, Clone, PartialEq)]
struct Timing {
    word: String,
    tokens: Vec<u32>,
    start: f64,
    end: f64,
    probability: f32,
}

/// What the word timing of one window needs besides the model.
pub(crate) struct WindowInput<'a> {
    /// `<|startoftranscript|>` [language, task]: the alignment pass's prefix.
    pub sot_sequence: &'a [u32],
    /// Mel frames (10 ms) of audio in the window.
    pub content_frames: usize,
    /// Window start, seconds from the stream start.
    pub time_offset: f64,
    /// End of the last word before this window (seconds).
    pub last_speech: f64,
    pub language: Option<&'a str>,
    pub prepend: &'a str,
    pub append: &'a str,
    /// The chosen decode's alignment scores and its tokens (the segments hold a prefix of them).
    pub decoded: Option<(&'a DecodeAttention, &'a [u32])>,
}

/// Give every segment of a window its words; segment start/end follow them (with
/// faster-whisper's exceptions for implausibly long first and last words).
pub(crate) fn add_word_timestamps(
    model: &mut WhisperModel,
    decoder: &mut WindowDecoder,
    segments: &mut [Segment],
    w: &WindowInput,
) -> Result<()> {
    let eot = model.special.eot;
    let per_segment: Vec<Vec<u32>> = segments
        .iter()
        .map(|s| s.tokens.iter().copied().filter(|&t| t < eot).collect())
        .collect();
    let text: Vec<u32> = per_segment.iter().flatten().copied().collect();
    if text.is_empty() {
        return Ok(());
    }
    let mut timings = find_alignment(model, decoder, &text, w)?;
    let (median, max) = duration_limits(&timings);
    cut_long_words_at_sentence_ends(&mut timings, max);
    merge_punctuations(&mut timings, w.prepend, w.append);

    let mut last_speech = w.last_speech;
    let mut next = 0;
    for (seg, seg_tokens) in segments.iter_mut().zip(&per_segment) {
        let mut words = Vec::new();
        let mut taken = 0;
        while next < timings.len() && taken < seg_tokens.len() {
            let t = &timings[next];
            if !t.word.is_empty() {
                words.push(Word {
                    start: round2(w.time_offset + t.start),
                    end: round2(w.time_offset + t.end),
                    word: t.word.clone(),
                    probability: t.probability,
                });
            }
            taken += t.tokens.len();
            next += 1;
        }
        if !words.is_empty() {
            fit_segment_to_words(seg, &mut words, last_speech, median, max);
            last_speech = seg.end;
        }
        seg.words = words;
    }
    Ok(())
}

/// Median word duration (at most 0.7 s) and twice it: what counts as implausibly long.
fn duration_limits(timings: &[Timing]) -> (f64, f64) {
    let mut d: Vec<f64> = timings
        .iter()
        .map(|t| t.end - t.start)
        .filter(|&d| d != 0.0)
        .collect();
    if d.is_empty() {
        return (0.0, 0.0);
    }
    d.sort_by(f64::total_cmp);
    let n = d.len();
    let median = if n % 2 == 1 {
        d[n / 2]
    } else {
        (d[n / 2 - 1] + d[n / 2]) / 2.0
    };
    let median = median.min(0.7);
    (median, median * 2.0)
}

/// A sentence-end mark, or the word after one, that lasts too long has swallowed a pause.
fn cut_long_words_at_sentence_ends(timings: &mut [Timing], max: f64) {
    if max <= 0.0 {
        return;
    }
    for i in 1..timings.len() {
        if timings[i].end - timings[i].start <= max {
            continue;
        }
        if is_sentence_end(&timings[i].word) {
            timings[i].end = timings[i].start + max;
        } else if is_sentence_end(&timings[i - 1].word) {
            timings[i].start = timings[i].end - max;
        }
    }
}

fn is_sentence_end(word: &str) -> bool {
    !word.is_empty() && SENTENCE_END_MARKS.contains(word)
}

/// Opening punctuation joins the next word, closing punctuation the previous one; the emptied
/// entries stay (their tokens moved) so that token counts per segment still add up.
fn merge_punctuations(t: &mut [Timing], prepend: &str, append: &str) {
    if t.len() >= 2 {
        let mut j = t.len() - 1;
        for i in (0..t.len() - 1).rev() {
            let prev = &t[i];
            if prev.word.starts_with(' ') && is_listed(prev.word.trim(), prepend) {
                let (word, tokens) = (
                    std::mem::take(&mut t[i].word),
                    std::mem::take(&mut t[i].tokens),
                );
                t[j].word = word + &t[j].word;
                t[j].tokens.splice(0..0, tokens);
            } else {
                j = i;
            }
        }
    }
    let mut i = 0;
    for j in 1..t.len() {
        if !t[i].word.ends_with(' ') && is_listed(&t[j].word, append) {
            let (word, tokens) = (
                std::mem::take(&mut t[j].word),
                std::mem::take(&mut t[j].tokens),
            );
            t[i].word.push_str(&word);
            t[i].tokens.extend(tokens);
        } else {
            i = j;
        }
    }
}

/// Python's `s in chars` for a punctuation string: a (possibly empty) substring of it.
fn is_listed(s: &str, chars: &str) -> bool {
    chars.contains(s)
}

/// faster-whisper's segment-boundary rules: the first word after a long pause (and the second)
/// may not be implausibly long; a first/last word that overhangs Whisper's own segment boundary
/// by more than 0.5 s is trimmed towards it; then the segment takes its words' start and end.
fn fit_segment_to_words(
    seg: &mut Segment,
    words: &mut [Word],
    last_speech: f64,
    median: f64,
    max: f64,
) {
    let first_len = words[0].end - words[0].start;
    let after_pause = words[0].end - last_speech > median * 4.0;
    let too_long =
        first_len > max || (words.len() > 1 && words[1].end - words[0].start > max * 2.0);
    if after_pause && too_long {
        if words.len() > 1 && words[1].end - words[1].start > max {
            let boundary = (words[1].end / 2.0).max(words[1].end - max);
            words[0].end = boundary;
            words[1].start = boundary;
        }
        words[0].start = (words[0].end - max).max(0.0);
    }
    if seg.start < words[0].end && seg.start - 0.5 > words[0].start {
        words[0].start = (words[0].end - median).min(seg.start).max(0.0);
    }
    let last = words.len() - 1;
    if seg.end > words[last].start && seg.end + 0.5 < words[last].end {
        words[last].end = (words[last].start + median).max(seg.end);
    }
    // The segment spans its words (faster-whisper keeps Whisper's own start/end in the two
    // cases above; a cue then would start before or end after its words).
    seg.start = words[0].start;
    seg.end = words[last].end;
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// DTW through the alignment heads' attention: every word of `text` with its start, end
/// (seconds from the window start) and probability.
fn find_alignment(
    model: &mut WhisperModel,
    decoder: &mut WindowDecoder,
    text: &[u32],
    w: &WindowInput,
) -> Result<Vec<Timing>> {
    let eot = model.special.eot;
    let from_decode = w
        .decoded
        .and_then(|(a, tokens)| a.for_text(tokens, eot, text.len()));
    let (cost, frames, probs) = match from_decode {
        Some(t) => decode_cost(t, model.ov.alignment_heads),
        None => forced_cost(model, decoder, text, w)?,
    };
    let rows = text.len() + 1;
    let path = dtw::path(&cost, rows, frames);
    let starts = dtw::row_starts(&path, rows);
    let time = |row: usize| starts[row] as f64 / FRAMES_PER_SECOND;
    let mut out = Vec::new();
    let mut at = 0;
    for (word, toks) in split_words(model, text, w.language)? {
        let n = toks.len();
        let p = probs[at..at + n].iter().sum::<f32>() / n as f32;
        out.push(Timing {
            word,
            tokens: toks,
            start: time(at),
            end: time(at + n),
            probability: p,
        });
        at += n;
    }
    Ok(out)
}

/// DTW cost (`[text + 1][frames]`), frames and text-token probabilities from the decode's own
/// attention: its rows are already the text rows and the one after them.
fn decode_cost(t: TextAttention, heads: usize) -> (Vec<f32>, usize, Vec<f32>) {
    let frames = t.qk.len() / (heads * t.rows).max(1);
    let matrix = attention_matrix(&t.qk, heads, t.rows, frames);
    (matrix.iter().map(|&x| -x).collect(), frames, t.probs)
}

/// The same from the forced-alignment pass over `[sot..] <|notimestamps|> text <|endoftext|>`.
fn forced_cost(
    model: &mut WhisperModel,
    decoder: &mut WindowDecoder,
    text: &[u32],
    w: &WindowInput,
) -> Result<(Vec<f32>, usize, Vec<f32>)> {
    let sp = &model.special;
    let mut tokens = w.sot_sequence.to_vec();
    tokens.push(sp.no_timestamps);
    tokens.extend_from_slice(text);
    tokens.push(sp.eot);
    let (sot_len, text_vocab) = (w.sot_sequence.len(), sp.eot as usize);
    let heads = model.ov.alignment_heads;
    let frames = decode_attention::encoder_frames(w.content_frames);
    let (qk, probs) =
        decoder.forced_pass(&mut model.ov, &tokens, frames, sot_len, text, text_vocab)?;
    let frames = qk.len() / (heads * tokens.len()).max(1);
    if frames == 0 {
        return Err(Error::Runtime("the alignment output has no frames".into()));
    }
    let matrix = attention_matrix(&qk, heads, tokens.len(), frames);
    // Rows from <|notimestamps|> (whose query predicts the first text token) to the last text
    // token (which predicts <|endoftext|>): row k starts text token k, row n ends the last one.
    let rows = text.len() + 1;
    let cost = matrix[sot_len * frames..(sot_len + rows) * frames]
        .iter()
        .map(|&x| -x)
        .collect();
    Ok((cost, frames, probs))
}

/// `[heads][tokens][frames]` raw scores -> `[tokens][frames]`: softmax over the frames,
/// standardised over the tokens per head and frame, median-filtered over the frames, averaged
/// over the heads.
fn attention_matrix(qk: &[f32], heads: usize, tokens: usize, frames: usize) -> Vec<f32> {
    let mut w: Vec<f32> = qk.to_vec();
    for row in w.chunks_exact_mut(frames) {
        let sum = softmax::exp_in_place(row, softmax::max(row));
        row.iter_mut().for_each(|x| *x /= sum);
    }
    for head in w.chunks_exact_mut(tokens * frames) {
        standardise_columns(head, tokens, frames);
    }
    let mut out = vec![0f32; tokens * frames];
    let mut filtered = vec![0f32; frames];
    for head in w.chunks_exact(tokens * frames) {
        for (t, row) in head.chunks_exact(frames).enumerate() {
            median_filter::filter(row, MEDIAN_FILTER_WIDTH, &mut filtered);
            for (o, &x) in out[t * frames..(t + 1) * frames].iter_mut().zip(&filtered) {
                *o += x / heads as f32;
            }
        }
    }
    out
}

/// Each column (frame) of a `tokens x frames` block to zero mean, unit (population) deviation.
fn standardise_columns(block: &mut [f32], tokens: usize, frames: usize) {
    // Row by row (contiguous) rather than column by column: each column's sums still add its
    // tokens in order, so the numbers are the same, at a fraction of the cache misses.
    let mut mean = vec![0f64; frames];
    for row in block.chunks_exact(frames).take(tokens) {
        mean.iter_mut().zip(row).for_each(|(m, &x)| *m += x as f64);
    }
    mean.iter_mut().for_each(|m| *m /= tokens as f64);
    let mut var = vec![0f64; frames];
    for row in block.chunks_exact(frames).take(tokens) {
        for ((v, &m), &x) in var.iter_mut().zip(&mean).zip(row) {
            *v += (x as f64 - m) * (x as f64 - m);
        }
    }
    let std: Vec<f64> = var.iter().map(|v| (v / tokens as f64).sqrt()).collect();
    for row in block.chunks_exact_mut(frames).take(tokens) {
        for ((x, &m), &sd) in row.iter_mut().zip(&mean).zip(&std) {
            *x = if sd > 0.0 {
                ((*x as f64 - m) / sd) as f32
            } else {
                0.0
            };
        }
    }
}

/// Text tokens -> words with their tokens: at spaces (and standalone punctuation) for languages
/// written with spaces, at every complete character sequence otherwise.
fn split_words(
    model: &WhisperModel,
    text: &[u32],
    language: Option<&str>,
) -> Result<Vec<(String, Vec<u32>)>> {
    let pieces = split_on_unicode(model, text)?;
    if language.is_some_and(|l| NO_SPACE_LANGUAGES.contains(&l)) {
        return Ok(pieces);
    }
    let mut words: Vec<(String, Vec<u32>)> = Vec::new();
    for (piece, toks) in pieces {
        let starts_word = piece.starts_with(' ') || is_listed(piece.trim(), ASCII_PUNCTUATION);
        match words.last_mut() {
            Some((w, t)) if !starts_word => {
                w.push_str(&piece);
                t.extend(toks);
            }
            _ => words.push((piece, toks)),
        }
    }
    Ok(words)
}

/// Cut tokens where their decoded text is whole: a token that ends inside a multi-byte
/// character decodes to U+FFFD and is joined with the next (unless the text itself has one).
fn split_on_unicode(model: &WhisperModel, text: &[u32]) -> Result<Vec<(String, Vec<u32>)>> {
    const REPLACEMENT: char = '\u{FFFD}';
    let decode = |t: &[u32]| {
        model
            .tokenizer
            .decode(t, false)
            .map_err(|e| Error::Tokenizer(e.to_string()))
    };
    let full: Vec<char> = decode(text)?.chars().collect();
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut offset = 0;
    for &t in text {
        current.push(t);
        let piece = decode(&current)?;
        let whole = match piece.chars().position(|c| c == REPLACEMENT) {
            None => true,
            Some(k) => full.get(offset + k) == Some(&REPLACEMENT),
        };
        if whole {
            offset += piece.chars().count();
            out.push((piece, std::mem::take(&mut current)));
        }
    }
    if !current.is_empty() {
        out.push((decode(&current)?, current));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(word: &str, tokens: usize, start: f64, end: f64) -> Timing {
        Timing {
            word: word.into(),
            tokens: vec![0; tokens],
            start,
            end,
            probability: 0.9,
        }
    }

    #[test]
    fn punctuation_joins_its_neighbours() {
        let mut t = vec![
            timing(" \"", 1, 0.0, 0.1),
            timing(" Hello", 1, 0.1, 0.5),
            timing(",", 1, 0.5, 0.6),
            timing(" world", 1, 0.6, 1.0),
            timing(".\"", 1, 1.0, 1.1),
        ];
        merge_punctuations(&mut t, "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、");
        let words: Vec<&str> = t.iter().map(|x| x.word.as_str()).collect();
        assert_eq!(words, ["", " \" Hello,", "", " world", ".\""]);
        // ".\"" is not one listed mark: it stays a word of its own; tokens are never lost
        assert_eq!(t.iter().map(|x| x.tokens.len()).sum::<usize>(), 5);
        assert_eq!(t[1].tokens.len(), 3);
    }

    #[test]
    fn long_words_after_a_sentence_end_are_cut() {
        let mut t = vec![
            timing(" Yes", 1, 0.0, 0.3),
            timing(".", 1, 0.3, 0.4),
            timing(" Then", 1, 0.4, 5.0),
            timing(" go", 1, 5.0, 5.3),
        ];
        let (median, max) = duration_limits(&t);
        assert!((median - 0.3).abs() < 1e-9 && (max - 0.6).abs() < 1e-9);
        cut_long_words_at_sentence_ends(&mut t, max);
        assert!((t[2].start - 4.4).abs() < 1e-9 && t[2].end == 5.0);
    }

    #[test]
    fn first_word_after_a_pause_is_not_implausibly_long() {
        let mut seg = Segment {
            start: 10.0,
            end: 14.0,
            text: " Well done".into(),
            tokens: vec![],
            avg_logprob: -0.2,
            no_speech_prob: 0.0,
            temperature: 0.0,
            compression_ratio: 1.0,
            words: vec![],
        };
        let mut words = vec![
            Word {
                start: 10.0,
                end: 13.5,
                word: " Well".into(),
                probability: 0.9,
            },
            Word {
                start: 13.5,
                end: 14.0,
                word: " done".into(),
                probability: 0.9,
            },
        ];
        fit_segment_to_words(&mut seg, &mut words, 0.0, 0.3, 0.6);
        assert!((words[0].start - 12.9).abs() < 1e-9, "{:?}", words[0]);
        assert_eq!(seg.start, words[0].start);
        assert_eq!(seg.end, 14.0);
    }

    /// The first version (columns summed one by one), kept as the reference the row-by-row
    /// one must match exactly.
    fn standardised_by_columns(block: &[f32], tokens: usize, frames: usize) -> Vec<f32> {
        let mut b = block.to_vec();
        for f in 0..frames {
            let col: Vec<f64> = (0..tokens).map(|t| b[t * frames + f] as f64).collect();
            let mean = col.iter().sum::<f64>() / tokens as f64;
            let var = col.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / tokens as f64;
            for t in 0..tokens {
                let x = &mut b[t * frames + f];
                *x = if var.sqrt() > 0.0 {
                    ((*x as f64 - mean) / var.sqrt()) as f32
                } else {
                    0.0
                };
            }
        }
        b
    }

    #[test]
    fn standardisation_matches_the_column_by_column_reference_exactly() {
        // Pseudo-random scores with ties and a constant column.
        let (tokens, frames) = (37, 301);
        let mut x = 0x2545_f491u32;
        let block: Vec<f32> = (0..tokens * frames)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                if i % frames == 7 {
                    0.5
                } else {
                    (x % 1000) as f32 / 37.0 - 13.0
                }
            })
            .collect();
        let mut fast = block.clone();
        standardise_columns(&mut fast, tokens, frames);
        let reference = standardised_by_columns(&block, tokens, frames);
        assert!(fast
            .iter()
            .zip(&reference)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn columns_are_standardised_over_tokens() {
        let mut block = vec![1.0, 5.0, 3.0, 5.0];
        standardise_columns(&mut block, 2, 2);
        assert_eq!(block, vec![-1.0, 0.0, 1.0, 0.0]);
    }
}
