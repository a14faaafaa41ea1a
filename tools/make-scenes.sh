#!/usr/bin/env bash
# Make sample "home video" scenes with real speech: short MP4 files (H.264 test pattern, 320x240,
# 25 fps + AAC 48 kHz stereo, the way a camcorder tape's scenes look after splitting), each with
# the audio of one or more of the public-domain clips the repository carries (assets/speech, see
# its README.md for sources and licences), so a bare clone makes them.
#
# Usage: tools/make-scenes.sh [--refs DIR] OUT_DIR
#   --refs DIR   also write DIR/<stem>.txt, the reference transcript of each scene
#                (not into OUT_DIR: that folder holds scenes only)
# Idempotent: a scene that exists and probes as a video with an audio track is kept.
set -euo pipefail

# shellcheck source=tools/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

refs=''
out=''
while [ $# -gt 0 ]; do
    case "$1" in
    --refs)
        [ $# -ge 2 ] || die "--refs needs a folder"
        refs="$2"
        shift
        ;;
    -h | --help)
        print_header "${BASH_SOURCE[0]}"
        exit 0
        ;;
    -*) die "unknown option: $1" ;;
    *)
        [ -z "$out" ] || die "one OUT_DIR only"
        out="$1"
        ;;
    esac
    shift
done
[ -n "$out" ] || die "usage: tools/make-scenes.sh [--refs DIR] OUT_DIR"
command -v ffmpeg >/dev/null 2>&1 || die "ffmpeg not found (tools/setup.sh installs it)"
command -v ffprobe >/dev/null 2>&1 || die "ffprobe not found (part of Debian's ffmpeg)"

S="$ARCWHISPER_REPO/assets/speech"
[ -d "$S" ] || die "no speech clips at $S (the repository's assets/speech folder is missing)"

# stem | max seconds (0: whole) | clips, in order (a short silence goes between two clips)
SCENES=(
    "tape1_scene_0001|0|jfk.flac"
    "tape1_scene_0002|0|LJ001-0001.opus LJ001-0002.opus"
    "tape1_scene_0003|25|librivox_sonnet1.opus"
    "tape1_scene_0004|0|LJ001-0003.opus LJ001-0004.opus"
    "tape2_scene_0001|0|LJ001-0009.opus LJ001-0010.opus"
    "tape2_scene_0002|0|LJ001-0005.opus LJ001-0006.opus"
)

# scene_ok FILE: it exists and has one video and one audio stream of nonzero duration.
scene_ok() {
    [ -s "$1" ] || return 1
    local streams duration
    streams=$(ffprobe -v error -show_entries stream=codec_type -of csv=p=0 "$1" 2>/dev/null |
        sort | tr '\n' ' ') || return 1
    [ "$streams" = "audio video " ] || return 1
    duration=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$1" 2>/dev/null) ||
        return 1
    awk -v d="$duration" 'BEGIN { exit !(d + 0 > 1) }'
}

mkdir -p "$out"
[ -z "$refs" ] || mkdir -p "$refs"
made=0
kept=0
for scene in "${SCENES[@]}"; do
    IFS='|' read -r stem maxs clips <<<"$scene"
    dest="$out/$stem.mp4"
    read -r -a files <<<"$clips"

    if [ -n "$refs" ]; then
        # The sonnet's reference covers all 53 s; a cut scene keeps the whole text (approximate).
        text=''
        for c in "${files[@]}"; do
            text+=" $(tr -s ' \n' ' ' <"$S/${c%.*}.txt")"
        done
        printf '%s\n' "$(sed 's/^ *//; s/ *$//; s/  */ /g' <<<"$text")" >"$refs/$stem.txt"
    fi

    if scene_ok "$dest"; then
        kept=$((kept + 1))
        continue
    fi

    args=(-hide_banner -loglevel error -nostdin -y)
    filter=''
    n=0
    for c in "${files[@]}"; do
        [ -f "$S/$c" ] || die "missing speech clip $S/$c"
        args+=(-i "$S/$c")
        if [ $n -gt 0 ]; then
            # 0.6 s of silence between two clips, as a pause between two speakers.
            filter+="aevalsrc=0:s=48000:d=0.6[g$n];"
        fi
        filter+="[$n:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[a$n];"
        n=$((n + 1))
    done
    concat=''
    parts=0
    for ((i = 0; i < n; i++)); do
        if [ $i -gt 0 ]; then
            filter+="[g$i]aformat=sample_fmts=fltp:channel_layouts=stereo[s$i];"
            concat+="[s$i]"
            parts=$((parts + 1))
        fi
        concat+="[a$i]"
        parts=$((parts + 1))
    done
    trim=''
    [ "$maxs" = 0 ] || trim=",atrim=0:$maxs,afade=t=out:st=$((maxs - 1)):d=1"
    filter+="${concat}concat=n=$parts:v=0:a=1${trim}[aout]"

    tmp="$out/.$stem.tmp.mp4"
    ffmpeg "${args[@]}" \
        -f lavfi -i "testsrc=size=320x240:rate=25" \
        -filter_complex "$filter" \
        -map "$n:v" -map '[aout]' -shortest \
        -c:v libx264 -preset veryfast -tune stillimage -pix_fmt yuv420p -g 50 \
        -c:a aac -b:a 128k -ar 48000 -ac 2 \
        -movflags +faststart "$tmp"
    scene_ok "$tmp" || die "ffmpeg made no usable scene for $stem"
    mv -f "$tmp" "$dest"
    made=$((made + 1))
done

info "scenes in $out: $made made, $kept already there (${#SCENES[@]} in all)"
