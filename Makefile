# Entry points: `make lab` opens the notebooks, `make test` runs the tests, `make book` renders them.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
LAB_ARGS ?=
PYTEST_ARGS ?=
# pytest-xdist workers: auto is one per usable core (each gets its share of the threads)
TEST_WORKERS ?= auto
BOOK_OUT ?= build/book
BOOK_ARGS ?=
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
# PyTorch's wheel index, e.g. https://download.pytorch.org/whl/cpu for the CPU-only build
# (about 1 GB smaller than the default Linux wheels, which bring CUDA). Empty: pip's default.
TORCH_INDEX ?=
CONSTRAINTS ?= constraints.txt

BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
PIN := $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
# JupyterLab refuses to run as root (e.g. in a container) unless told to.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
LAB_STAMP := $(VENV)/.installed-lab
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install install-test lab test book clean distclean

install: $(LAB_STAMP)
install-test: $(TEST_STAMP)

# What the notebooks need: PyTorch, this package and JupyterLab.
$(LAB_STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(BIN)/python -c "import torch, torchvision" 2>/dev/null || $(PIP) install $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH_SPEC)
	$(PIP) install $(PIN) -e '.[lab]'
	$(BIN)/python snn_edu/cleanfilter.py --install  # outputs saved by JupyterLab stay out of git's view
	touch $@

# The test tools on top.
$(TEST_STAMP): $(LAB_STAMP)
	$(PIP) install $(PIN) -e '.[lab,test]'
	touch $@

# JupyterLab serves the whole repository (as Binder does), so the notebooks' links to docs/ open;
# it opens on the index notebook.
LAB_ROOT := .
lab: $(LAB_STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=$(LAB_ROOT) notebooks/00_index.ipynb $(ALLOW_ROOT) $(LAB_ARGS)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests $(PYTEST_ARGS)

book: $(LAB_STAMP)
	$(BIN)/python -m snn_edu book --out $(BOOK_OUT) $(BOOK_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
