# nsdval: `make demo` and `make test` are the whole quick start on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.nsdval-installed
DEMO_OUT  ?= reports/demo
DEMO_DATA ?= .cache/synth-demo
JOBS    ?= 2
# pytest runs $(JOBS) workers: one BLAS thread each (OpenBLAS threads spin; more threads
# than cores made the suite's small linear algebra many times slower)
ONE_THREAD = OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

# The Brain-Score environment (brainscore-vision 2.4.2 without torch: numpy 1.26, xarray
# 2022.3, pandas 2.x, scikit-learn 1.5, Python 3.11), built once in $(BS_VENV); `make test`
# runs the fast suite and the peer tests against Brain-Score's own code there.
BS_PYTHON ?= python3.11
BS_VENV   ?= .venv-brainscore
BS_BIN     = $(BS_VENV)/bin
BS_STAMP   = $(BS_VENV)/.installed
BS_REQS    = requirements/brainscore.txt requirements/brainscore-nodeps.txt

.PHONY: install demo test test-fast bench lint format clean brainscore-env peer browser-deps wheel-smoke

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

$(BS_STAMP): pyproject.toml $(BS_REQS)
	rm -rf $(BS_VENV)
	$(BS_PYTHON) -m venv $(BS_VENV)
	$(BS_BIN)/python -m pip install --quiet --upgrade pip
	$(BS_BIN)/python -m pip install --quiet --no-deps -r requirements/brainscore-nodeps.txt
	$(BS_BIN)/python -m pip install --quiet --no-warn-conflicts -r requirements/brainscore.txt
	$(BS_BIN)/python -m pip install --quiet --no-warn-conflicts -c requirements/brainscore.txt -e '.[test]'
	BS_INSTALL_DEPENDENCIES=no $(BS_BIN)/python .ci/brainscore_env.py
	touch $(BS_STAMP)

brainscore-env: $(BS_STAMP)

peer: $(BS_STAMP)
	$(ONE_THREAD) $(BS_BIN)/python -m pytest -n $(JOBS) --dist loadgroup -m "not slow"
	$(ONE_THREAD) $(BS_BIN)/python -m pytest -n $(JOBS) --dist loadgroup tests/peer

demo: $(STAMP)
	$(BIN)/nsdval demo --out $(DEMO_OUT) --data $(DEMO_DATA) --jobs $(JOBS)

# The browser tests (tests/browser) drive Debian's Chromium headless through Playwright;
# installed here when missing (CI is a fresh Debian machine, run as root). Never `playwright install`.
CHROMIUM ?= /usr/bin/chromium
browser-deps:
	@if [ ! -x $(CHROMIUM) ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; fi

test: $(STAMP) $(BS_STAMP) browser-deps
	$(BIN)/ruff check nsdval tests benchmarks
	$(ONE_THREAD) $(BIN)/python -m pytest -n $(JOBS) --dist loadgroup
	$(MAKE) peer

# build the wheel, install it in a fresh venv (no checkout) and run the demo suite there
wheel-smoke: $(STAMP)
	PYTHON=$(PYTHON) bash .ci/wheel_smoke.sh

test-fast: $(STAMP)
	$(ONE_THREAD) $(BIN)/python -m pytest -m "not slow" -n $(JOBS)

# `make bench BENCH_ARGS=--real` runs every benchmark at NSD's real sizes (GBs in /tmp, ~30 min)
BENCH_ARGS ?=
bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script $(BENCH_ARGS) || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check nsdval tests benchmarks
	$(BIN)/ruff format --check nsdval tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format nsdval tests benchmarks

clean:
	rm -rf $(DEMO_OUT) .cache .pytest_cache
