# The two commands: `make run` (try handoff) and `make test` (prove it works).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
PORT ?= 8000
# The suite always runs on PostgreSQL (local socket by default) and a real Redis.
TEST_DATABASE_URL ?= postgres:///handoff
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test install lint format bench lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@echo "==> preparing $(VENV) (Python packages from requirements.lock)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "ERROR: could not create a virtualenv; install python3-venv"; exit 1; }
	@$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	@rm -f $(VENV)/.installed-* && touch $@

run: export DEBUG ?= true
run: export GUNICORN_CMD_ARGS ?= --reload
# the demo's sales office is in Berlin: its pages show that office's time
run: export TIME_ZONE ?= Europe/Berlin
run: export PATH := $(CURDIR)/$(BIN):$(PATH)
run: install
	@scripts/ensure-services.sh redis
	@$(BIN)/python manage.py migrate --noinput -v 0
	@$(BIN)/python manage.py seed_demo --if-empty
	@echo ""
	@echo "  handoff is starting on http://127.0.0.1:$(PORT)/"
	@echo "  demo logins (password: handoff-demo):"
	@echo "    rep        sales rep (also omar, lena, sam)"
	@echo "    manager    sales manager"
	@echo "    marketing  marketing ops (also /admin/)"
	@echo "  Ctrl-C stops web, worker and beat."
	@echo ""
	@$(BIN)/honcho start --port $(PORT)

test: install
	@scripts/ensure-services.sh postgres redis chromium
	@echo "==> ruff"
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@echo "==> pytest (PostgreSQL: $(TEST_DATABASE_URL), Redis: $(TEST_REDIS_URL))"
	@DEBUG=true DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(TEST_REDIS_URL)" $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	@$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install
	@$(BIN)/ruff check --fix . && $(BIN)/ruff format .

# Benchmarks at scale (PostgreSQL): BENCH_LEADS=1000000 by default, BENCH_REUSE=1 keeps data.
bench: install
	@scripts/ensure-services.sh postgres redis
	@$(BIN)/python bench/run.py

# Regenerate requirements.lock from the ranges in pyproject.toml, in a clean venv.
lock:
	@rm -rf /tmp/handoff-lock && $(PYTHON) -m venv /tmp/handoff-lock
	@/tmp/handoff-lock/bin/pip install -q --disable-pip-version-check -e '.[dev]'
	@/tmp/handoff-lock/bin/pip freeze --exclude-editable | grep -v '^-e ' > requirements.lock
	@rm -rf /tmp/handoff-lock && echo "requirements.lock updated"

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
