#!/usr/bin/env bash
# What the console's browser test needs: Debian's chromium (never a browser download by
# Playwright) and the pinned playwright-core in tests/browser (npm ci from its lock file).
# Installs what is missing, or stops with a message that says what to do.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=${SWITCHYARD_CHROMIUM:-/usr/bin/chromium}

fail() {
  echo "error: $*" >&2
  exit 2
}

if [ ! -x "$CHROMIUM" ]; then
  command -v apt-get >/dev/null 2>&1 ||
    fail "$CHROMIUM is missing and apt-get is not available. Install Chromium and set SWITCHYARD_CHROMIUM to its path."
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "$CHROMIUM is missing; run 'apt-get update && apt-get install -y chromium' as root."
    sudo="sudo"
  fi
  echo "==> installing chromium (apt-get)" >&2
  $sudo apt-get update -qq || fail "apt-get update failed; install chromium yourself (apt-get install -y chromium)."
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null ||
    fail "apt-get install chromium failed; install it yourself or set SWITCHYARD_CHROMIUM."
  [ -x "$CHROMIUM" ] || fail "chromium was installed but $CHROMIUM is not there; set SWITCHYARD_CHROMIUM to its path."
fi

command -v node >/dev/null 2>&1 || fail "node is missing: install Node.js 18 or later (apt-get install -y nodejs npm)."
command -v npm >/dev/null 2>&1 || fail "npm is missing: install it (apt-get install -y npm)."
# npm ci again only when the installed playwright-core is not the pinned one.
want=$(node -p "require('./tests/browser/package-lock.json').packages['node_modules/playwright-core'].version")
have=$(node -p "try { require('./tests/browser/node_modules/playwright-core/package.json').version } catch { '' }")
if [ "$want" != "$have" ]; then
  echo "==> npm ci in tests/browser (playwright-core $want, pinned)" >&2
  (cd tests/browser && npm ci --no-audit --no-fund --ignore-scripts >/dev/null) ||
    fail "npm ci in tests/browser failed; the npm registry must be reachable."
fi
