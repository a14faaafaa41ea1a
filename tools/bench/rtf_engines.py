"""The Python engines of rtf.py (faster-whisper fp32/int8, OpenVINO GenAI), each in a process of
its own so that its memory is its own (proctree.py reads the peak) and clips can still be
interleaved with the other engines: the parent sends one JSON line per clip, the child answers
one JSON line with the transcription time (model loaded, warmed up) and the text.

    python rtf_engines.py serve --engine fw-int8 --model tiny.en --threads 2
    stdin:  {"wav": "/tmp/x.wav"}            stdout: {"wall_s": 0.8, "text": "..."}
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import proctree  # noqa: E402
from common import ct2_dir, ov_model_dir, read_wav, tempdir  # noqa: E402

ENGINES = ("fw-fp32", "fw-int8", "genai")


def transcriber(engine: str, model: str, threads: int):
    """A function wav -> text, with everything loaded; greedy like our CLI."""
    if engine.startswith("fw-"):
        from faster_whisper import WhisperModel
        fw = WhisperModel(str(ct2_dir(model, tempdir())), device="cpu",
                          compute_type="int8" if engine == "fw-int8" else "float32", cpu_threads=threads)

        def run_fw(audio):
            segs, _ = fw.transcribe(audio, beam_size=1, best_of=1, condition_on_previous_text=True, vad_filter=False)
            return "".join(s.text for s in segs).strip()
        return run_fw
    if engine == "genai":
        import openvino_genai
        pipe = openvino_genai.WhisperPipeline(str(ov_model_dir(model)), "CPU", INFERENCE_NUM_THREADS=threads)

        def run_genai(audio):
            cfg = pipe.get_generation_config()
            cfg.return_timestamps = True
            cfg.max_new_tokens = 224
            return pipe.generate(audio.tolist(), cfg).texts[0].strip()
        return run_genai
    raise SystemExit(f"unknown engine {engine!r} ({', '.join(ENGINES)})")


def serve(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="rtf_engines.py serve")
    ap.add_argument("--engine", choices=ENGINES, required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", help="a WAV transcribed once before the first answer")
    a = ap.parse_args(argv)
    run = transcriber(a.engine, a.model, a.threads)
    if a.warmup:
        run(read_wav(Path(a.warmup)))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        audio = read_wav(Path(req["wav"]))
        t = time.perf_counter()
        text = run(audio)
        print(json.dumps({"wall_s": time.perf_counter() - t, "text": text,
                          "peak_rss_bytes": proctree.peak_rss_self_bytes()}), flush=True)
    return 0


class EngineProcess:
    """The parent's side: one serving child, every wait bounded."""

    def __init__(self, engine: str, model: str, threads: int, warmup: Path, timeout_s: float = 600.0):
        self.engine, self.timeout_s = engine, timeout_s
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "serve", "--engine", engine, "--model", model,
             "--threads", str(threads), "--warmup", str(warmup)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._answer()   # loaded and warmed up

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _answer(self) -> dict:
        try:
            line = self.lines.get(timeout=self.timeout_s)
        except queue.Empty:
            self.close()
            raise RuntimeError(f"{self.engine}: no answer in {self.timeout_s:.0f} s")
        if line is None:
            raise RuntimeError(f"{self.engine}: the engine process ended (exit {self.proc.wait(10)})")
        return json.loads(line)

    def transcribe(self, wav: Path) -> dict:
        self.proc.stdin.write(json.dumps({"wav": str(wav)}) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        sys.exit(serve(sys.argv[2:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
