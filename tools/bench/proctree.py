"""Run a whole process and measure it from outside: wall time, CPU time and peak memory of its tree.

Memory is read from /proc while the process runs (every `interval_s`, default 20 ms), over the
process and every descendant (arcwhisper's element starts `arcwhisper-worker` as a child; the CLI
runs the engine in its own process; faster-whisper / GenAI run in a Python child of ours):
- `peak_rss_bytes`: the highest VmHWM (the kernel's own high-water mark, exact however short the
  peak) of any single process of the tree, read until the process goes away: the worker's peak.
- `peak_tree_rss_bytes`: the highest sum of VmRSS over the tree at one poll (sampled: a peak
  shorter than the interval can be missed).
CPU time is `getrusage(RUSAGE_CHILDREN)` before/after, which counts every waited-for descendant.
"""

from __future__ import annotations

import os
import resource
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass
class Measured:
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int        # largest single process (VmHWM)
    peak_tree_rss_bytes: int   # largest sum over the tree (sampled)


def _status_kib(pid: int, keys: tuple[str, ...]) -> dict[str, int]:
    out = {}
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k in keys:
                out[k] = int(v.split()[0])
    except (OSError, ValueError, IndexError):
        pass   # the process ended between listing and reading
    return out


def descendants(pid: int) -> list[int]:
    """pid and every process below it (via /proc/<pid>/task/<tid>/children)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in (PROC / str(p) / "task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


class TreeSampler:
    """Polls a process tree's memory in a thread until stopped."""

    def __init__(self, pid: int, interval_s: float = 0.02):
        self.pid, self.interval_s = pid, interval_s
        self.peak_hwm_kib = 0
        self.peak_sum_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "TreeSampler":
        self._thread.start()
        return self

    def sample(self) -> None:
        total = 0
        for p in descendants(self.pid):
            st = _status_kib(p, ("VmRSS", "VmHWM"))
            total += st.get("VmRSS", 0)
            self.peak_hwm_kib = max(self.peak_hwm_kib, st.get("VmHWM", 0))
        self.peak_sum_kib = max(self.peak_sum_kib, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run_measured(argv: list[str], timeout_s: float, env: dict[str, str] | None = None,
                 stdin: str | None = None, interval_s: float = 0.02) -> Measured:
    """Run argv to its end (killed, with its group, after timeout_s); never raises on exit status."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, **(env or {})}, start_new_session=True)
    sampler = TreeSampler(p.pid, interval_s).start()
    try:
        out, err = p.communicate(stdin, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        p.communicate()
        sampler.stop()
        raise RuntimeError(f"{shlex.join(argv)} did not finish in {timeout_s:.0f} s (killed)")
    wall = time.perf_counter() - t
    sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(p.returncode, out, err, wall, cpu, sampler.peak_hwm_kib * 1024, sampler.peak_sum_kib * 1024)


def peak_rss_self_bytes(pid: int | None = None) -> int:
    """VmHWM of a live process (default: this one)."""
    return _status_kib(pid or os.getpid(), ("VmHWM",)).get("VmHWM", 0) * 1024
