#!/usr/bin/env bash
# Set up and run the test suite (unit tests and end-to-end tests on the tiny scale).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/bin/activate
# Two workers: the end-to-end pipeline (mostly process start-up) runs beside the unit tests;
# --dist loadfile keeps each file's tests, and its module fixtures, on one worker.
python -m pytest -n 2 --dist loadfile "$@"
