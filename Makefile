# Everything a fresh machine needs: Python 3.11, git and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_RUN  := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
STAMP_BENCH := $(VENV)/.installed-bench
# the modules setup.py compiles and those they import: an edit to one reinstalls (recompiles) before the next run
COMPILED_SRC := $(shell $(PYTHON) -c 'import runpy; b = runpy.run_path("src/alluse/build.py"); print(*map(b["module_source"], b["build_inputs"]()))')
BUILD_INPUTS := pyproject.toml setup.py src/alluse/build.py $(COMPILED_SRC)

.PHONY: run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): $(BUILD_INPUTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): $(BUILD_INPUTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/alluse run --config configs/demo.toml $(ARGS)

# The suite runs against the build installed (compiled where the machine could), then, if that one is
# compiled, once more on the sources (ALLUSE_PURE=1): both builds must keep every guarantee.
test: $(STAMP_TEST)
	bash scripts/ensure-promtool.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	if $(BIN)/python -c 'import sys, alluse.build as b; sys.exit(not b.compiled_modules())'; then \
		ALLUSE_PURE=1 $(BIN)/python -m pytest $(PYTEST_ARGS); fi

# the full run judges MD-1's and OR-1's targets against NautilusTrader on the same work: the compare extra
$(STAMP_BENCH): $(BUILD_INPUTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,compare]'
	touch $@ $(STAMP_TEST) $(STAMP_RUN)

bench: $(STAMP_BENCH)
	$(BIN)/alluse bench --out bench-results

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
