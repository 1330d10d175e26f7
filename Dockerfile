# One image for the API and for every Airflow component (they share the code: the DAG imports
# the revenue library and the service's database edge).
#   docker compose up -d   (see docker-compose.yml and README "Docker")
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    DATA_DIR=/app/data \
    REPORTS_DIR=/app/reports \
    AIRFLOW_HOME=/opt/airflow

WORKDIR /app
COPY requirements.lock docker/requirements-airflow-postgres.txt ./
RUN pip install -r requirements.lock -r requirements-airflow-postgres.txt

COPY . .
# Editable, so the service finds dags/ and plugins/ next to its package (embedded runs).
RUN pip install --no-deps -e . \
 && useradd --create-home --uid 1000 app \
 && mkdir -p data reports /opt/airflow/logs \
 && chown -R app data reports /opt/airflow
USER app

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"
# Migrations on every start: Aerich applies only what is missing.
CMD ["sh", "-c", "python -m service migrate && exec python -m service serve"]
