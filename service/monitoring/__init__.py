"""Monitoring: Prometheus metrics, /metrics and /health, and the metrics background jobs."""
