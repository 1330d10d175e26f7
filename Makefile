# Two entry points do all set-up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Three layers resolved together (`make lock`): the API alone, Airflow + the pipeline, tests.
RUNTIME_LOCK := requirements/runtime.lock
AIRFLOW_LOCK := requirements/airflow.lock
TEST_LOCK := requirements/test.lock

export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: run test install migrate lock clean lint format

# The development venv has every layer: the tests run Airflow, and `make run`'s default
# embedded pipeline runs the DAG in-process (the API image installs runtime.lock alone).
$(STAMP): $(RUNTIME_LOCK) $(AIRFLOW_LOCK) $(TEST_LOCK) pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --disable-pip-version-check \
	  -r $(RUNTIME_LOCK) -r $(AIRFLOW_LOCK) -r $(TEST_LOCK)
	$(PY) -m pip install -qq --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) -m service migrate

HOST ?= 127.0.0.1
PORT ?= 8000
run: install
	$(PY) -m service migrate
	$(PY) -m service serve --host $(HOST) --port $(PORT)

test: install lint
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff (lint + format check) and mypy --strict on service/, plugins/ and dags/; config in
# pyproject.toml. Part of `make test`, so CI fails on a lint or type error.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Re-resolve the three locks from pyproject's ranges in throw-away venvs.
lock:
	PYTHON=$(PYTHON) sh tools/make_locks.sh

clean:
	rm -rf $(VENV) .pytest_cache tools/npm/node_modules

# Debian packages the tests use, as command:package, installed only when missing: promtool
# checks deploy/prometheus/alerts.yml, headless chromium renders report.html and /docs, node and
# npm run newman. Without them those tests skip locally and fail under CI=true.
TEST_TOOLS := promtool:prometheus chromium:chromium node:nodejs npm:npm
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

# Regenerate postman_collection.json from /openapi.json + tools/postman_scenarios.py (a test
# fails when it is stale).
.PHONY: postman
postman: install
	$(PY) tools/make_postman.py

# The npm packages pinned in tools/npm/package-lock.json: newman (the collection test) and
# swagger-ui-dist + redoc (the docs assets' source); `npm ci` only when the lock changed.
NPM_DIR := tools/npm
NPM_STAMP := $(NPM_DIR)/node_modules/.package-lock.json
.PHONY: npm-packages docs-assets newman
test: npm-packages
$(NPM_STAMP): $(NPM_DIR)/package.json $(NPM_DIR)/package-lock.json
	cd $(NPM_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
npm-packages: test-tools
	@$(MAKE) --no-print-directory $(NPM_STAMP) || echo "warning: npm ci in $(NPM_DIR) failed"

# Re-vendor Swagger UI and ReDoc into service/http/static/vendor after changing their pins.
docs-assets: npm-packages install
	$(PY) tools/vendor_docs_assets.py

# Run postman_collection.json against a running server (`make run` with the same secrets):
#   ADMIN_TOKEN=... AF_SECRET=... SERVER_KEY=... make newman [BASE_URL=http://127.0.0.1:8000]
BASE_URL ?= http://127.0.0.1:$(PORT)
# One user sends the whole collection: pacing keeps it under WALLET_RATE_LIMIT (default 20/second).
NEWMAN_DELAY_MS ?= 100
newman: npm-packages
	$(NPM_DIR)/node_modules/.bin/newman run postman_collection.json \
	  --env-var baseUrl=$(BASE_URL) --env-var adminToken=$$ADMIN_TOKEN \
	  --env-var afSecret=$$AF_SECRET --env-var serverKey=$$SERVER_KEY \
	  --delay-request $(NEWMAN_DELAY_MS)

# Build both images (Dockerfile targets api and airflow) and run them for real: needs root and
# Docker (Debian's docker.io; the script starts and stops its own dockerd). Not part of `make test`.
.PHONY: image-smoke
image-smoke:
	bash tools/image_smoke.sh
