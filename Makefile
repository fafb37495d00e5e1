# Switchyard: the two set-up commands are `make dev` and `make test`.
.PHONY: dev test bench bench-peers venv fmt fuzz screenshots browser sdk

## Run Switchyard locally: emulator + template resources + local runner + demo (Ctrl-C stops).
dev:
	scripts/setup-venv.sh
	cargo run -q --bin switchyard -- local up

## Run the whole test suite (installs moto into .venv first).
test:
	scripts/test.sh

## Regenerate the console's screenshots in docs/console/ (a real browser against moto).
screenshots:
	scripts/setup-venv.sh
	scripts/ensure-browser.sh
	mkdir -p docs/console
	SWITCHYARD_CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console cargo test --workspace --test integration -- browser_console_ --nocapture

## Generate the API's clients from api/openapi.json into target/sdk/ (Python, TypeScript, Java, PHP).
sdk:
	scripts/sdk.sh

## Install what the console's browser test needs (Debian's chromium, pinned playwright-core).
browser:
	scripts/ensure-browser.sh

## Criterion benchmarks and the long proofs (print their figures).
bench:
	cargo bench --workspace --bench webhook --bench sync
	cargo bench --workspace --bench sync_throughput
	cargo bench --workspace --bench health_run
	cargo bench --workspace --bench footprint
	cargo bench --workspace --bench api_warm_path
	cargo bench --workspace --bench two_way_soak
	scripts/setup-venv.sh
	cargo test --workspace --test integration -- --ignored fault_injection_with_2000_events a_thousand_connections_are_checked --nocapture

## Switchyard beside Airbyte's CDK on the same paged stream (creates .venv-peers; several minutes).
bench-peers:
	scripts/bench-peers.sh

## Fuzz every cargo-fuzz target for FUZZ_SECONDS (default 600) each, one after another (nightly).
fuzz:
	scripts/fuzz.sh

## Install the pinned local tools into .venv.
venv:
	scripts/setup-venv.sh

fmt:
	cargo fmt --all
