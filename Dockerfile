# Two images from one file (docker compose builds both; `make image-smoke` builds and runs them):
#   --target api      the Sanic API: runtime dependencies only (no Airflow, no test tools),
#                     the package installed non-editable, runs as uid 1000.
#   --target airflow  every Airflow component (api-server, scheduler, dag-processor, triggerer,
#                     celery workers): runtime + Airflow dependencies, dags/ and the UI plugin.
# Stages are ordered so that building `api` never builds the Airflow stages (also with the
# classic builder). PYTHON_IMAGE lets `make image-smoke` substitute a local stand-in base.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH
RUN useradd --create-home --uid 1000 --user-group app

# ---- API -------------------------------------------------------------------------------------
FROM base AS api-build
WORKDIR /src
COPY requirements/runtime.lock requirements/
RUN python -m venv /opt/venv && pip install -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY service service
COPY plugins/revenue plugins/revenue
RUN pip install --no-deps . && rm -rf build ./*.egg-info

FROM base AS api
COPY --from=api-build /opt/venv /opt/venv
WORKDIR /app
# The Aerich histories are data, not package code: `python -m service migrate` reads them here.
COPY migrations migrations
# The example economy catalogue compose points ECONOMY_FILE at (mount your own in production).
COPY economy.example.toml ./
ENV MIGRATIONS_DIR=/app/migrations \
    DATA_DIR=/app/data \
    REPORTS_DIR=/app/reports \
    PORT=8000
RUN mkdir -p data reports && chown app:app data reports
USER 1000:1000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['PORT']}/health\", timeout=4)"]
# Migrations are not run here: compose runs them once in the `migrate` service, before any API
# replica starts (`docker run ... python -m service migrate` elsewhere).
CMD ["sh", "-c", "exec python -m service serve --host 0.0.0.0 --port \"$PORT\""]

# ---- Airflow ---------------------------------------------------------------------------------
FROM api-build AS airflow-build
COPY requirements/airflow.lock requirements/
RUN pip install -r requirements/runtime.lock -r requirements/airflow.lock

FROM base AS airflow
COPY --from=airflow-build /opt/venv /opt/venv
WORKDIR /app
COPY dags dags
# Only the UI plugin: the revenue library is installed in the venv (plugins/revenue would shadow it).
COPY plugins/.airflowignore plugins/revenue_reports_plugin.py plugins/
ENV AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/app/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/app/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    DATA_DIR=/app/data \
    REPORTS_DIR=/app/reports
RUN mkdir -p data reports /opt/airflow/logs && chown -R app:app data reports /opt/airflow
USER 1000:1000
# No HEALTHCHECK here: each Airflow component checks itself (docker-compose.yml).
CMD ["airflow", "version"]
