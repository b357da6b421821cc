# partnermatch — the two commands the README starts with:
#   make run    set up .venv, load the shipped catalogue, serve the API (and web console) on :8000
#   make test   set up .venv (+ PostgreSQL and Chromium from Debian for the Postgres and browser tests), run the
#               checks of `make lint` and the whole test suite
#   make lint   ruff, mypy on the packages and the import-linter layers contract (all configured in pyproject.toml)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run test lint

$(BIN)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	# torch first, pinned to the CPU build: an unpinned torch pulls a multi-GB CUDA build
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

setup: $(BIN)/.installed

run: setup
	$(BIN)/partnermatch db init
	$(BIN)/partnermatch serve --host $(HOST) --port $(PORT)

test: setup lint
	scripts/ensure-postgres.sh
	scripts/ensure-chromium.sh
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
