"""Structured logs: every line carries the request id from the context variable."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest

from service.logs import JsonFormatter, RequestIdFilter, request_id_var
from tests.conftest import production_env, service_env


def _capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger(f"test.logs.{id(stream)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, stream


def test_json_lines_carry_the_context_request_id():
    logger, stream = _capture(JsonFormatter())
    token = request_id_var.set("req-123")
    try:
        logger.info("balance changed by %d", 5, extra={"userId": "p1"})
    finally:
        request_id_var.reset(token)
    logger.info("outside any request")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "balance changed by 5"
    assert (first["requestId"], first["userId"], first["level"]) == ("req-123", "p1", "INFO")
    assert second["requestId"] == "-"


def test_production_server_logs_json_with_request_id(live_server, migrated_databases):
    url = migrated_databases["postgres"]
    if url is None:
        pytest.skip("LOUD SKIP: production mode needs PostgreSQL, which is unreachable")
    env = {**service_env(url), **production_env(), "AF_SECRET": "a-real-appsflyer-secret"}
    server = live_server(url, env=env)
    response = httpx.get(f"{server.base_url}/nope", headers={"X-Request-ID": "trace-json-1"})
    assert response.status_code == 404
    assert response.headers["Strict-Transport-Security"]
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    ours = [entry for entry in lines if entry["requestId"] == "trace-json-1"]
    assert ours and ours[0]["message"] == "GET /nope -> 404"
