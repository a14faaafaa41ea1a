"""pytest wrapper: arcwhisper's WER must be within 1 point of faster-whisper fp32 for each model,
and each int8 variant within 0.5 points of its f16 model (faster-whisper runs once per weights).

    ~/.local/share/arcwhisper/venv/bin/python -m pytest tools/bench/test_wer.py -s
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_wer_not_worse_than_faster_whisper():
    p = subprocess.run([sys.executable, str(HERE / "wer_vs_faster_whisper.py"),
                        "--models", "tiny.en,tiny.en-int8,base,base-int8"], cwd=HERE,
                       capture_output=True, text=True)
    print(p.stdout)
    print(p.stderr[-4000:], file=sys.stderr)
    assert p.returncode == 0, f"WER check failed:\n{p.stdout}\n{p.stderr[-2000:]}"
