# callbot — the two commands of the quick start are `make serve` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages: espeak-ng speaks Korean (non-neural fallback) and `callbot call --say`;
# flite is one of bench.turns' caller voices; the rest are the real peers the tests drive.
# Installed only when missing.
SERVE_DEBS := espeak-ng
SERVE_TOOLS := espeak-ng
TEST_DEBS := ffmpeg sox espeak-ng flite sip-tester baresip-core tshark
TEST_TOOLS := ffmpeg sox espeak-ng flite sipp baresip tshark

.PHONY: serve serve-debs test lint typecheck unit proto venv dev debs apt-install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.runtime

venv: $(VENV)/.runtime
dev: $(VENV)/.dev

## serve: set up and run the service with its defaults (127.0.0.1:50051, demo flow)
serve: $(VENV)/.runtime serve-debs
	$(BIN)/callbot serve

serve-debs:
	@$(MAKE) --no-print-directory apt-install DEBS="$(SERVE_DEBS)" TOOLS="$(SERVE_TOOLS)"

## debs: Debian peers for the integration tests (ffmpeg, SIPp, baresip, ...)
debs:
	@$(MAKE) --no-print-directory apt-install DEBS="$(TEST_DEBS)" TOOLS="$(TEST_TOOLS)"

apt-install:
	@missing=0; for t in $(TOOLS); do command -v $$t >/dev/null || missing=1; done; \
	if [ $$missing = 1 ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEBS) >/dev/null; \
	fi

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy

## test: set up and pass the tests (lint, types, unit and integration tests)
test: $(VENV)/.dev debs lint typecheck
	$(BIN)/pytest -q

unit: $(VENV)/.dev
	$(BIN)/pytest -q tests/unit

## proto: regenerate callbot/v1 from protos/ (tests fail when it is stale)
proto: $(VENV)/.dev
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m grpc_tools.protoc -Iprotos \
	  --python_out=. --grpc_python_out=. --mypy_out=. --mypy_grpc_out=. \
	  protos/callbot/v1/callbot.proto

bench: $(VENV)/.dev
	$(BIN)/python -m bench.rtp

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
