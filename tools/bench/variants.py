"""arcwhisper variants as data: a name, extra CLI arguments, a model-name suffix, environment.

    --variant 'batch8:args=--batch-size 8'
    --variant 'int8:model=-int8'
    --variant 'f32:env=ARCWHISPER_INFERENCE_PRECISION=f32'
    --variant 'int8-batch8:model=-int8;args=--batch-size 8'
    --variant 'before:cmd=/tmp/aw-90576ca/arcwhisper-transcribe;model=-int8'

Fields after `NAME:` are `;`-separated `key=value`: `args` (shell words), `model` (appended to
the model name: tiny.en -> tiny.en-int8), `env` (shell words of KEY=VALUE), `cmd` (shell words:
another arcwhisper-transcribe, such as a build of an earlier commit, so that two versions of the
code run alternated in one run). A variant whose flag is not in `arcwhisper-transcribe --help`,
whose model folder is missing or whose `cmd` does not exist is skipped with one line saying why
(`availability`), so a benchmark runs with whatever today's build offers.
"""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

# Issue 12: arcwhisper's default and each of batching / int8 / precision on and off.
DEFAULT_SPECS = (
    "batch1:args=--batch-size 1",
    "batch8:args=--batch-size 8",
    "int8:model=-int8",
    "f32:env=ARCWHISPER_INFERENCE_PRECISION=f32",
    "bf16:env=ARCWHISPER_INFERENCE_PRECISION=bf16",
)


@dataclass(frozen=True)
class Variant:
    name: str
    args: tuple[str, ...] = ()
    model_suffix: str = ""
    env: dict[str, str] = field(default_factory=dict)
    cmd: tuple[str, ...] = ()    # empty: the benchmark's own arcwhisper-transcribe

    def model(self, base: str) -> str:
        return base + self.model_suffix

    def describe(self) -> str:
        parts = list(self.args)
        if self.model_suffix:
            parts.append(f"model {self.model_suffix}")
        parts += [f"{k}={v}" for k, v in self.env.items()]
        if self.cmd:
            parts.append("cmd " + shlex.join(self.cmd))
        return " ".join(parts) or "default"


DEFAULT = Variant("default")


def parse(spec: str) -> Variant:
    name, sep, rest = spec.partition(":")
    name = name.strip()
    if not NAME.match(name):
        raise ValueError(f"variant {spec!r}: the name must be letters, digits, '.', '_', '-' "
                         "(e.g. 'batch8:args=--batch-size 8')")
    args: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    suffix, env = "", {}
    for item in (rest.split(";") if sep else []):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise ValueError(f"variant {spec!r}: {item!r} is not key=value (keys: args, model, env, cmd)")
        if key == "args":
            args = tuple(shlex.split(value))
        elif key == "model":
            suffix = value.strip()
        elif key == "env":
            for word in shlex.split(value):
                k, eq2, v = word.partition("=")
                if not eq2 or not k:
                    raise ValueError(f"variant {spec!r}: env entry {word!r} is not KEY=VALUE")
                env[k] = v
        elif key == "cmd":
            cmd = tuple(shlex.split(value))
        else:
            raise ValueError(f"variant {spec!r}: unknown key {key!r} (args, model, env, cmd)")
    return Variant(name, args, suffix, env, cmd)


def parse_all(specs: list[str] | None) -> list[Variant]:
    """`--variant` values (default: DEFAULT_SPECS); names must be unique."""
    out = [parse(s) for s in (specs if specs else DEFAULT_SPECS)]
    names = [v.name for v in out]
    dup = {n for n in names if names.count(n) > 1 or n == DEFAULT.name}
    if dup:
        raise ValueError(f"variant names must be unique and not 'default': {', '.join(sorted(dup))}")
    return out


def help_flags(help_text: str) -> set[str]:
    return set(re.findall(r"--[A-Za-z0-9][A-Za-z0-9-]*", help_text))


def availability(v: Variant, help_text: str, models: list[str], model_dir,
                 cpu_caps: list[str] | None = None) -> str | None:
    """None if the variant can run for every model, else the reason it is skipped.

    `model_dir(name)` returns the IR folder of a model name or None; `cpu_caps` is OpenVINO's
    CPU OPTIMIZATION_CAPABILITIES (a bf16 request on a CPU without BF16 would silently run f32).
    """
    if v.cmd and shutil.which(v.cmd[0]) is None:
        return f"no such command {v.cmd[0]}"
    flags = help_flags(help_text)
    for a in v.args:
        flag = a.split("=", 1)[0]
        if flag.startswith("--") and flag not in flags:
            return f"arcwhisper-transcribe --help has no {flag}"
    missing = [v.model(m) for m in models if v.model_suffix and model_dir(v.model(m)) is None]
    if missing:
        return f"no model folder {', '.join(missing)} (set-up converts it once the variant exists)"
    wants_bf16 = any(k.endswith("_PRECISION") and val.lower() == "bf16" for k, val in v.env.items())
    if wants_bf16 and cpu_caps is not None and "BF16" not in cpu_caps:
        return "OpenVINO reports no BF16 on this CPU (it would run f32)"
    return None


def select(variants: list[Variant], help_text: str, models: list[str], model_dir, say,
           cpu_caps: list[str] | None = None) -> list[Variant]:
    """The variants that can run; one line through `say` for each skipped one."""
    keep = []
    for v in variants:
        why = availability(v, help_text, models, model_dir, cpu_caps)
        if why:
            say(f"skipping arcwhisper variant {v.name} ({v.describe()}): {why}")
        else:
            keep.append(v)
    return keep


def find_model_dir(name: str) -> Path | None:
    from common import model_search_dirs
    for d in model_search_dirs():
        if (d / name / "openvino_encoder_model.xml").is_file():
            return d / name
    return None


def cpu_capabilities() -> list[str] | None:
    try:
        import openvino as ov
        return list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception:   # no openvino in this Python: do not guess
        return None
