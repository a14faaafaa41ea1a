#!/usr/bin/env bash
# One gst-launch-1.0 pipeline per device over one folder of scenes:
#
#   gst-launch-1.0 -m -e sceneckpt location=SCENES task=TASK device-label=DEV \
#       ! arcwhisper device=DEV ! sceneckptsink
#
# The pipelines share the folder through the claim files: whichever device is free takes the next
# scene. Each pipeline logs to LOGS/<device>.log: its bus messages and errors, and the GStreamer
# debug log of our elements at INFO (GST_DEBUG=1,arcwhisper*:4,sceneckpt*:4, plus any GST_DEBUG
# you set), so a crash can be debugged from the log alone. While they run, this script shows a
# progress bar with ETA on a terminal (plain lines otherwise) of scenes done per device (from the
# done markers, which record the device); at the end it prints a summary, runs sceneckpt-report
# on the stats file (table + SVG timeline), says where the SRT files are and shows one.
# Rerunning resumes: scenes already done are skipped.
#
# Usage: examples/per-card.sh [--scenes DIR] [--task subtitles] [--model NAME|DIR]
#                             [--markers-dir DIR] [--logs DIR] [--stale SECONDS] [--fresh]
#                             [-q|-v] [DEVICE...]
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
#   -q, --quiet  no progress, report nor SRT preview: errors and the one-line result only
#   -v, --verbose  also a line per finished scene (device, audio and wall seconds)
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
verbosity=1
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
    -q | --quiet) verbosity=0 ;;
    -v | --verbose) verbosity=2 ;;
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
        rm -f "$scenes/$s.srt"
    done
    # Every marker of this task, also the hashed names of very long stems (.<head>~<hash>.<task>.done).
    rm -f "$markers"/.*."$task".done "$markers"/.*."$task".failed
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

# say_step / say: headings and lines for a person (not with --quiet).
say_step() { [ "$verbosity" -lt 1 ] || step "$@"; }
say() { [ "$verbosity" -lt 1 ] || info "$@"; }

# The GStreamer debug log of our elements at INFO, everything else at ERROR; a GST_DEBUG of the
# caller comes last, so it wins where it names the same categories. It goes to gst-launch's
# stderr, i.e. the card's log (GST_DEBUG_FILE is not used: GStreamer opens it with "w", which
# would truncate and overwrite the lines gst-launch appends to the same file).
pipeline_debug="1,arcwhisper*:4,sceneckpt*:4${GST_DEBUG:+,$GST_DEBUG}"

declare -A before pid rc
for d in "${devices[@]}"; do before[$d]=$(done_count "$d"); done
done_before=$(done_count)

say_step "$total scenes in $scenes, $done_before already done; task '$task'; devices: ${devices[*]}"
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
    printf 'GST_DEBUG=%s gst-launch-1.0 -m -e %s\n' "$pipeline_debug" "${args[*]}" >"$log"
    env -u GST_DEBUG_FILE GST_DEBUG="$pipeline_debug" GST_DEBUG_NO_COLOR=1 \
        gst-launch-1.0 -m -e "${args[@]}" >>"$log" 2>&1 </dev/null &
    pid[$d]=$!
    say "$d: pid ${pid[$d]}, log $log"
done

# progress_line: "3/6 scenes (CPU:0 2, CPU:1 1), failed 0, 12 s, ETA 12 s"
progress_line() {
    local per="" d now this_run=0 left eta='?' t
    for d in "${devices[@]}"; do
        now=$(($(done_count "$d") - ${before[$d]}))
        this_run=$((this_run + now))
        per+="$d $now, "
    done
    now=$(done_count)
    left=$((total - now - $(failed_count)))
    t=$(elapsed "$t_start")
    if [ "$left" -le 0 ]; then
        eta=0
    elif [ "$this_run" -gt 0 ]; then
        eta=$(awk -v t="$t" -v n="$this_run" -v l="$left" 'BEGIN { printf "%.0f", t / n * l }')
    fi
    printf '%s/%s scenes (%s), failed %s, %.0f s, ETA %s s' \
        "$now" "$total" "${per%, }" "$(failed_count)" "$t" "$eta"
}
# bar DONE TOTAL: [=========>          ]
bar() {
    awk -v d="$1" -v t="$2" 'BEGIN { w = 24; f = (t > 0) ? int(w * d / t) : 0; s = "[";
        for (i = 0; i < w; i++) s = s (i < f ? "=" : (i == f ? ">" : " ")); print s "]" }'
}
# scene_lines FROM: the stats lines from line FROM on, one human line each (--verbose).
scene_lines() {
    [ -f "$stats" ] || return 0
    tail -n +"$1" "$stats" |
        sed -n 's|.*"scene": *"\([^"]*/\)\{0,1\}\([^"/]*\)".*"device": *"\([^"]*\)".*"audio_seconds": *\([0-9.]*\).*"wall_seconds": *\([0-9.]*\).*"result": *"\([^"]*\)".*|\6\t\2\t\3\t\4\t\5|p' |
        awk -F'\t' '{ printf "    %s %s on %s: %.1f s of audio in %.1f s\n", $1, $2, $3, $4, $5 }'
}

# Progress until every pipeline has exited: a bar on a terminal, a line per change otherwise.
last=''
stats_seen=1
[ ! -f "$stats" ] || stats_seen=$(($(wc -l <"$stats") + 1))
while :; do
    running=0
    for d in "${devices[@]}"; do
        kill -0 "${pid[$d]}" 2>/dev/null && running=$((running + 1))
    done
    if [ "$verbosity" -ge 2 ] && [ -f "$stats" ]; then
        n=$(wc -l <"$stats")
        if [ "$n" -ge "$stats_seen" ]; then
            [ ! -t 2 ] || printf '\r\e[K' >&2
            scene_lines "$stats_seen" >&2
            stats_seen=$((n + 1))
        fi
    fi
    cur="$(progress_line)"
    if [ "$verbosity" -ge 1 ]; then
        if [ -t 2 ]; then
            printf '\r    %s %s\e[K' "$(bar "$(done_count)" "$total")" "$cur" >&2
        elif [ "${cur%%, [0-9]* s, ETA*}" != "${last%%, [0-9]* s, ETA*}" ]; then
            printf '    %s\n' "$cur" >&2
        fi
    fi
    last="$cur"
    [ "$running" -gt 0 ] || break
    sleep 1
done
[ "$verbosity" -lt 1 ] || [ ! -t 2 ] || printf '\n' >&2
status=0
for d in "${devices[@]}"; do
    wait "${pid[$d]}"
    rc[$d]=$?
    [ "${rc[$d]}" -eq 0 ] || status=1
done
trap - INT TERM

# Summary (a failed pipeline's errors are shown even with --quiet).
say_step "summary ($(elapsed "$t_start") s)"
for d in "${devices[@]}"; do
    log="$logs/$(safe_name "$d").log"
    now=$(done_count "$d")
    say "$(printf '%-10s %3s scenes this run (%s in all)  exit %s  log %s' "$d" "$((now - ${before[$d]}))" "$now" "${rc[$d]}" "$log")"
    if [ "${rc[$d]}" -ne 0 ]; then
        [ "$verbosity" -ge 1 ] || warn "$d: exit ${rc[$d]}, log $log"
        # gst-launch's own "ERROR: from element ..." lines and ERROR-level debug lines.
        grep -E '^ERROR|[[:space:]]ERROR[[:space:]]' "$log" | tail -n 5 | sed 's/^/               /' >&2
    fi
    # The worker's own account of where it runs (pid, mask, allowed CPUs, model).
    [ "$verbosity" -lt 1 ] ||
        { grep -m1 -o 'arcwhisper: worker-start .*' "$log" || grep -m1 -o 'worker-start .*' "$log"; } |
        sed 's/^arcwhisper: //; s/^/               /' >&2
done
all_done=$(done_count)
if [ "$verbosity" -ge 1 ]; then
    info "scenes done: $all_done/$total, failed: $(failed_count)"
else
    printf 'scenes done: %s/%s, failed: %s\n' "$all_done" "$total" "$(failed_count)"
fi
[ "$all_done" -eq "$total" ] || status=1
[ "$verbosity" -ge 1 ] || exit "$status"

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
