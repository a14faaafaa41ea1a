#!/usr/bin/env bash
# Submit the per-card array over a shared scene folder, then the report once every task has
# ended (whatever its exit): examples/slurm/submit.sh CARDS SCENE_FOLDER
#   CARDS  number of array tasks = cards to use at once (each task asks for --gres=gpu:1)
# Extra sbatch options (partition, account) go in SBATCH_* variables or in the scripts' headers.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 CARDS SCENE_FOLDER" >&2; exit 2; }
cards="$1" scenes="$2"
case "$cards" in '' | *[!0-9]* | 0) echo "CARDS must be a positive number" >&2; exit 2 ;; esac
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
array=$(sbatch --parsable --array="0-$((cards - 1))" "$here/arcwhisper-array.sbatch" "$scenes")
report=$(sbatch --parsable --dependency="afterany:${array%%;*}" "$here/report.sbatch" "$scenes")
echo "array job $array ($cards tasks), report job $report"
