#!/usr/bin/env bash
# The whole test suite: installs the pinned tools, then runs every test. The tests start their
# own moto server on a free loopback port (see tests/src/lib.rs) and stop it when they end.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found. Install Rust with rustup (https://rustup.rs), then run this again." >&2
  exit 2
fi
scripts/setup-venv.sh
# PostgreSQL and MariaDB for the SQL connector tests (started here, or install instructions).
scripts/ensure-databases.sh
# Dovecot for the IMAP connector tests (each test starts its own; installed here, or instructions).
scripts/ensure-mail-servers.sh
# Debian's chromium and the pinned playwright-core for the console's browser test.
scripts/ensure-browser.sh
# The pinned Python client generator and schemathesis (.venv-sdk) for tests/integration/sdk.rs.
scripts/setup-sdk.sh --no-java

echo "==> cargo fmt --check" >&2
cargo fmt --all -- --check
echo "==> cargo clippy" >&2
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "==> cargo test" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
# The fault-injection run goes on its own after the rest: beside the other integration tests
# (they share two cores with one moto) the emulator slows down enough to leave messages in
# flight when the run checks that both queues drained. (Its 2,000-event proof is in `make bench`.)
status=0
run() {
  "$@" 2>&1 | tee -a "$log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || status=$rc
}
# Every test process leaves its log lines and stored secrets here for the secrets scan, which
# runs last.
rm -rf target/switchyard-test-logs
# Every cargo command below selects the whole workspace (`--workspace`) and narrows by target,
# never by package: a `-p` or `--exclude` selection resolves a different feature set, and Cargo
# then compiles the dependency tree a second time (about 4 minutes on two cores).
# Every test target except the two integration binaries that run on their own below:
mapfile -t other_tests < <(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    for t in p["targets"]:
        if "test" in t["kind"] and t["name"] not in ("integration", "secrets_in_logs"):
            print("--test=" + t["name"])')
if [ "${#other_tests[@]}" -eq 0 ]; then
  echo "error: cargo metadata listed no test targets; run it by hand to see why." >&2
  exit 2
fi
# Everything is built first, in one command, so the processes below start at once and do not
# wait on each other for the build.
run cargo test --workspace --lib --bins --examples --benches "${other_tests[@]}" --test integration --no-run
# Three processes side by side: the integration tests, the other test targets (the library's
# unit tests, connector_engine, the CLI's, the fakes', the benches run once), and the two-way
# soak. Most of their time is spent waiting on moto, the fakes and backoffs, not on the CPU: one
# after another they left the two cores half idle, and the soak, which libtest started last (it
# starts tests in name order), kept them idle for about two minutes at the end.
side_pids=()
side_logs=()
side() {
  local out
  out=$(mktemp)
  side_logs+=("$out")
  "$@" >"$out" 2>&1 &
  side_pids+=($!)
}
trap 'rm -f "$log" "${side_logs[@]}"' EXIT
side cargo test --workspace --lib --bins --examples --benches "${other_tests[@]}"
side cargo test --workspace --test integration -- two_way_soak_
run cargo test --workspace --test integration -- --skip fault_injection_with_ --skip browser_console_ --skip schemathesis_ --skip two_way_soak_
for i in "${!side_pids[@]}"; do
  wait "${side_pids[$i]}"
  rc=$?
  tee -a "$log" <"${side_logs[$i]}"
  [ "$rc" -eq 0 ] || status=$rc
done
run cargo test --workspace --test integration -- fault_injection_with_
# The console in a real browser, on its own: chromium beside the other tests' load is slow.
run cargo test --workspace --test integration -- browser_console_
# Schemathesis against the local API, on its own too: its runs are bounded in time, and beside
# the other tests they would test less in that time.
run cargo test --workspace --test integration -- schemathesis_
run cargo test --workspace --test secrets_in_logs
set -e
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
