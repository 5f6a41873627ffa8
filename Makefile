# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of PyTorch; a plain `torch` requirement would pull GBs of CUDA packages.
TORCH  ?= torch==2.13.0

.PHONY: demo test test-all install-demo install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.demo: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[demo]"
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[demo,ssl,boost,serve,ray,test]"
	touch $@

install-demo: $(VENV)/.demo
install-test: $(VENV)/.test

demo: $(VENV)/.demo
	$(BIN)/speechgrade demo

# the quick suite (slow tests left out); `make test-all` runs everything, as CI does
test: $(VENV)/.test
	$(BIN)/python -m pytest -q -m "not slow"

test-all: $(VENV)/.test
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) demo-output .pytest_cache
