#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for FUZZ_SECONDS (default 600) each, one after another,
# on one core, and prints per target: runs, execs/s, coverage and crashes.
#
#   make fuzz                                   # every target, 10 minutes each
#   FUZZ_SECONDS=30 make fuzz                   # a short run of each
#   FUZZ_TARGETS="webhook_verify" make fuzz     # some targets only
#
# Seeds come from the repo's fixtures (scripts/fuzz_seeds.py -> fuzz/corpus/, not committed).
# A crash leaves its input in fuzz/artifacts/<target>/; fix the library, then keep the input
# under fuzz/regressions/<target>/ (replayed by `cargo test -p switchyard --test fuzz_regressions`).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${FUZZ_SECONDS:-600}"
# Safe Rust: no sanitizer by default, for throughput (FUZZ_SANITIZER=address for ASan).
SANITIZER="${FUZZ_SANITIZER:-none}"
ALL_TARGETS="webhook_verify webhook_extract connector_definition request_template mapping_compile"
TARGETS="${FUZZ_TARGETS:-$ALL_TARGETS}"

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz: cargo fuzz needs a nightly toolchain and none is installed." >&2
    echo "      Install one with: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)" >&2
    cargo install cargo-fuzz --locked
fi

python3 scripts/fuzz_seeds.py
mkdir -p fuzz/logs
echo "fuzz: building the targets (nightly, sanitizer: $SANITIZER)"
cargo +nightly fuzz build -s "$SANITIZER"

summary=()
failed=0
for target in $TARGETS; do
    log="fuzz/logs/$target.log"
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    before=$(find "fuzz/artifacts/$target" -type f | wc -l)
    echo "fuzz: $target for ${SECONDS_EACH}s (log: $log)"
    status=0
    # One in-process job on one core; -timeout makes a hang a finding.
    # The kept regressions seed the run too (read only: new inputs go to the corpus).
    cargo +nightly fuzz run -s "$SANITIZER" "$target" "fuzz/corpus/$target" "fuzz/regressions/$target" -- \
        -max_total_time="$SECONDS_EACH" -timeout=25 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    after=$(find "fuzz/artifacts/$target" -type f | wc -l)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
    crashes=$((after - before))
    line=$(printf '%-22s runs %-10s execs/s %-7s cov %-6s ft %-7s crashes %s' \
        "$target" "${runs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$crashes")
    echo "$line"
    summary+=("$line")
    if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        failed=1
        grep -E 'panicked at|SUMMARY|Test unit written to' "$log" | head -5 || true
    fi
done

echo
echo "fuzz: ${SECONDS_EACH}s per target"
printf '%s\n' "${summary[@]}"
exit "$failed"
