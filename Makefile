# Developer entry points: `make lab` opens the notebooks, `make test` runs the tests.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
LAB_ARGS ?=
PYTEST_ARGS ?=
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

BIN := $(VENV)/bin
# JupyterLab refuses to run as root (e.g. in a container) unless told to.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
STAMP := $(VENV)/.installed

.PHONY: install lab test clean distclean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -c "import torch, torchvision" 2>/dev/null || $(BIN)/python -m pip install $(TORCH_SPEC)
	$(BIN)/python -m pip install -e '.[test]'
	touch $(STAMP)

lab: $(STAMP)
	@if ls notebooks/*.py >/dev/null 2>&1; then $(BIN)/jupytext --sync notebooks/*.py; fi
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ALLOW_ROOT) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests $(PYTEST_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
