//! Deterministic stand-in for the fuzz target (`fuzz/fuzz_targets/frames.rs`) that runs in the
//! normal `cargo test`: ~100k seeded random and mutated byte strings into `read_frame`, asserting
//! no panic and no allocation blow-up (a counting global allocator caps any single allocation).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use worker_protocol::*;

/// Largest single allocation seen; the decoder must never allocate what a corrupt header
/// claims (up to 16 MiB) for an input of a few hundred bytes.
static LARGEST: AtomicUsize = AtomicUsize::new(0);

struct Counting;
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LARGEST.fetch_max(l.size(), Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LARGEST.fetch_max(n, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}
#[global_allocator]
static A: Counting = Counting;

/// xorshift64*: small, seeded, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let reqs = vec![
        Request::Start {
            protocol: PROTOCOL_VERSION,
            device: "GPU.1".into(),
            model_chain: vec!["base".into(), "tiny".into()],
            max_memory: 123,
            cache_dir: None,
            settings: DecodeSettings::default(),
            resume: Some(ResumeState {
                seek_samples: 480000,
                prompt_tokens: vec![1, 2, 3],
                language: Some("en".into()),
                last_speech_seconds: 29.5,
                vad: None,
            }),
        },
        Request::Drain,
        Request::Flush,
        Request::Shutdown,
    ];
    for r in &reqs {
        let mut b = Vec::new();
        write_control(&mut b, r).unwrap();
        out.push(b);
    }
    let resps = vec![
        Response::Hello {
            pid: 1,
            version: "0.1.0".into(),
        },
        Response::Segments {
            segments: vec![SegmentMsg {
                start: 0.0,
                end: 1.5,
                text: " And so".into(),
                tokens: vec![50364, 400],
                avg_logprob: -0.2,
                no_speech_prob: 0.01,
                temperature: 0.0,
                compression_ratio: 1.1,
                words: vec![WordMsg {
                    start: 0.0,
                    end: 0.4,
                    word: " And".into(),
                    probability: 0.7,
                }],
            }],
            state: ResumeState::default(),
        },
        Response::Error {
            kind: ErrorKind::Memory,
            message: "x".into(),
        },
    ];
    for r in &resps {
        let mut b = Vec::new();
        write_control(&mut b, r).unwrap();
        out.push(b);
    }
    let mut b = Vec::new();
    write_audio(&mut b, &[0.0, 1.0, -0.5, f32::NAN]).unwrap();
    out.push(b);
    out
}

fn decode_all(data: &[u8]) {
    let mut r = data;
    for _ in 0..64 {
        if read_frame::<_, Request>(&mut r).is_err() {
            break;
        }
    }
    let mut r = data;
    for _ in 0..64 {
        if read_frame::<_, Response>(&mut r).is_err() {
            break;
        }
    }
}

#[test]
fn random_and_mutated_frames_never_panic_or_overallocate() {
    let seeds = seeds();
    let mut rng = Rng(0x0005_EED0_FA4C_u64);
    let mut max_input = 0;
    for i in 0..100_000 {
        let data: Vec<u8> = match i % 4 {
            // Pure noise.
            0 => (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
            // A valid frame (or two), mutated.
            1 | 2 => {
                let mut d = seeds[rng.below(seeds.len())].clone();
                if i % 4 == 2 {
                    d.extend_from_slice(&seeds[rng.below(seeds.len())]);
                }
                for _ in 0..1 + rng.below(6) {
                    match rng.below(5) {
                        0 if !d.is_empty() => {
                            let j = rng.below(d.len());
                            d[j] = rng.next() as u8;
                        }
                        1 if !d.is_empty() => {
                            let j = rng.below(d.len());
                            d.truncate(j);
                        }
                        2 => {
                            let j = rng.below(d.len() + 1);
                            d.insert(j, rng.next() as u8);
                        }
                        3 if !d.is_empty() => {
                            let j = rng.below(d.len());
                            d.remove(j);
                        }
                        _ => {
                            let j = rng.below(d.len() + 1);
                            let b = [0xFF, 0x7F, 0x00, b'"', b'{', b'}', b'\\'][rng.below(7)];
                            d.insert(j, b);
                        }
                    }
                }
                d
            }
            // A header claiming a huge (or any) length, with a short body.
            _ => {
                let mut d = (rng.next() as u32).to_le_bytes().to_vec();
                d.push([1u8, 2, 0, 3, 255][rng.below(5)]);
                d.extend((0..rng.below(64)).map(|_| rng.next() as u8));
                d
            }
        };
        max_input = max_input.max(data.len());
        decode_all(&data);
    }
    let largest = LARGEST.load(Ordering::Relaxed);
    // Inputs are < 2 KiB; the test harness itself allocates little. 1 MiB is far above any
    // honest allocation and far below the 16 MiB a header may claim.
    assert!(
        largest < 1 << 20,
        "largest allocation {largest} B for inputs up to {max_input} B"
    );
}
