# Two entry points do all set-up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: run test install migrate lock clean lint format lint-service

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -qq --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) -m service migrate

run: install
	$(PY) -m service migrate
	$(PY) -m service serve

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff (lint + format check) and mypy --strict on service/ and plugins/; config in pyproject.toml.
# Not yet part of `make test`: the code base is brought to a clean run first (issue 12).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The service's share of `make lint` (issue 12): service/, its tests, bench/ and tools/. mypy
# follows imports into plugins/ silently (plugins/ has its own pass in `make lint`).
LINT_SERVICE_PATHS = service bench tools tests/service tests/deploy tests/tools tests/bench \
	tests/__init__.py tests/conftest.py tests/dbs.py tests/live.py tests/pg_cluster.py \
	tests/process_leaks.py tests/test_live.py tests/test_process_leaks.py
lint-service: install
	$(VENV)/bin/ruff check $(LINT_SERVICE_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_SERVICE_PATHS)
	$(VENV)/bin/mypy service --follow-imports=silent

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Re-resolve the lock from pyproject's ranges in a throw-away venv.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -qq --disable-pip-version-check -e '.[test]'
	{ echo "# Exact versions for a fresh clone (resolved with pip from the registry, Python 3.11)."; \
	  echo "# Regenerate: make lock"; \
	  .lock-venv/bin/pip freeze --exclude-editable --disable-pip-version-check; } > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache

# Debian packages the tests use, as command:package, installed only when missing: promtool
# checks deploy/prometheus/alerts.yml, headless chromium renders report.html. Without them
# those tests skip locally and fail under CI=true.
TEST_TOOLS := promtool:prometheus chromium:chromium
.PHONY: test-tools
test: test-tools
test-tools:
	@missing=""; for pair in $(TEST_TOOLS); do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	[ -z "$$missing" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends $$missing >/dev/null; } || \
	  echo "warning: could not install$$missing (needs root and apt)"

# Load benchmark of the wallet API against the hand-written yardstick (needs wrk + PostgreSQL).
.PHONY: bench
bench: install
	$(PY) -m bench.api_load $(BENCH_ARGS)

# Airflow 3 on this machine, no Docker: `airflow standalone` (api-server with the UI, scheduler,
# dag-processor, triggerer) on the repo's dags/ and plugins/, SQLite metadata in data/airflow.
# UI and REST API: http://localhost:$(AIRFLOW_PORT), loopback only (every visitor is admin).
# Point the API at it with AIRFLOW_API_URL=http://localhost:$(AIRFLOW_PORT).
AIRFLOW_PORT ?= 8080
.PHONY: airflow
airflow: install
	mkdir -p data/airflow
	AIRFLOW_HOME=$(abspath data/airflow) \
	AIRFLOW__CORE__DAGS_FOLDER=$(abspath dags) \
	AIRFLOW__CORE__PLUGINS_FOLDER=$(abspath plugins) \
	AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True \
	AIRFLOW__API__HOST=127.0.0.1 \
	AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$(AIRFLOW_PORT)/execution/ \
	$(VENV)/bin/airflow standalone

# Regenerate postman_collection.json from the app's /openapi.json (a test fails when it is stale).
.PHONY: postman
postman: install
	$(PY) tools/make_postman.py
