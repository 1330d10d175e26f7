#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised: Airflow gets its own role and
# database beside the service's, on the same server.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v airflow_password="${AIRFLOW_DB_PASSWORD:-airflow}" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow;
SQL
