# hospital-sim: `make run` and `make test` are all a new user needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CLI    := $(BIN)/hospital-sim

.PHONY: help install browser run init seed stream reset counts test test-unit test-db bench screenshot docs fmt lint clean distclean

help:
	@echo "make run    start the embedded PostgreSQL, create the schema, seed, stream"
	@echo "make test   run the unit and database test suites"
	@echo "other targets: install browser init seed stream reset counts bench screenshot docs fmt lint clean distclean"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hospital-sim needs Python 3.11 or newer (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,debezium,dashboard]'
	@touch $(STAMP)

install: $(STAMP)

# The browser test drives Debian's chromium through chromium-driver (Selenium).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
		echo "chromium and chromedriver are installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } \
			|| echo "could not install chromium: the browser test will be skipped"; \
	else \
		echo "the browser test will be skipped: run 'sudo make browser' (apt-get install chromium chromium-driver)"; \
	fi

run: $(STAMP)
	$(CLI) run

init: $(STAMP)
	$(CLI) init

seed: $(STAMP)
	$(CLI) seed

stream: $(STAMP)
	$(CLI) stream

reset: $(STAMP)
	$(CLI) reset

counts: $(STAMP)
	$(CLI) counts

test: test-unit test-db

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

test-db: $(STAMP)
	$(BIN)/pytest tests/db -q

# Each script prints our figure, a reference measured in the same run, and the ratio.
# BENCH_ARGS=--quick shortens the stream benchmark to a smoke run.
bench: $(STAMP)
	$(BIN)/python bench/generate.py
	$(BIN)/python bench/seed.py
	$(BIN)/python bench/stream.py $(BENCH_ARGS)
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/cdc.py
	$(BIN)/python bench/dashboard.py $(BENCH_ARGS)

# docs/dashboard.png from the real dashboard: streams, CDC capture and verification on an
# embedded server of its own, photographed by headless chromium (make browser).
# SCREENSHOT_ARGS: --warmup S, --port P, --dir D (see bench/screenshot.py).
screenshot: $(STAMP)
	$(BIN)/python bench/screenshot.py $(SCREENSHOT_ARGS)

# Regenerate docs/cli.md, docs/configuration.md, config/settings.toml, config/.env.example.
docs: $(STAMP)
	$(BIN)/python docs/gen_reference.py

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist logs test-artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Also removes the virtualenv and the embedded database (stopping it first: db stop logs,
# so it runs before clean removes logs/).
distclean:
	-[ -x $(CLI) ] && $(CLI) db stop
	$(MAKE) clean
	rm -rf $(VENV) .hospital-sim .hospital-sim-test src/*.egg-info
