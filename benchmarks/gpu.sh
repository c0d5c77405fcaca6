#!/usr/bin/env bash
# The GPU run: batched vs sequential training (E = 1 ... 4096), InfoNCE against its peers and the
# memory-bandwidth floor, and `clustertheory reproduce --scale paper --device cuda`, each part
# time-boxed, all results under OUT.
#
#   bash benchmarks/gpu.sh OUT [--smoke] [--budget SECONDS] [--jobs N]
#
#   OUT        folder for every file the run writes (created); nothing is written elsewhere
#   --smoke    the whole script on the CPU at toy sizes (a minute or two): checks the plumbing
#   --budget   seconds for the three measured parts together (default 360; smoke 120); they get
#              30 %, 20 % and 50 % of it, and each is stopped at its share (what it measured is
#              kept: every part writes its results file after each measurement). With the
#              default the whole script takes about 7 minutes (at most about 8).
#   --jobs     simulations side by side in the reproduce part (default 4; they share the GPU)
#
# Installs nothing from the network. Peer libraries for the loss benchmark are installed only
# from wheels already on disk: $GPU_WHEELS (default benchmarks/.wheels, made here by
# benchmarks/gpu_wheels.sh) into OUT/site; without them those peers show as "not installed".
# Uses python3 (override: PYTHON=...), which must have torch; the package is used from this
# checkout (PYTHONPATH), not installed.
#
# OUT afterwards (at most 8 files, so that they can all be fetched from a device machine):
#   environment.json                     device, versions, copy bandwidth, peers
#   batched_training_cuda.json           like benchmarks/results/batched_training.json
#   infonce_cuda.json                    like benchmarks/results/infonce.json, plus floor ratios
#   reproduce_paper_cuda.json            per simulation: wall time, or how far it got
#   reproduce.tar.gz                     its results, figures, results page, log and event log
#   GPU_SUMMARY.md                       every number against its target
#   gpu.log                              everything the parts printed
# (--smoke writes *_cpu.json instead.) Copy the *_cuda.json files to benchmarks/results/.
set -uo pipefail
cd "$(dirname "$0")/.."

out=""
smoke=0
budget=""
jobs=4
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) smoke=1 ;;
        --budget) budget="$2"; shift ;;
        --jobs) jobs="$2"; shift ;;
        -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
        -*) echo "gpu.sh: unknown option $1" >&2; exit 2 ;;
        *) out="$1" ;;
    esac
    shift
done
if [ -z "$out" ]; then
    echo "usage: bash benchmarks/gpu.sh OUT [--smoke] [--budget SECONDS] [--jobs N]" >&2
    exit 2
fi
if [ -z "$budget" ]; then
    if [ "$smoke" = 1 ]; then budget=120; else budget=360; fi
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
log="$out/gpu.log"
python=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND=Agg
start=$(date +%s)
say() { echo "[gpu.sh $(( $(date +%s) - start )) s] $*" | tee -a "$log"; }

if ! "$python" -c "import torch" 2>/dev/null; then
    say "python ($python) has no torch: nothing to measure"
    exit 1
fi
flags=()
if [ "$smoke" = 1 ]; then
    flags=(--smoke)
    say "smoke mode: CPU, toy sizes, budget ${budget} s"
elif "$python" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    say "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo 'nvidia-smi not found') ; budget ${budget} s"
else
    say "no CUDA device visible to torch; run with --smoke for the CPU check"
    exit 1
fi

wheels=${GPU_WHEELS:-benchmarks/.wheels}
if compgen -G "$wheels/*.whl" > /dev/null; then
    if "$python" -m pip install -q --no-index --no-deps --no-compile --target "$out/site" "$wheels"/*.whl >> "$log" 2>&1; then
        export PYTHONPATH="$PYTHONPATH:$out/site"  # after the machine's own packages: peers only
        say "peer wheels installed from $wheels"
    else
        say "peer wheels in $wheels did not install (see gpu.log); peers missing there show as not installed"
    fi
fi

part() {  # part NAME SECONDS: run one part under a hard time limit (its own limit plus 20 s to start and write up)
    local name=$1 seconds=$2
    say "part $name (time box ${seconds} s)"
    timeout -k 5 $(( seconds + 20 )) "$python" benchmarks/gpu_run.py "$name" --out "$out" --budget "$seconds" --jobs "$jobs" "${flags[@]}" >> "$log" 2>&1
    local status=$?
    case $status in
        0) say "part $name done" ;;
        124|137) say "part $name stopped by its time box (partial results kept)" ;;
        *) say "part $name failed with status $status (see gpu.log; partial results kept)" ;;
    esac
}

part env 20
part training $(( budget * 30 / 100 ))
part infonce $(( budget * 20 / 100 ))
part reproduce $(( budget * 50 / 100 ))
"$python" benchmarks/gpu_run.py summary --out "$out" >> "$log" 2>&1
rm -rf "$out/site"
if [ -f "$out/reproduce.tar.gz" ]; then rm -rf "$out/reproduce"; fi  # it is all in the archive: OUT stays at 7 files
say "finished in $(( $(date +%s) - start )) s; summary in $out/GPU_SUMMARY.md"
