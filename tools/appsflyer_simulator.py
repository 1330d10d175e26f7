"""Send AppsFlyer-style postbacks to a running server and check each answer (brief §3.5, §9.3).

    python tools/appsflyer_simulator.py --url http://localhost:8000 --secret "$AF_SECRET"
    python tools/appsflyer_simulator.py --url https://staging.example --secret ... --production

Cases: 1 no signature (development: accepted unverified; production: 401), 2 valid HMAC,
3 invalid signature (401), 4 tampered body with the original's signature (401), 5 a signed curl
command for manual testing (sent once to prove it works; running it again answers
`"duplicate": true`), 6 a retry of case 2 (same ids, `"duplicate": true`), and with
`--push-token` 7 the Push API token instead of a signature. Payloads use the Push API v2 field
names and fresh ids each run. Exit status 0 only when every case passes.

Only the standard library and httpx: an operator can run it from any machine.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shlex
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

DEFAULT_SECRET = "appsflyer_secret_key"


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def purchase_payload(run_id: str, n: int) -> bytes:
    """A Push API v2 in-app purchase, unique per run and case so retries are not mistaken."""
    now = datetime.now(UTC)
    revenue = f"{4.99 + n:.2f}"
    payload = {
        "event_name": "af_purchase",
        "event_time": now.strftime("%Y-%m-%d %H:%M:%S.") + f"{now.microsecond // 1000:03d}",
        "event_value": json.dumps({"af_revenue": revenue, "af_currency": "USD", "af_quantity": 1}),
        "event_revenue": revenue,
        "event_revenue_currency": "USD",
        "event_revenue_usd": revenue,
        "appsflyer_id": f"{int(now.timestamp() * 1000)}-{run_id[:7]}{n}",
        "customer_user_id": f"sim_player_{run_id[:8]}_{n}",
        "install_time": now.strftime("%Y-%m-%d %H:%M:%S"),
        "media_source": "googleadwords_int",
        "campaign": "summer_campaign",
        "af_adset": "adset_1",
        "af_channel": "YouTube",
        "platform": "android",
        "app_id": "com.example.game",
        "bundle_id": "com.example.game",
        "country_code": "US",
        "event_source": "SDK",
    }
    return json.dumps(payload, separators=(",", ":")).encode()


@dataclass
class Outcome:
    number: int
    name: str
    passed: bool
    detail: str


@dataclass
class Simulator:
    url: str
    secret: str
    production: bool
    push_token: str | None = None
    push_token_header: str = "Authorization"
    timeout: float = 10.0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/af/postback"

    def post(self, client: httpx.Client, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return client.post(
            self.endpoint, content=body, headers={"Content-Type": "application/json", **headers}
        )

    def curl_command(self, body: bytes) -> str:
        return " ".join(
            [
                "curl -sS -X POST",
                shlex.quote(self.endpoint),
                "-H 'Content-Type: application/json'",
                "-H",
                shlex.quote(f"X-AF-Signature: {sign(self.secret, body)}"),
                "--data-binary",
                shlex.quote(body.decode()),
            ]
        )

    def run(self) -> list[Outcome]:
        outcomes: list[Outcome] = []
        bodies = [purchase_payload(self.run_id, n) for n in range(1, 8)]
        with httpx.Client(timeout=self.timeout) as client:

            def case(
                number: int,
                name: str,
                body: bytes,
                headers: dict[str, str],
                expected: int,
                check: Callable[[dict], str | None] | None = None,
            ) -> dict:
                try:
                    response = self.post(client, body, headers)
                except httpx.HTTPError as exc:
                    outcomes.append(Outcome(number, name, False, f"request failed: {exc}"))
                    return {}
                try:
                    answer = response.json()
                except ValueError:
                    answer = {"body": response.text[:200]}
                problem = None if response.status_code == expected else f"expected {expected}"
                if problem is None and check is not None:
                    problem = check(answer)
                detail = f"{response.status_code} {json.dumps(answer, separators=(',', ':'))}"
                outcomes.append(
                    Outcome(
                        number, name, problem is None, detail if problem is None else f"{detail} ({problem})"
                    )
                )
                return answer

            def stored(answer: dict) -> str | None:
                ok = answer.get("ok") is True and isinstance(answer.get("postbackId"), int)
                return None if ok and isinstance(answer.get("eventId"), int) else "no ids in answer"

            case(
                1,
                "no signature",
                bodies[0],
                {},
                401 if self.production else 200,
                None if self.production else stored,
            )
            signed = case(
                2,
                "valid HMAC signature",
                bodies[1],
                {"X-AF-Signature": sign(self.secret, bodies[1])},
                200,
                stored,
            )
            case(3, "invalid signature", bodies[2], {"X-AF-Signature": "0" * 64}, 401)
            tampered = bodies[3].replace(b'"event_revenue_usd":"', b'"event_revenue_usd":"99')
            case(4, "tampered payload", tampered, {"X-AF-Signature": sign(self.secret, bodies[3])}, 401)
            print("curl for manual testing (case 5 sends it once):\n  " + self.curl_command(bodies[4]))
            case(5, "curl command", bodies[4], {"X-AF-Signature": sign(self.secret, bodies[4])}, 200, stored)

            def same_ids(answer: dict) -> str | None:
                same = all(answer.get(k) == signed.get(k) for k in ("postbackId", "eventId"))
                return None if same and answer.get("duplicate") is True else "not the first ids"

            case(
                6,
                "retry of case 2",
                bodies[1],
                {"X-AF-Signature": sign(self.secret, bodies[1])},
                200,
                same_ids,
            )
            if self.push_token:
                case(7, "push API token", bodies[6], {self.push_token_header: self.push_token}, 200, stored)
        return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://localhost:8000", help="server base URL")
    parser.add_argument(
        "--secret",
        default=os.environ.get("AF_SECRET", DEFAULT_SECRET),
        help="AF_SECRET of the server (default: $AF_SECRET or the dev default)",
    )
    parser.add_argument(
        "--production",
        action="store_true",
        help="expect production behaviour: unsigned postbacks are refused",
    )
    parser.add_argument(
        "--push-token",
        default=os.environ.get("AF_PUSH_TOKEN"),
        help="also try the Push API token (default: $AF_PUSH_TOKEN)",
    )
    parser.add_argument(
        "--push-token-header", default=os.environ.get("AF_PUSH_TOKEN_HEADER", "Authorization")
    )
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    simulator = Simulator(
        args.url, args.secret, args.production, args.push_token, args.push_token_header, args.timeout
    )
    mode = "production" if args.production else "development"
    print(f"AppsFlyer postback simulator -> {simulator.endpoint} (expecting {mode} behaviour)")
    outcomes = simulator.run()
    for outcome in outcomes:
        verdict = "PASS" if outcome.passed else "FAIL"
        print(f"[{verdict}] {outcome.number} {outcome.name:<22} {outcome.detail}")
    passed = sum(o.passed for o in outcomes)
    print(f"{passed}/{len(outcomes)} passed")
    return 0 if passed == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
