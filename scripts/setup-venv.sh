#!/usr/bin/env bash
# Creates .venv and installs the pinned local tools (moto server, ...) from requirements-dev.txt.
# Idempotent: does nothing when .venv already matches requirements-dev.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "error: $PYTHON not found. Install Python 3.9+ (e.g. 'apt-get install python3 python3-venv') or set PYTHON." >&2
  exit 2
fi

stamp=.venv/.requirements-dev.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ -x .venv/bin/moto_server ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

echo "==> Installing pinned local tools into .venv (requirements-dev.txt)" >&2
if ! "$PYTHON" -m venv .venv 2>/dev/null; then
  echo "error: '$PYTHON -m venv' failed. On Debian/Ubuntu install python3-venv ('apt-get install python3-venv')." >&2
  exit 2
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
echo "$want" > "$stamp"
echo "==> .venv ready: $(.venv/bin/moto_server --version 2>/dev/null || echo moto server installed)" >&2
