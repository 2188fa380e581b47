# nsdval: `make demo` and `make test` are the whole quick start on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.nsdval-installed
DEMO_OUT  ?= reports/demo
DEMO_DATA ?= .cache/synth-demo
JOBS    ?= 2

.PHONY: install demo test test-fast bench lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/nsdval demo --out $(DEMO_OUT) --data $(DEMO_DATA) --jobs $(JOBS)

test: $(STAMP)
	$(BIN)/ruff check nsdval tests benchmarks
	$(BIN)/python -m pytest -n $(JOBS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -n $(JOBS)

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check nsdval tests benchmarks
	$(BIN)/ruff format --check nsdval tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format nsdval tests benchmarks

clean:
	rm -rf $(DEMO_OUT) .cache .pytest_cache
