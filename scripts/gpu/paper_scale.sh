#!/usr/bin/env bash
# The papers' scale (params.yaml, scales.paper) on one NVIDIA GPU, recorded as a DVC experiment
# and as metrics/experiments/paper-scale.json beside the default run's numbers:
#
#   bash scripts/gpu/paper_scale.sh [more `dvc exp run` options, e.g. -S key=value]
#
# It stops before any work when TensorFlow sees no GPU. Environment:
#   SYNTHSET_SCALE=paper      the scale to run (the test suite runs it at tiny, on the CPU)
#   SYNTHSET_ALLOW_CPU=1      run without a GPU
#   SYNTHSET_SKIP_SETUP=1     .venv is already set up
set -euo pipefail
cd "$(dirname "$0")/../.."
scale="${SYNTHSET_SCALE:-paper}"
name="${scale}-scale"

if [ -z "${SYNTHSET_SKIP_SETUP:-}" ]; then
  bash scripts/setup.sh
  if command -v nvidia-smi >/dev/null; then  # the same TensorFlow, with its CUDA libraries
    version="$(.venv/bin/python -c 'import tensorflow as tf; print(tf.__version__)')"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "tensorflow[and-cuda]==${version}"
  fi
fi
source .venv/bin/activate

gpus="$(python -c 'import tensorflow as tf; print(len(tf.config.list_physical_devices("GPU")))' 2>/dev/null)"
if [ "${gpus}" = "0" ] && [ -z "${SYNTHSET_ALLOW_CPU:-}" ]; then
  echo "paper_scale.sh: TensorFlow sees no GPU (nvidia-smi: $(command -v nvidia-smi || echo missing))." >&2
  echo "Run it on a machine with an NVIDIA GPU, or set SYNTHSET_ALLOW_CPU=1 to run on the CPU." >&2
  exit 1
fi
export TF_FORCE_GPU_ALLOW_GROWTH=true  # the stages' worker processes share the GPU's memory

[ -d .git ] || git init -q
[ -d .dvc ] || dvc init -q
[ -f data/mnist/train_images.npy ] || synthset fetch-mnist
synthset fetch-images

command=(dvc exp run --name "${name}" -S "scale=${scale}" "$@")
started="$(date +%s)"
"${command[@]}"
seconds="$(( $(date +%s) - started ))"
python -m synthset.report.experiments record "${name}" --command "${command[*]}" --wall-seconds "${seconds}"
echo "${name}: ${seconds} s on ${gpus} GPU(s); metrics/experiments/${name}.json holds its numbers (commit it)."
