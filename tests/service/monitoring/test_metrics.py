"""service/monitoring/metrics.py in one process: repeated responses of one series all count."""

from __future__ import annotations

from prometheus_client import REGISTRY

from service.monitoring import metrics

ROUTE = "/test-metrics/<thing>"


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_each_response_counts_in_its_series_and_errors_by_class():
    before_ok = _value("http_requests_total", method="POST", route=ROUTE, status="200")
    before_404 = _value("http_requests_total", method="POST", route=ROUTE, status="404")
    before_4xx = _value("http_request_errors_total", route=ROUTE, status_class="4xx")
    for _ in range(3):
        metrics.record_request("POST", ROUTE, 200, 0.004)
    for _ in range(2):
        metrics.record_request("POST", ROUTE, 404, 0.2)
    assert _value("http_requests_total", method="POST", route=ROUTE, status="200") == before_ok + 3
    assert _value("http_requests_total", method="POST", route=ROUTE, status="404") == before_404 + 2
    assert _value("http_request_errors_total", route=ROUTE, status_class="4xx") == before_4xx + 2
    assert _value("http_request_errors_total", route=ROUTE, status_class="2xx") == 0.0
    latency = {"method": "POST", "route": ROUTE, "status": "404"}
    assert _value("http_request_duration_seconds_bucket", le="0.25", **latency) >= 2
    assert _value("http_request_duration_seconds_bucket", le="0.1", **latency) == 0.0
