"""Adapters to things outside the process (Redis, Airflow's REST API, files): no business rules."""
