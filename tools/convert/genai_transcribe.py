#!/usr/bin/env python3
"""Transcribe a WAV file with OpenVINO GenAI's WhisperPipeline: the proof that a converted model
folder has the layout GenAI (and optimum-intel) expect.

    python tools/convert/genai_transcribe.py ~/.local/share/arcwhisper/models/tiny.en speech.wav
    python tools/convert/genai_transcribe.py <model dir> <wav> --language en --timestamps
    python tools/convert/genai_transcribe.py <model dir> <wav> --words
    python tools/convert/genai_transcribe.py <model dir> <wav> --initial-prompt "Previous text."

The WAV must be 16 kHz mono (PCM 16/32-bit or float); convert others with
`ffmpeg -i in.flac -ar 16000 -ac 1 out.wav`.
"""

from __future__ import annotations

import argparse
import sys
import wave
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000


def read_wav(path: str | Path) -> np.ndarray:
    """16 kHz mono WAV -> float32 samples in [-1, 1]."""
    try:
        import soundfile  # optional; handles every WAV flavour
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        channels = audio.shape[1]
        audio = audio.mean(axis=1)
    except ImportError:
        with wave.open(str(path), "rb") as w:  # PCM only
            rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            raw = w.readframes(w.getnframes())
        if width == 2:
            audio = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
        elif width == 4:
            audio = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
        elif width == 1:
            audio = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
        else:
            raise ValueError(f"{path}: unsupported sample width {width}")
        audio = audio.reshape(-1, channels).mean(axis=1)
    if rate != SAMPLE_RATE:
        raise ValueError(f"{path}: {rate} Hz, expected {SAMPLE_RATE} (ffmpeg -i in -ar 16000 -ac 1 out.wav)")
    return np.ascontiguousarray(audio, dtype=np.float32)


def transcribe(model_dir: str | Path, wav: str | Path, device: str = "CPU", language: str | None = None,
               task: str = "transcribe", timestamps: bool = False, words: bool = False,
               initial_prompt: str | None = None, **properties):
    import openvino_genai

    if words:
        properties["word_timestamps"] = True
    pipe = openvino_genai.WhisperPipeline(str(model_dir), device, **properties)
    config = pipe.get_generation_config()
    config.max_new_tokens = 440
    if task != "transcribe" or config.is_multilingual:  # English-only models refuse any task
        config.task = task
    config.return_timestamps = timestamps
    if words:
        config.word_timestamps = True
    if language:
        config.language = f"<|{language}|>"
    if initial_prompt:  # GenAI puts <|startofprev|> and these tokens before <|startoftranscript|>
        config.initial_prompt = initial_prompt
    return pipe.generate(read_wav(wav).tolist(), config)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("wav", type=Path)
    ap.add_argument("--device", default="CPU")
    ap.add_argument("--language", help="language code, e.g. en (multilingual models)")
    ap.add_argument("--task", default="transcribe", choices=["transcribe", "translate"])
    ap.add_argument("--timestamps", action="store_true", help="print segments with times")
    ap.add_argument("--words", action="store_true", help="print words with times (GenAI word_timestamps)")
    ap.add_argument("--initial-prompt", help="text before the first window (<|startofprev|> ...)")
    a = ap.parse_args(argv)
    result = transcribe(a.model_dir, a.wav, a.device, a.language, a.task, a.timestamps, a.words,
                        a.initial_prompt)
    if a.words and result.words:
        for w in result.words:
            print(f"[{w.start_ts:7.2f} -> {w.end_ts:7.2f}] {w.word.strip()}")
    elif a.timestamps and result.chunks:
        for c in result.chunks:
            print(f"[{c.start_ts:7.2f} -> {c.end_ts:7.2f}] {c.text.strip()}")
    else:
        print(result.texts[0].strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
