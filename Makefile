# Two commands for a newcomer: `make run` and `make test`. Both create .venv and install first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The llama.cpp serving engine is built for this machine by scripts/install-serving-engine.sh (once;
# CMAKE_ARGS="-DGGML_CUDA=on" for NVIDIA GPUs; TUTORLOOP_SERVING=transformers skips it).
# Override for a CUDA machine, e.g. make run TORCH_INDEX="--extra-index-url <the CUDA wheel index for torch 2.13>"
TORCH_INDEX ?=

.PHONY: run test test-fast lint bench lock clean

$(STAMP): pyproject.toml requirements.lock scripts/install-serving-engine.sh
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found); set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_INDEX) -r requirements.lock
	sh scripts/install-serving-engine.sh $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tutorloop

test: $(STAMP)
	$(BIN)/lint-imports
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

test-fast: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "not integration"

bench: $(STAMP)
	$(BIN)/python bench/generate.py

lock:
	$(BIN)/python -m pip freeze --exclude-editable | sed -E 's/^torch==([0-9.]+)\+cpu/torch==\1/' \
		| grep -Eiv '^llama[-_]cpp[-_]python==' > requirements.lock.new && mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) build *.egg-info
