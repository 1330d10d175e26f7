"""The alerting rules pass Prometheus's own checker and their unit tests, and use only
metrics the service exports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from service.monitoring import metrics

RULES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = RULES_DIR / "alerts.yml"
RULE_TESTS = RULES_DIR / "alerts.test.yml"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = "promtool not on PATH (make test installs Debian's prometheus package)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=RULES_DIR)


def test_rules_pass_promtool_check(promtool: str) -> None:
    result = _run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_fires_and_clears_in_promtool_unit_tests(promtool: str) -> None:
    result = _run(promtool, "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def _alert_names(document: dict) -> set[str]:
    return {rule["alert"] for group in document["groups"] for rule in group["rules"] if "alert" in rule}


def test_unit_tests_cover_every_alert_with_firing_and_clear_cases() -> None:
    alerts = _alert_names(yaml.safe_load(RULES.read_text()))
    fired: set[str] = set()
    cleared: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check["exp_alerts"] else cleared).add(check["alertname"])
    assert alerts == fired
    assert alerts == cleared


def _exported_names() -> set[str]:
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names.add(family.name)
                names.update(sample.name for sample in family.samples)
                suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
                names.update(family.name + suffix for suffix in suffixes.get(family.type, []))
    return names


def test_rules_only_use_metrics_the_service_exports() -> None:
    document = yaml.safe_load(RULES.read_text())
    exprs = [rule["expr"] for group in document["groups"] for rule in group["rules"]]
    recorded = {rule["record"] for group in document["groups"] for rule in group["rules"] if "record" in rule}
    promql_words = {"histogram_quantile", "sum", "by", "rate", "increase", "time", "min", "max", "absent"}
    used = set()
    for expr in exprs:
        for word in re.findall(
            r"[a-zA-Z_:][a-zA-Z0-9_:]*", re.sub(r'"[^"]*"|\{[^}]*\}|\[[^\]]*\]|by \([^)]*\)', " ", expr)
        ):
            if word not in promql_words and word not in recorded and not word.isdigit():
                used.add(word)
    assert used, "no metric names parsed"
    assert used <= _exported_names(), used - _exported_names()
