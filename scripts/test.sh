#!/usr/bin/env bash
# Set up and run the test suite (unit tests and end-to-end tests on the tiny scale).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/bin/activate
python -m pytest "$@"
