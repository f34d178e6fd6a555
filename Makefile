# The two set-up commands of the README: `make demo` (the main job) and `make test` (the whole suite).
# Each prepares .venv first (scripts/setup-venv.sh is idempotent and fast when nothing changed).
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint bench bench-quick clean

setup:
	bash scripts/setup-venv.sh

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
