# lossdoctor: `make run` starts everything locally, `make test` runs the whole suite (the one CI command).
# `make run` first runs `make install` (what running needs), `make test` runs `make install-test` (that and
# the test tools); neither needs root, and each does nothing when nothing changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Written after a successful install; newer pyproject.toml means install again.
STAMP := $(VENV)/.lossdoctor-installed
TEST_STAMP := $(VENV)/.lossdoctor-test-installed
# The torch build to install first, so the project's `torch>=2.2` never pulls a CUDA build by itself.
TORCH_PIN := torch==2.13.0
HOST ?= 127.0.0.1
PORT ?= 8000
REDIS_PORT ?= 6390

.PHONY: install install-test run test lint clean

install: $(STAMP)

install-test: $(TEST_STAMP)

# torch is installed first, then named again beside the project so pip's resolver keeps that build.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet '$(TORCH_PIN)'
	$(BIN)/python -m pip install --quiet '$(TORCH_PIN)' -e .
	@touch $(STAMP)

$(TEST_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet '$(TORCH_PIN)' -e '.[test]'
	@touch $(TEST_STAMP)

run: install
	@echo "Starting lossdoctor on http://$(HOST):$(PORT) (Ctrl-C stops it). In another shell:"
	@echo "  curl -s -X POST http://$(HOST):$(PORT)/v1/jobs -H 'Content-Type: application/json' --data @examples/lr_1.json"
	@echo "  curl -s http://$(HOST):$(PORT)/v1/jobs/<id>"
	@echo "  open http://$(HOST):$(PORT)/v1/jobs/<id>/report"
	@ls examples/*.json 2>/dev/null | sed 's/^/  example: /' || true
	$(BIN)/lossdoctor up --host $(HOST) --port $(PORT) --redis-port $(REDIS_PORT)

test: install-test
	$(BIN)/pytest

# Formatting and lint over the whole tree, and types over the three packages; CI runs this before the suite.
lint: install-test
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy worker service lossdoctor

clean:
	rm -rf $(VENV) var
