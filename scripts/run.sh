#!/usr/bin/env bash
# Set up, fetch MNIST and run the whole pipeline at the scale params.yaml selects.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/bin/activate
[ -d .git ] || git init -q
[ -d .dvc ] || dvc init -q
[ -f data/mnist/train_images.npy ] || synthset fetch-mnist
dvc repro "$@"
