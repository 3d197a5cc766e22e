# Two commands set everything up on a fresh machine:
#   make demo   - the main job: train an MLP on moons, write plots and a graph to out/
#   make test   - every test (unit, property-based, notebooks)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: test demo bench lint dot browser clean shell notebook

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,plot,notebooks,dev]'
	# the notebooks' kernel: this venv's python, found first through JUPYTER_PATH
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
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
test: $(STAMP) dot browser
	@skip=""; if ! command -v dot >/dev/null 2>&1; then \
	  skip="--deselect notebooks/01_values_and_graphs.ipynb"; \
	  echo "note: no Graphviz 'dot': notebook 01 (inline graph pictures) is not run"; \
	fi; \
	JUPYTER_PATH=$(CURDIR)/$(VENV)/share/jupyter PATH=$(CURDIR)/$(BIN):$$PATH \
	  $(BIN)/python -m pytest tests --nbmake notebooks $$skip

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
	rm -rf $(VENV) out .pytest_cache .hypothesis
