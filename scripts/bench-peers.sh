#!/usr/bin/env bash
# `make bench-peers`: Switchyard's connector engine side by side with Airbyte's CDK on the same
# stream of the in-repo paged source (scripts/bench_peers.py does the runs and prints the table).
# Creates .venv-peers with airbyte-cdk (pinned below) on first use, builds the CLI and fakes
# (release profile unless BENCH_PEERS_PROFILE says otherwise), then runs the bench at low
# priority. Arguments go to bench_peers.py (--records, --runs).
# Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

AIRBYTE_CDK=airbyte-cdk==7.39.1
PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "error: $PYTHON not found. Install Python 3.10+ (e.g. 'apt-get install python3 python3-venv') or set PYTHON." >&2
  exit 2
fi

# Every package of the environment is pinned (scripts/bench-peers-constraints.txt); the
# environment is made again when that file changes.
CONSTRAINTS=scripts/bench-peers-constraints.txt
wanted=$(sha256sum "$CONSTRAINTS" | cut -d' ' -f1)
if [ "$(cat .venv-peers/.constraints-sha256 2>/dev/null)" != "$wanted" ]; then
  echo "==> Installing $AIRBYTE_CDK into .venv-peers (from PyPI, pinned by $CONSTRAINTS)" >&2
  if ! "$PYTHON" -m venv .venv-peers; then
    echo "error: '$PYTHON -m venv .venv-peers' failed. On Debian/Ubuntu install python3-venv." >&2
    exit 2
  fi
  if ! .venv-peers/bin/python -m pip install --quiet --disable-pip-version-check -c "$CONSTRAINTS" "$AIRBYTE_CDK"; then
    echo "error: could not install $AIRBYTE_CDK into .venv-peers: is PyPI reachable, and is $PYTHON" >&2
    echo "       a version airbyte-cdk supports (3.10 to 3.13)? Remove .venv-peers and retry." >&2
    exit 2
  fi
  echo "$wanted" > .venv-peers/.constraints-sha256
fi
if [ ! -x .venv-peers/bin/source-declarative-manifest ]; then
  echo "error: .venv-peers has airbyte-cdk but no source-declarative-manifest; remove .venv-peers and retry." >&2
  exit 2
fi

# `--workspace` with `--bin`s, never `-p`: a package selection resolves another feature set and
# compiles the dependency tree again. The binaries' paths come from cargo's own messages, so
# CARGO_TARGET_DIR (or a `build.target-dir` setting) is followed. BENCH_PEERS_PROFILE=bench reuses
# the dependency tree `cargo bench` compiles (opt-level 3, thin LTO) instead of compiling the
# release one (fat LTO, one codegen unit).
PROFILE=${BENCH_PEERS_PROFILE:-release}
echo "==> Building the CLI and fakes: cargo build --profile $PROFILE --workspace --bin switchyard --bin switchyard-fakes" >&2
built=$(nice -n 10 cargo build --profile "$PROFILE" --workspace --bin switchyard --bin switchyard-fakes \
  --message-format json-render-diagnostics | "$PYTHON" -c '
import json, sys
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
        print(msg["target"]["name"] + "\t" + msg["executable"])
')
switchyard=$(awk -F '\t' '$1 == "switchyard" { print $2 }' <<<"$built")
fakes=$(awk -F '\t' '$1 == "switchyard-fakes" { print $2 }' <<<"$built")
if [ -z "$switchyard" ] || [ -z "$fakes" ]; then
  echo "error: cargo build reported no switchyard or switchyard-fakes binary (got: $built)" >&2
  exit 2
fi

exec nice -n 10 "$PYTHON" scripts/bench_peers.py --profile "$PROFILE" --switchyard "$switchyard" --fakes "$fakes" "$@"
