#!/usr/bin/env bash
# Called by meson.build: builds the workspace with cargo in meson's build folder and copies the
# files meson installs into the custom target's output folder.
#
# meson-cargo.sh CARGO SOURCE_ROOT TARGET_DIR OUT_DIR PROFILE FILE...
set -euo pipefail
cargo="$1" src="$2" target="$3" out="$4" profile="$5"
shift 5
args=(build --manifest-path "$src/Cargo.toml" --target-dir "$target" --workspace)
case "$profile" in
release) args+=(--release) dir="$target/release" ;;
debug) dir="$target/debug" ;;
*) echo "meson-cargo.sh: unknown profile $profile" >&2; exit 2 ;;
esac
"$cargo" "${args[@]}"
for f in "$@"; do
    cp -f "$dir/$f" "$out/$f.tmp"
    mv -f "$out/$f.tmp" "$out/$f"
done
