"""tools/appsflyer_simulator.py against a real server: every case passes, and a wrong secret fails."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_AF_SECRET, production_env
from tools.appsflyer_simulator import main as simulate

pytestmark = pytest.mark.slow

PUSH_TOKEN = "simulator-push-token-0123456789abcdef"


def test_all_cases_pass_against_a_development_server(live_server, db_url, capsys):
    server = live_server(db_url, env={"AF_PUSH_TOKEN": PUSH_TOKEN})
    code = simulate(["--url", server.base_url, "--secret", TEST_AF_SECRET, "--push-token", PUSH_TOKEN])
    output = capsys.readouterr().out
    assert code == 0, output
    assert output.count("[PASS]") == 7 and "[FAIL]" not in output
    assert "curl -sS -X POST" in output and "X-AF-Signature: " in output


def test_production_expectations(live_server, db_url, capsys):
    if db_url.startswith("sqlite"):
        pytest.skip("production refuses SQLite")
    server = live_server(db_url, env={**production_env(), "WEB_WORKERS": "1"})
    assert simulate(["--url", server.base_url, "--secret", TEST_AF_SECRET, "--production"]) == 0
    # Expecting development behaviour from a production server is reported, not hidden.
    assert simulate(["--url", server.base_url, "--secret", TEST_AF_SECRET]) == 1
    assert "[FAIL] 1 no signature" in capsys.readouterr().out


def test_wrong_secret_is_reported_as_failures(live_server, db_url, capsys):
    server = live_server(db_url)
    assert simulate(["--url", server.base_url, "--secret", "not-the-server-secret"]) == 1
    output = capsys.readouterr().out
    assert "[FAIL] 2 valid HMAC signature" in output
