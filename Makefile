# Everything a fresh machine needs: Python 3.11, git and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_RUN  := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
STAMP_BENCH := $(VENV)/.installed-bench
# pytest workers: twice the cores, as the end-to-end tests mostly wait on runs of a fixed wall time
JOBS   ?= $(shell echo $$(( 2 * $$(nproc 2>/dev/null || echo 1) )))
# the modules setup.py compiles and those they import: an edit to one reinstalls (recompiles) before the next run
COMPILED_SRC := $(shell $(PYTHON) -c 'import runpy; b = runpy.run_path("src/alluse/build.py"); print(*map(b["module_source"], b["build_inputs"]()))')
BUILD_INPUTS := pyproject.toml setup.py src/alluse/build.py $(COMPILED_SRC)

.PHONY: run test check bench promtool chromium system-packages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The package's dependencies (and those of the extras given) install while pip builds the package itself,
# which compiles the order path (about a minute): two pip processes writing different files of the venv.
define install
	$(BIN)/python scripts/requirements.py $(1) > $(VENV)/requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e . & build=$$!; \
	$(BIN)/python -m pip install --quiet -r $(VENV)/requirements.txt; deps=$$?; wait $$build && exit $$deps
endef

$(STAMP_RUN): $(BUILD_INPUTS) | $(BIN)/python
	$(call install)
	touch $@

$(STAMP_TEST): $(BUILD_INPUTS) | $(BIN)/python
	$(call install,test dev)
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/alluse run --config configs/demo.toml $(ARGS)

promtool:
	bash scripts/ensure-system-packages.sh promtool:prometheus

chromium:
	bash scripts/ensure-system-packages.sh chromium:chromium

# promtool (our /metrics and rules files), chromium (the console's browser tests), PostgreSQL and Redis (the
# cluster's tests start their own servers on loopback), in one apt-get
system-packages:
	bash scripts/ensure-system-packages.sh promtool:prometheus chromium:chromium \
		'/usr/lib/postgresql/*/bin/initdb:postgresql' redis-server:redis-server

# Lint and types, the whole suite on the build installed (compiled where the machine could), then, if that
# one is compiled, the tests that drive compiled modules once more on the sources (ALLUSE_PURE=1; the
# `compiled_path` marker, tests/conftest.py): both builds must keep every guarantee. The install and
# the apt-get of promtool and chromium (the console's browser tests) overlap; the suite runs on every core
# (pytest-xdist, idle workers taking tests from busy ones).
test:
	$(MAKE) --no-print-directory -j2 $(STAMP_TEST) system-packages
	$(MAKE) --no-print-directory check
	$(BIN)/python -m pytest -n $(JOBS) --dist worksteal $(PYTEST_ARGS)
	if $(BIN)/python -c 'import sys, alluse.build as b; sys.exit(not b.compiled_modules())'; then \
		ALLUSE_PURE=1 $(BIN)/python -m pytest -n $(JOBS) --dist worksteal -m compiled_path $(PYTEST_ARGS); fi

check: $(STAMP_TEST)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy

# with NautilusTrader (the compare extra): the targets judged against it need it in the same run
$(STAMP_BENCH): $(BUILD_INPUTS) | $(BIN)/python
	$(call install,test dev compare)
	touch $@ $(STAMP_TEST) $(STAMP_RUN)

bench: $(STAMP_BENCH)
	$(BIN)/alluse bench --repeats 5 --out bench-results

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache build src/*.egg-info
