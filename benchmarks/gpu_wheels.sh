#!/usr/bin/env bash
# Fetch the loss benchmark's peer libraries as wheels for a GPU machine that cannot reach a
# package index (python 3.12 there; pure-Python wheels, their other needs - torch, torchvision,
# numpy, scikit-learn, tqdm - are on such a machine already). gpu.sh installs them from there.
#
#   bash benchmarks/gpu_wheels.sh [DIR]     # default benchmarks/.wheels (ignored by git)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-benchmarks/.wheels}
mkdir -p "$dir"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform any \
    -d "$dir" "info-nce-pytorch==0.1.4" "pytorch-metric-learning==2.9.0" "lightly==1.6.0"
ls -la "$dir"
