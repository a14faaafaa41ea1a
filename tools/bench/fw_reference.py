"""faster-whisper fp32's texts of the shared clips, the reference the WER check compares with,
kept on disk between runs ($ARCWHISPER_HOME/cache/faster-whisper-texts/).

They depend only on faster-whisper's and CTranslate2's versions, the weights, the decoding
options, the thread count and the clips' samples, and all of these are hashed into the file's
name: a change to any one of them gives a new file, so a kept text is never stale. Computing
them costs ~2 minutes of the test suite on 2 cores (base fp32 over 194 s of audio), and the
same bytes come out every time.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

from common import arcwhisper_home

# The decoding every reference text is made with (also part of the cache key).
FW_OPTIONS = dict(beam_size=1, best_of=1, temperature=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
                  condition_on_previous_text=True, vad_filter=False, without_timestamps=False)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def cache_key(versions: str, weights_dir: Path, threads: int, wavs: dict[str, Path]) -> str:
    """One hash of everything the texts depend on: engine versions, every weights file, the
    options, the thread count, and each clip's name and samples."""
    h = hashlib.sha256()
    h.update(versions.encode())
    for f in sorted(p for p in weights_dir.iterdir() if p.is_file()):
        h.update(f"{f.name}:{file_sha256(f)}\n".encode())
    h.update(json.dumps(FW_OPTIONS, sort_keys=True).encode())
    h.update(f"threads={threads}\n".encode())
    for name in sorted(wavs):
        h.update(f"{name}:{file_sha256(wavs[name])}\n".encode())
    return h.hexdigest()[:32]


def cache_dir() -> Path:
    return arcwhisper_home() / "cache" / "faster-whisper-texts"


def cached_texts(key: str, compute: Callable[[], dict], folder: Path | None = None) -> dict:
    """The texts stored under `key`, else `compute()`'s, stored (atomically) for next time.
    ARCWHISPER_FW_CACHE=0 always computes them (and stores nothing)."""
    if os.environ.get("ARCWHISPER_FW_CACHE", "1") == "0":
        return compute()
    path = (folder or cache_dir()) / f"{key}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    texts = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(texts, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return texts


def engine_versions() -> str:
    import ctranslate2
    import faster_whisper
    return f"faster-whisper {faster_whisper.__version__}, ctranslate2 {ctranslate2.__version__}"
