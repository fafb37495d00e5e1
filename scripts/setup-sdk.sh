#!/usr/bin/env bash
# What `make sdk` and the SDK / Schemathesis tests (tests/integration/sdk.rs) need:
#   .venv-sdk          the pinned PyPI tools of requirements-sdk.txt (openapi-python-client, ruff,
#                      openapi-generator-cli with its jar, schemathesis);
#   sdk/node_modules   the pinned npm tools of sdk/package-lock.json (openapi-typescript,
#                      openapi-fetch, typescript), with npm ci;
#   java               a Java runtime for openapi-generator (Java and PHP clients): Debian's.
# Idempotent: installs only what is missing or not the pinned version, or stops with a message
# that says what to do. `--no-java` skips the Java runtime (the tests do not need it).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "error: $*" >&2
  exit 2
}

PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null 2>&1 ||
  fail "$PYTHON not found. Install Python 3.9+ (e.g. 'apt-get install python3 python3-venv') or set PYTHON."

stamp=.venv-sdk/.requirements-sdk.sha256
want=$(sha256sum requirements-sdk.txt | cut -d' ' -f1)
if ! [ -x .venv-sdk/bin/schemathesis ] || ! [ -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> Installing the pinned SDK generators and schemathesis into .venv-sdk (requirements-sdk.txt)" >&2
  "$PYTHON" -m venv .venv-sdk 2>/dev/null ||
    fail "'$PYTHON -m venv' failed. On Debian/Ubuntu install python3-venv ('apt-get install python3-venv')."
  .venv-sdk/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip ||
    fail "pip could not upgrade itself in .venv-sdk; PyPI must be reachable."
  .venv-sdk/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sdk.txt ||
    fail "pip install -r requirements-sdk.txt failed; PyPI must be reachable."
  echo "$want" >"$stamp"
fi

command -v node >/dev/null 2>&1 || fail "node is missing: install Node.js 20 or later (apt-get install -y nodejs npm)."
command -v npm >/dev/null 2>&1 || fail "npm is missing: install it (apt-get install -y npm)."
# npm ci again only when an installed tool is not the pinned one.
stale=$(cd sdk && node -e '
const lock = require("./package-lock.json").packages;
const stale = ["openapi-typescript", "openapi-fetch", "typescript"].filter((name) => {
  try { return require(`./node_modules/${name}/package.json`).version !== lock[`node_modules/${name}`].version; }
  catch { return true; }
});
console.log(stale.join(" "));')
if [ -n "$stale" ]; then
  echo "==> npm ci in sdk/ (pinned: $stale)" >&2
  (cd sdk && npm ci --no-audit --no-fund --ignore-scripts >/dev/null) ||
    fail "npm ci in sdk/ failed; the npm registry must be reachable."
fi

if [ "${1:-}" != "--no-java" ] && ! command -v java >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 ||
    fail "java is missing (openapi-generator needs a Java 11+ runtime for the Java and PHP clients); install one."
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "java is missing; run 'apt-get install -y default-jre-headless' as root."
    sudo="sudo"
  fi
  echo "==> installing a Java runtime for openapi-generator (apt-get install default-jre-headless)" >&2
  $sudo apt-get update -qq || fail "apt-get update failed; install default-jre-headless yourself."
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq default-jre-headless >/dev/null ||
    fail "apt-get install default-jre-headless failed; install a Java 11+ runtime yourself."
fi
