# lossdoctor: `make run` starts everything locally, `make test` runs the whole suite.
# Both first run `make install`, which needs no root and does nothing when nothing changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Written after a successful install; newer pyproject.toml means install again.
STAMP := $(VENV)/.lossdoctor-installed
# The torch build to install first, so the project's `torch>=2.2` never pulls a CUDA build by itself.
TORCH_PIN := torch==2.13.0
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet '$(TORCH_PIN)'
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: install
	@echo "Starting lossdoctor on http://$(HOST):$(PORT) (Ctrl-C stops it). In another shell:"
	@echo "  curl -s -X POST http://$(HOST):$(PORT)/v1/jobs -H 'Content-Type: application/json' --data @examples/lr_1.json"
	@echo "  curl -s http://$(HOST):$(PORT)/v1/jobs/<id>"
	@echo "  open http://$(HOST):$(PORT)/v1/jobs/<id>/report"
	@ls examples/*.json 2>/dev/null | sed 's/^/  example: /' || true
	$(BIN)/lossdoctor up --host $(HOST) --port $(PORT)

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check service lossdoctor worker/task.py worker/store.py worker/settings.py \
		worker/rq_worker.py worker/redis_server.py worker/reconnect.py scripts tests/service tests/integration tests/conftest.py

clean:
	rm -rf $(VENV) var
