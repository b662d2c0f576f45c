#!/usr/bin/env bash
# The team's tracking services on this machine: bash scripts/services.sh up|down|status [options]
# up: PostgreSQL (Debian's package, installed here when missing) and `mlflow server` on it, data in
# .services/ (git-ignored); prints the MLFLOW_TRACKING_URI and Optuna storage to export.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "up" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq postgresql
fi
[ -x .venv/bin/synthset ] || bash scripts/setup.sh
exec .venv/bin/synthset services "$@"
