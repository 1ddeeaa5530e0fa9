# stablecheckout — the commands a newcomer, CI and an operator use.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
CONFIG ?= examples/config.toml
LISTEN ?= 127.0.0.1:8080
PORT ?= 8080

.PHONY: install dev serve test test-slow test-all lint format bench clean

$(UV):
	python3 -m pip install --user --quiet uv

# --compile-bytecode: the tests start many `python -m app.cli` processes; without .pyc files (e.g.
# PYTHONDONTWRITEBYTECODE=1 in the environment) each one compiles its imports from source first,
# ~1 s of CPU per process. Only the first sync pays for it.
install: $(UV)  ## Python venv from the lock file, plus npm tools (local EVM node, solc, tsc for sdk/js)
	$(UV) sync --frozen --quiet --compile-bytecode
	@if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi

dev: install  ## the whole payment loop: local chain, API, watchers, demo shop at /demo
	$(UV) run stablecheckout dev --port $(PORT)

serve: install  ## just the server on SQLite, on a copy of the example config with fresh secrets
	@mkdir -p .stablecheckout-serve  # (serve rewrites the admin secret as a hash, as Ocrch does)
	@[ -f .stablecheckout-serve/config.toml ] || { \
	  merchant=$$($(UV) run stablecheckout gen-secret) && admin=$$($(UV) run stablecheckout gen-secret) && \
	  sed -e "s|replace-me-merchant-secret|$$merchant|" -e "s|replace-me-admin-secret|$$admin|" \
	    $(CONFIG) > .stablecheckout-serve/config.toml && \
	  echo "admin secret: $$admin (shown once: the config keeps only its hash)"; }
	cd .stablecheckout-serve && $(UV) run stablecheckout serve -c config.toml --listen $(LISTEN)

# `make test`: every test a contributor needs, on TEST_WORKERS pytest-xdist workers (whole files per
# worker, tests/xdist_groups.py; 3 on 2 cores, since a third of the time is waiting on servers,
# blocks and leases); TEST_WORKERS=0 runs them in one process. `make test-slow`: the
# multi-minute fault-injection runs (marker `slow`), one at a time. CI runs both. PYTEST_ARGS is
# passed on (e.g. PYTEST_ARGS="-x tests/watchers"). pytest's exit code 5 (no test collected) fails
# with a message: a marker or path that selects nothing must not look like a pass.
TEST_WORKERS ?= 3
PYTEST_ARGS ?=
define run_pytest
	@$(UV) run python -m compileall -q app watchers sdk/python/src
	@code=0; $(UV) run pytest $(1) || code=$$?; \
	if [ $$code -eq 5 ]; then echo "make $@: pytest collected no test: check the marker and paths" >&2; fi; \
	exit $$code
endef

test: install  ## the test suite, in parallel, without the `slow` runs (PostgreSQL and Redis tests skip when those servers are absent)
	$(call run_pytest,-m "not slow" -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS))

test-slow: install  ## the multi-minute fault-injection runs (tests/reliability), which CI also runs
	$(call run_pytest,-m slow $(PYTEST_ARGS))

test-all: test test-slow  ## both, as CI runs them

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
