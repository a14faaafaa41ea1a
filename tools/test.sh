#!/usr/bin/env bash
# The whole arcwhisper test suite. Runs tools/setup.sh first (installs whatever is missing, quick
# when nothing is), then every step below even when an earlier one fails, prints a summary and
# exits non-zero if any step failed:
#   build    cargo build --release --workspace --bins   (the tests start the worker binary)
#   cargo    cargo test --release --workspace --no-fail-fast  (release: inference in debug is slow)
#   pytest   pytest tools/convert tools/bench           (the venv's python)
#   fmt      cargo fmt --all --check
#   clippy   cargo clippy --release --workspace --all-targets -- -D warnings
#            (release: it reuses the build's proc-macros and build scripts, 75 against 115 s)
#
# Usage: tools/test.sh [--no-setup] [--no-lint] [-h|--help]
# Environment: ARCWHISPER_SPEECH_DIR (default <repo>/../shared/speech), ARCWHISPER_HOME,
#   ARCWHISPER_TEST_TIMEOUT (seconds per step, default 1800)
set -uo pipefail

# shellcheck source=tools/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

setup=1
lint=1
while [ $# -gt 0 ]; do
    case "$1" in
    --no-setup) setup=0 ;;
    --no-lint) lint=0 ;;
    -h | --help)
        print_header "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

cd "$ARCWHISPER_REPO" || exit 1
t_all=$(now_s)
step_timeout="${ARCWHISPER_TEST_TIMEOUT:-1800}"

if [ "$setup" -eq 1 ]; then
    if ! "$ARCWHISPER_REPO/tools/setup.sh"; then
        printf 'test.sh: set-up FAILED, no test was run\n' >&2
        exit 1
    fi
fi

# What the tests read (exported by common.sh too; repeated here for clarity).
export ARCWHISPER_HOME ARCWHISPER_SPEECH_DIR
[ -d "$ARCWHISPER_SPEECH_DIR" ] || warn "no speech clips at $ARCWHISPER_SPEECH_DIR"
# The plugins and the worker of this checkout's release build.
GST_PLUGIN_PATH="$(gst_plugin_dir)${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export GST_PLUGIN_PATH
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

results=()
failed=0
# run NAME CMD...: one step, with a time limit; its result goes to the summary.
run() {
    local name="$1" t rc
    shift
    step "$name: $*"
    t=$(now_s)
    timeout -k 30 "$step_timeout" "$@"
    rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        results+=("$(printf '%-7s FAILED (timed out after %s s)' "$name" "$step_timeout")")
        failed=1
    elif [ "$rc" -ne 0 ]; then
        results+=("$(printf '%-7s FAILED (exit %s, %s s)' "$name" "$rc" "$(elapsed "$t")")")
        failed=1
    else
        results+=("$(printf '%-7s ok (%s s)' "$name" "$(elapsed "$t")")")
    fi
    return "$rc"
}

if run build cargo build --release --workspace --bins; then
    run cargo cargo test --release --workspace --no-fail-fast
else
    results+=("cargo   FAILED (not run: the build failed)")
    failed=1
fi

pytest_dirs=()
for d in tools/convert tools/bench; do
    [ -d "$d" ] && pytest_dirs+=("$d")
done
if [ ${#pytest_dirs[@]} -eq 0 ]; then
    results+=("pytest  FAILED (no tools/convert nor tools/bench)")
    failed=1
else
    run pytest "$(venv_python)" -m pytest "${pytest_dirs[@]}"
    if [ "$?" -eq 5 ]; then
        # pytest's 5: no test collected. Counted as a failure: a suite that runs nothing is broken.
        results[${#results[@]} - 1]="pytest  FAILED (no test collected in ${pytest_dirs[*]})"
    fi
fi

if [ "$lint" -eq 1 ]; then
    run fmt cargo fmt --all --check
    run clippy cargo clippy --release --workspace --all-targets -- -D warnings
fi

printf '\ntest.sh summary (%s s):\n' "$(elapsed "$t_all")"
for r in "${results[@]}"; do
    printf '  %s\n' "$r"
done
if [ "$failed" -ne 0 ]; then
    printf 'test.sh: FAILED\n'
    exit 1
fi
printf 'test.sh: all steps ok\n'
