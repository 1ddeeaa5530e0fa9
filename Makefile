# stablecheckout — the commands a newcomer, CI and an operator use.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
CONFIG ?= examples/config.toml
LISTEN ?= 127.0.0.1:8080
PORT ?= 8080

.PHONY: install dev serve test lint format bench clean

$(UV):
	python3 -m pip install --user --quiet uv

install: $(UV)  ## Python venv from the lock file, plus npm tools (local EVM node, solc, tsc for sdk/js)
	$(UV) sync --frozen --quiet
	@if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi

dev: install  ## the whole payment loop: local chain, API, watchers, demo shop at /demo
	$(UV) run stablecheckout dev --port $(PORT)

serve: install  ## just the server on SQLite, on a copy of the example config (serve rewrites
	@mkdir -p .stablecheckout-serve  # the admin secret as a hash, as Ocrch does)
	@[ -f .stablecheckout-serve/config.toml ] || cp $(CONFIG) .stablecheckout-serve/config.toml
	cd .stablecheckout-serve && $(UV) run stablecheckout serve -c config.toml --listen $(LISTEN)

test: install  ## the test suite (PostgreSQL and Redis tests skip when those servers are absent)
	$(UV) run pytest

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

format: install
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

bench: install  ## benchmarks that print numbers (see docs/benchmarks.md)
	$(UV) run python bench/service_api.py

clean:
	rm -rf .venv node_modules .pytest_cache .mypy_cache .ruff_cache stablecheckout.db* .stablecheckout-dev .stablecheckout-serve
