#!/usr/bin/env bash
# Set up and run the test suite (unit tests and end-to-end tests on the tiny scale).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The report's browser test drives Debian's headless Chromium; nothing downloads a browser of its own.
# The sweep tests start a throw-away PostgreSQL cluster from Debian's postgresql package.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium chromium-driver postgresql
fi
source .venv/bin/activate
# Two workers: the end-to-end pipeline (mostly process start-up) runs beside the unit tests;
# --dist loadfile keeps each file's tests, and its module fixtures, on one worker.
python -m pytest -n 2 --dist loadfile "$@"
