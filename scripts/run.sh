#!/usr/bin/env bash
# Set up, fetch MNIST, import every image-folder dataset (FIDS30 from fids30.data.source, and any
# added with `synthset datasets add`) and run the whole pipeline at the scale params.yaml selects.
# Without FIDS30 it stops here, before any work, saying how to get it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/bin/activate
[ -d .git ] || git init -q
[ -d .dvc ] || dvc init -q
[ -f data/mnist/train_images.npy ] || synthset fetch-mnist
synthset fetch-images
synthset repro "$@"  # `dvc repro` with independent stages side by side, every stage started warm
dvc push             # every output into the DVC remote (.dvc/config), so `synthset datasets checkout` can restore this version
