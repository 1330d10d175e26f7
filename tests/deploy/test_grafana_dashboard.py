"""The provisioned Grafana dashboard charts the brief's §11.2 figures from metrics the service
really exports (or the recording rules of deploy/prometheus/alerts.yml)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from service.monitoring import metrics

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "gaming-backend.json"
ALERTS = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMQL_WORDS = {
    "sum",
    "by",
    "rate",
    "increase",
    "histogram_quantile",
    "time",
    "min",
    "max",
    "le",
    "route",
    "state",
    "status",
    "status_class",
    "absent",
}


def exported_series() -> set[str]:
    """Every series name the service's metrics produce (histograms as _bucket/_sum/_count)."""
    names: set[str] = set()
    for collector in metrics.__dict__.values():
        if not isinstance(collector, MetricWrapperBase):
            continue
        for family in collector.describe():
            suffixes = {
                "histogram": ("_bucket", "_sum", "_count"),
                "counter": ("_total",),
                "summary": ("_sum", "_count"),
            }.get(family.type, ("",))
            names |= {family.name + suffix for suffix in suffixes} | {family.name}
    return names


def recording_rules() -> set[str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def queries(dashboard: dict) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_dashboard_queries_only_series_the_service_exports(dashboard):
    known = exported_series() | recording_rules()
    assert {"http_request_duration_seconds_bucket", "balance_discrepancies"} <= known
    for expr in queries(dashboard):
        without_labels = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", "", expr)
        names = {word for word in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", without_labels)} - PROMQL_WORDS
        assert names and names <= known, (expr, names - known)


def test_dashboard_has_a_panel_for_each_figure_of_the_brief(dashboard):
    titles = " | ".join(panel["title"].lower() for panel in dashboard["panels"])
    for figure in (
        "latency p95",
        "error rate",
        "pool utilisation",
        "balance discrepancies",
        "pipeline run duration",
    ):
        assert figure in titles


def test_panels_use_the_provisioned_datasource(dashboard):
    datasources = yaml.safe_load(
        (REPO_ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"]
    uid = datasources[0]["uid"]
    assert all(panel["datasource"]["uid"] == uid for panel in dashboard["panels"])
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
