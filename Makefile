# The two commands of the README:
#   make lab   - set up .venv (first time only) and open the notebooks in JupyterLab
#   make test  - set up .venv (first time only), then lint, unit tests and every notebook (nbval)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cplus_edu-installed
# JupyterLab refuses to run as root unless told; a container or CI runs as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test install

install: $(STAMP)

LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings

# Re-installs only when pyproject.toml changes, so a second `make test` reuses the environment.
# binder/overrides.json (no "Jupyter news?" toast, no update check) becomes the lab's defaults.
$(STAMP): pyproject.toml binder/overrides.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[dev]'
	mkdir -p $(LAB_SETTINGS) && cp binder/overrides.json $(LAB_SETTINGS)/overrides.json
	touch $@

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)
