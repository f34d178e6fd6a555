# The two set-up commands of the README: `make dashboard` (the web dashboard at http://127.0.0.1:5000) and
# `make test` (the whole suite); `make demo` runs a short training script.
# Each prepares .venv first (scripts/setup-venv.sh is idempotent and fast when nothing changed).
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup dashboard demo test lint bench bench-quick clean

setup:
	bash scripts/setup-venv.sh

dashboard:
	bash scripts/dashboard.sh

demo: setup
	$(PY) examples/quickstart.py

lint: setup
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -n 2 -p no:cacheprovider -q

bench: setup
	$(PY) benchmarks/throughput.py

bench-quick: setup
	$(PY) benchmarks/throughput.py --quick

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
