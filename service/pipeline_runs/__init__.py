"""Revenue pipeline runs (SPEC §2, §6): start one (embedded subprocess or Airflow), its state
record, its work folder, and the routes /run-pipeline and /pipeline-runs/{runId}."""
