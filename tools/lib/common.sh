# shellcheck shell=bash
# Helpers shared by tools/setup.sh, tools/test.sh, tools/make-scenes.sh and examples/per-card.sh.
# Source it; it defines functions and a few variables and runs nothing else.

# The repository root (this file is tools/lib/common.sh).
ARCWHISPER_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export ARCWHISPER_REPO

# ARCWHISPER_HOME: venv, converted models, OpenVINO cache, demo scenes (docs/ARCHITECTURE.md).
: "${ARCWHISPER_HOME:=${XDG_DATA_HOME:-$HOME/.local/share}/arcwhisper}"
export ARCWHISPER_HOME
ARCWHISPER_VENV="$ARCWHISPER_HOME/venv"

# The test suite's speech clips with reference transcripts: ../shared/speech beside the clone.
# (The demo and tools/make-scenes.sh use the clips the repository carries, assets/speech.)
: "${ARCWHISPER_SPEECH_DIR:=$ARCWHISPER_REPO/../shared/speech}"
export ARCWHISPER_SPEECH_DIR

if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then
    _aw_bold=$'\e[1m' _aw_red=$'\e[31m' _aw_yellow=$'\e[33m' _aw_off=$'\e[0m'
else
    _aw_bold='' _aw_red='' _aw_yellow='' _aw_off=''
fi

# step MESSAGE: a heading for one step, on stderr.
step() { printf '%s==> %s%s\n' "$_aw_bold" "$*" "$_aw_off" >&2; }
info() { printf '    %s\n' "$*" >&2; }
warn() { printf '%swarning:%s %s\n' "$_aw_yellow" "$_aw_off" "$*" >&2; }
die() {
    printf '%serror:%s %s\n' "$_aw_red" "$_aw_off" "$*" >&2
    exit 1
}

# as_root CMD...: run CMD as root (directly when we are root, else through sudo).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root for: $* (not root and no sudo; run it as root, then rerun this script)"
    fi
}

# now_s: seconds since the epoch, with fractions (for timings).
now_s() { date +%s.%N; }
# elapsed START: seconds since START (from now_s), one decimal.
elapsed() { awk -v s="$1" -v e="$(now_s)" 'BEGIN { printf "%.1f", e - s }'; }

# sha256_of FILE...: one hash over the contents of the files.
sha256_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# The venv's python (after setup).
venv_python() { printf '%s/bin/python\n' "$ARCWHISPER_VENV"; }

# gst_plugin_dir: where this checkout's release build puts the plugins (for GST_PLUGIN_PATH).
gst_plugin_dir() { printf '%s/release\n' "${CARGO_TARGET_DIR:-$ARCWHISPER_REPO/target}"; }

# print_header FILE: the comment block at the top of FILE (after the #! line), as help text.
print_header() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$1"; }
