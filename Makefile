# Two commands set everything up on a fresh machine:
#   make demo   - the main job: train an MLP on moons, write plots and a graph to out/
#   make test   - every test (unit, property-based, notebooks), on both builds
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The install compiles engine/value.py and engine/backward.py (setup.py) where a C
# compiler is there, so it is redone when they change too: a compiled module older
# than its source would run the old code.
BUILD_INPUTS := pyproject.toml setup.py engine/value.py engine/backward.py engine/value.pxd engine/backward.pxd
STAMP  := $(VENV)/.installed-$(shell cat $(BUILD_INPUTS) | cksum | cut -d' ' -f1)

.PHONY: test demo bench lint dot browser clean shell notebook

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BUILD_INPUTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,plot,notebooks,dev]'
	# the notebooks' kernel: this venv's python, found first through JUPYTER_PATH
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@$(BIN)/python -c "import engine; print('chainrule:', 'compiled build (engine.COMPILED is True)' if engine.COMPILED else 'pure-Python build (no C compiler or Cython at install: engine.COMPILED is False)')"
	rm -f $(VENV)/.installed-*
	touch $@

# Graphviz's `dot` renders the diagrams. As root with apt-get (CI) install it;
# otherwise say so: the rendering tests skip themselves and everything else runs.
dot:
	@if ! command -v dot >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Graphviz (dot) with apt-get"; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	  else \
	    echo "note: Graphviz 'dot' not found; rendering tests will be skipped (apt-get install graphviz)"; \
	  fi; \
	fi

# Headless Chromium and its driver run the step-through page's browser tests
# (tests/viz/test_step_page.py). As root with apt-get install Debian's packages;
# otherwise say so: those tests skip themselves, saying why.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Chromium and chromedriver with apt-get"; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "note: chromium/chromedriver not found; browser tests will be skipped (apt-get install chromium chromium-driver)"; \
	  fi; \
	fi

# Without `dot` the rendering tests skip themselves; notebook 01, which draws its
# graphs inline, is deselected here with the same reason.
# Two runs (both run; either failing fails the target): the installed build (compiled
# where a C compiler was there), then the
# pure-Python modules (CHAINRULE_PURE=1) with the quick Hypothesis profile and without
# the notebooks (they run once, on the installed build), to keep the time down. Tests
# that need the Python source of engine.value/backward (line tracing) skip in the
# compiled run, saying so, and run in the pure one.
test: $(STAMP) dot browser
	@skip=""; if ! command -v dot >/dev/null 2>&1; then \
	  skip="--deselect notebooks/01_values_and_graphs.ipynb"; \
	  echo "note: no Graphviz 'dot': notebook 01 (inline graph pictures) is not run"; \
	fi; \
	compiled=$$($(BIN)/python -c "import engine; print(int(engine.COMPILED))"); \
	if [ "$$compiled" = 1 ]; then echo "== the compiled build"; \
	else echo "== the pure-Python build (nothing compiled at install: one run)"; fi; \
	status=0; \
	JUPYTER_PATH=$(CURDIR)/$(VENV)/share/jupyter PATH=$(CURDIR)/$(BIN):$$PATH \
	  $(BIN)/python -m pytest tests --nbmake notebooks $$skip || status=1; \
	if [ "$$compiled" = 1 ]; then \
	  echo "== the pure-Python build (CHAINRULE_PURE=1, quick Hypothesis profile, no notebooks)"; \
	  CHAINRULE_PURE=1 CI= PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q tests || status=1; \
	fi; \
	exit $$status

demo: $(STAMP)
	$(BIN)/chainrule demo

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks

# A Python prompt on the project's venv: `import engine, nn, viz` works, as in the README tour.
shell: $(STAMP)
	@echo "chainrule's Python ($(BIN)/python); the tour: README.md, 'A tour in ten lines'"
	@$(BIN)/python -q

# Jupyter Notebook on the project's venv, opened on notebooks/ (installs the jupyter extra).
notebook: $(STAMP)
	@$(BIN)/python -c "import notebook" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[jupyter]'
	JUPYTER_PATH=$(CURDIR)/$(VENV)/share/jupyter $(BIN)/jupyter notebook notebooks/

# ruff (lint rules and formatting) and mypy over the three packages (settings in
# pyproject.toml). All three run, so one run shows every problem; any failure fails.
lint: $(STAMP)
	@status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check --output-format concise . || status=1; \
	$(BIN)/mypy engine nn viz || status=1; \
	exit $$status

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis build engine/*.so
