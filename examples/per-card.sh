#!/usr/bin/env bash
# One gst-launch-1.0 pipeline per device over one folder of scenes:
#
#   gst-launch-1.0 -m -e sceneckpt location=SCENES task=TASK device-label=DEV \
#       ! arcwhisper device=DEV ! sceneckptsink
#
# The pipelines share the folder through the claim files: whichever device is free takes the next
# scene. Each pipeline logs to LOGS/<device>.log. While they run, this script shows scenes
# done/total per device (from the done markers, which record the device); at the end it prints a
# summary, runs sceneckpt-report on the stats file (table + SVG timeline), says where the SRT
# files are and shows one. Rerunning resumes: scenes already done are skipped.
#
# Usage: examples/per-card.sh [--scenes DIR] [--task subtitles] [--model NAME|DIR]
#                             [--markers-dir DIR] [--logs DIR] [--stale SECONDS] [--fresh]
#                             [DEVICE...]
#   DEVICE       GPU.0 GPU.1 ... (Intel cards), CPU:0-3 (a CPU worker on those cores), CPU, AUTO;
#                default: CPU:0 CPU:1
#   --scenes     default: $ARCWHISPER_HOME/demo/scenes (made by tools/make-scenes.sh)
#   --model      arcwhisper's model property (a name, a chain "base,tiny" or a folder)
#   --markers-dir  where markers and arcwhisper-stats.jsonl go (default: next to the scenes)
#   --logs       default: <markers folder>/logs
#   --stale      sceneckpt's stale-seconds (default 60; 180 for a folder on a NAS shared by
#                several PCs, see README "Many machines")
#   --fresh      forget earlier results first: removes this task's done/failed markers, the
#                scenes' <stem>.srt files and the stats file, so every scene is redone
set -uo pipefail

# shellcheck source=tools/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tools/lib/common.sh"

scenes="$ARCWHISPER_HOME/demo/scenes"
task=subtitles
model=''
markers_dir=''
logs=''
stale=''
fresh=0
devices=()
while [ $# -gt 0 ]; do
    case "$1" in
    --scenes | --task | --model | --markers-dir | --logs | --stale)
        [ $# -ge 2 ] || die "$1 needs a value"
        case "$1" in
        --scenes) scenes="$2" ;;
        --task) task="$2" ;;
        --model) model="$2" ;;
        --markers-dir) markers_dir="$2" ;;
        --logs) logs="$2" ;;
        --stale) stale="$2" ;;
        esac
        shift
        ;;
    --fresh) fresh=1 ;;
    -h | --help)
        print_header "${BASH_SOURCE[0]}"
        exit 0
        ;;
    -*) die "unknown option: $1 (see --help)" ;;
    *) devices+=("$1") ;;
    esac
    shift
done
[ ${#devices[@]} -gt 0 ] || devices=(CPU:0 CPU:1)
[ -d "$scenes" ] || die "no folder of scenes at $scenes (make samples with tools/make-scenes.sh DIR)"
scenes="$(cd "$scenes" && pwd)"
markers="${markers_dir:-$scenes}"
mkdir -p "$markers"
markers="$(cd "$markers" && pwd)"
logs="${logs:-$markers/logs}"
mkdir -p "$logs"
stats="$markers/arcwhisper-stats.jsonl"

command -v gst-launch-1.0 >/dev/null 2>&1 || die "gst-launch-1.0 not found (run tools/setup.sh)"
# This checkout's build, when there is one (an installed plugin needs no GST_PLUGIN_PATH).
plugin_dir="$(gst_plugin_dir)"
if [ -d "$plugin_dir" ]; then
    export GST_PLUGIN_PATH="$plugin_dir${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
    PATH="$plugin_dir:$PATH"
fi
gst-inspect-1.0 arcwhisper >/dev/null 2>&1 ||
    die "GStreamer does not find the arcwhisper plugin (run tools/setup.sh, or set GST_PLUGIN_PATH)"

# The scenes: media files in the folder (not hidden). sceneckpt decides for itself; this list is
# only for counting and --fresh.
mapfile -t scene_files < <(find "$scenes" -maxdepth 1 -type f ! -name '.*' \
    -regextype posix-extended -iregex '.*\.(mp4|m4v|mov|mkv|avi|mts|m2ts|ts|dv|mpg|mpeg|vob|webm|3gp|wav|flac|mp3|m4a|ogg|opus)$' |
    sort)
total=${#scene_files[@]}
[ "$total" -gt 0 ] || die "no scene files in $scenes"

stem_of() {
    local b
    b="$(basename "$1")"
    printf '%s\n' "${b%.*}"
}

if [ "$fresh" -eq 1 ]; then
    for f in "${scene_files[@]}"; do
        s="$(stem_of "$f")"
        rm -f "$markers/.$s.$task.done" "$markers/.$s.$task.failed" "$scenes/$s.srt"
    done
    rm -f "$stats"
    info "--fresh: removed the earlier results of task '$task'"
fi

# done_count [DEV]: done markers of this task (naming DEV when given).
done_count() {
    local dev="${1:-}" n=0 f
    for f in "$markers"/.*."$task".done; do
        [ -f "$f" ] || continue
        if [ -z "$dev" ] || grep -Fq -e "\"device\":\"$dev\"" -e "\"device\": \"$dev\"" "$f"; then
            n=$((n + 1))
        fi
    done
    printf '%s\n' "$n"
}
failed_count() {
    local n=0 f
    for f in "$markers"/.*."$task".failed; do
        [ -f "$f" ] && n=$((n + 1))
    done
    printf '%s\n' "$n"
}
safe_name() { tr -c 'A-Za-z0-9.\n-' '_' <<<"$1"; }

declare -A before pid rc
for d in "${devices[@]}"; do before[$d]=$(done_count "$d"); done
done_before=$(done_count)

step "$total scenes in $scenes, $done_before already done; task '$task'; devices: ${devices[*]}"
# shellcheck disable=SC2317  # called by the trap
stop_all() {
    warn "interrupted: EOS sent, the pipelines finish their current scene and stop (rerun to resume)"
    for d in "${devices[@]}"; do kill -INT "${pid[$d]}" 2>/dev/null || true; done
}
trap stop_all INT TERM

t_start=$(now_s)
for d in "${devices[@]}"; do
    log="$logs/$(safe_name "$d").log"
    args=(sceneckpt "location=$scenes" "task=$task" "device-label=$d")
    [ -z "$markers_dir" ] || args+=("markers-dir=$markers")
    [ -z "$stale" ] || args+=("stale-seconds=$stale")
    args+=('!' arcwhisper "device=$d")
    [ -z "$model" ] || args+=("model=$model")
    args+=('!' sceneckptsink)
    printf 'gst-launch-1.0 -m -e %s\n' "${args[*]}" >"$log"
    gst-launch-1.0 -m -e "${args[@]}" >>"$log" 2>&1 </dev/null &
    pid[$d]=$!
    info "$d: pid ${pid[$d]}, log $log"
done

# Progress until every pipeline has exited.
progress_line() {
    local line="" d
    for d in "${devices[@]}"; do
        line+="$d $(($(done_count "$d") - ${before[$d]})) "
    done
    printf 'done %s/%s (this run: %s), failed %s' "$(done_count)" "$total" "${line% }" "$(failed_count)"
}
last=''
while :; do
    running=0
    for d in "${devices[@]}"; do
        kill -0 "${pid[$d]}" 2>/dev/null && running=$((running + 1))
    done
    cur="$(progress_line)"
    if [ -t 1 ]; then
        printf '\r    %s  [%s s]\e[K' "$cur" "$(elapsed "$t_start")"
    elif [ "$cur" != "$last" ]; then
        printf '    %s  [%s s]\n' "$cur" "$(elapsed "$t_start")"
    fi
    last="$cur"
    [ "$running" -gt 0 ] || break
    sleep 1
done
[ -t 1 ] && printf '\n'
status=0
for d in "${devices[@]}"; do
    wait "${pid[$d]}"
    rc[$d]=$?
    [ "${rc[$d]}" -eq 0 ] || status=1
done
trap - INT TERM

# Summary.
step "summary ($(elapsed "$t_start") s)"
for d in "${devices[@]}"; do
    log="$logs/$(safe_name "$d").log"
    now=$(done_count "$d")
    if [ "${rc[$d]}" -eq 0 ]; then
        info "$(printf '%-10s %3s scenes this run (%s in all)  exit 0  log %s' "$d" "$((now - ${before[$d]}))" "$now" "$log")"
    else
        info "$(printf '%-10s %3s scenes this run (%s in all)  exit %s  log %s' "$d" "$((now - ${before[$d]}))" "$now" "${rc[$d]}" "$log")"
        grep -E 'ERROR|error' "$log" | tail -n 5 | sed 's/^/               /' >&2
    fi
    # The worker's own account of where it runs (pid, mask, allowed CPUs, model).
    { grep -m1 -o 'arcwhisper: worker-start .*' "$log" || grep -m1 -o 'worker-start .*' "$log"; } |
        sed 's/^arcwhisper: //; s/^/               /' >&2
done
all_done=$(done_count)
info "scenes done: $all_done/$total, failed: $(failed_count)"
[ "$all_done" -eq "$total" ] || status=1

if [ -s "$stats" ]; then
    report="$(command -v sceneckpt-report || true)"
    if [ -n "$report" ]; then
        step "sceneckpt-report $stats --svg $markers/timeline.svg"
        "$report" "$stats" --svg "$markers/timeline.svg" || warn "sceneckpt-report failed"
        if [ -s "$markers/timeline.svg" ] && command -v rsvg-convert >/dev/null 2>&1; then
            rsvg-convert "$markers/timeline.svg" -o "$markers/timeline.png" &&
                info "timeline: $markers/timeline.svg (and .png)"
        fi
    else
        warn "sceneckpt-report not found (cargo build --release --workspace builds it)"
    fi
fi

mapfile -t srts < <(for f in "${scene_files[@]}"; do
    s="$scenes/$(stem_of "$f").srt"
    [ -f "$s" ] && printf '%s\n' "$s"
done)
if [ ${#srts[@]} -gt 0 ]; then
    step "${#srts[@]} SRT files next to the scenes in $scenes; the first one, ${srts[0]}:"
    head -n 24 "${srts[0]}"
else
    warn "no SRT file next to the scenes in $scenes"
fi
exit "$status"
