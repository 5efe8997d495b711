# The two commands of the README:
#   make lab   - set up .venv (first time only) and open the notebooks in JupyterLab
#   make test  - set up .venv (first time only), then lint, unit tests and every notebook (nbval)
# and, for maintainers, `make test-portable`: the notebooks again on emulated CPUs (see below).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cplus_edu-installed
# JupyterLab refuses to run as root unless told; a container or CI runs as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test install test-portable

install: $(STAMP)

LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings

# Re-installs only when pyproject.toml changes, so a second `make test` reuses the environment.
# binder/overrides.json (no "Jupyter news?" toast, no update check) becomes the lab's defaults.
# TORCH=cpu installs PyTorch's CPU-only build first (a few hundred MB instead of ~6 GB with CUDA;
# every chapter runs on a CPU). The default takes whatever `pip install torch` resolves to.
TORCH ?= default
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu

$(STAMP): pyproject.toml binder/overrides.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(if $(filter cpu,$(TORCH)),$(BIN)/python -m pip install torch torchvision --index-url $(TORCH_CPU_INDEX))
	$(BIN)/python -m pip install -e '.[dev]'
	mkdir -p $(LAB_SETTINGS) && cp binder/overrides.json $(LAB_SETTINGS)/overrides.json
	touch $@

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The notebooks on other CPUs, emulated on this one (README "Portability"): torch, oneDNN and MKL
# choose their kernels by instruction set, so a seeded run's numbers differ from machine to machine
# and every assert must hold on each. `make test` covers this machine's own CPU.
#   make test-portable          - each emulated CPU in turn;  make -j2 test-portable: side by side
CPU_avx2 := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 OMP_NUM_THREADS=2
CPU_generic := ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2 OMP_NUM_THREADS=1
PORTABLE_CPUS := avx2 generic

test-portable: $(addprefix portable-,$(PORTABLE_CPUS))

portable-%: $(STAMP)
	@echo "== notebooks on an emulated '$*' CPU: $(CPU_$*)"
	env $(CPU_$*) $(BIN)/python -c "import torch; print('torch CPU capability:', torch.backends.cpu.get_cpu_capability(), '| threads:', torch.get_num_threads())"
	env $(CPU_$*) $(BIN)/python -m pytest notebooks $(PYTEST_ARGS)
