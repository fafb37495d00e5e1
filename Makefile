# Switchyard: the two set-up commands are `make dev` (arrives with the local stack) and `make test`.
.PHONY: test bench venv fmt

## Run the whole test suite (installs moto into .venv first).
test:
	scripts/test.sh

## Criterion benchmarks (prints the figures).
bench:
	cargo bench -p switchyard --bench webhook

## Install the pinned local tools into .venv.
venv:
	scripts/setup-venv.sh

fmt:
	cargo fmt --all
