"""The maintained scenario set of postman_collection.json (tools/make_postman.py renders it).

Each Step is one request: what to send and the status it must answer. make_postman.py adds the
body-shape assertion from the route's OpenAPI response schema (ErrorResponse for errors), the
credentials the route's security needs, and the HMAC signature for postbacks.
Every run works on fresh users (`{{runTag}}` is new each run), so it can be repeated against
the same server; the pipeline runs on the sample data's last day, {{reportDate}} (2025-11-10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Auth modes: "bearer" (collection token), "none", "admin" (X-Admin-Token), "server" (X-Server-Key),
# "bad-admin" / "bad-server" (a wrong key), "old-token" (the token revoked by /logout).
BAD_SIGNATURE = "0" * 64
# HS256 over {"sub": "x"} with another key, and an unsigned (alg none) token.
FOREIGN_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4In0.Pz1aH3Jj6b9QX8B2rQ4q1m7yY4o0o9l4v3m5k6n7p8Q"
)
UNSIGNED_TOKEN = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0."


@dataclass
class Step:
    name: str
    method: str
    path: str  # OpenAPI path; {run_id} becomes {{runId}}
    status: int
    body: Any = None  # JSON body (None: no body)
    raw: str | None = None  # a raw body instead (malformed JSON)
    query: dict[str, str] = field(default_factory=dict)
    auth: str = "bearer"
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # expected `error` code
    names_field: str | None = None  # a details[].field the 422 must name
    sign: str | None = None  # HMAC-sign the body with {{afSecret}}: the signature's prefix ("" or "sha256=")
    tests: list[str] = field(default_factory=list)  # extra assertions (JavaScript)
    prerequest: list[str] = field(default_factory=list)
    keys: tuple[str, ...] = ()  # body keys to check when the route is not in the document


def earn(amount: Any, reason: Any = "daily_bonus") -> dict[str, Any]:
    return {"amount": amount, "reason": reason}


PURCHASE = {
    "event_name": "af_purchase",
    "event_time": "2025-11-10 18:00:00",
    "appsflyer_id": "pm-{{runTag}}-af",
    "customer_user_id": "{{userId}}",
    "event_revenue_usd": "9.99",
    "campaign": "POSTMAN_TEST",
    "media_source": "postman",
}

SETUP = [
    Step(
        "Health",
        "get",
        "/health",
        200,
        auth="none",
        prerequest=[
            "// A fresh run tag: new users every run, so the collection can run again and again.",
            "const tag = Date.now().toString(36) + Math.floor(Math.random() * 1e6).toString(36);",
            "pm.collectionVariables.set('runTag', tag);",
            "pm.collectionVariables.set('userId', 'pm_' + tag);",
            "pm.collectionVariables.set('pollTries', 0);",
        ],
        tests=[
            "pm.test('database connected', () => "
            "pm.expect(pm.response.json().database.status).to.eql('connected'));"
        ],
    ),
    Step(
        "Log in",
        "post",
        "/login",
        200,
        body={"userId": "{{userId}}"},
        auth="none",
        tests=[
            "pm.collectionVariables.set('token', pm.response.json().token);",
            "pm.test('token is for the user', () => "
            "pm.expect(pm.response.json().userId).to.eql(pm.variables.get('userId')));",
        ],
    ),
]

HAPPY_PATH = [
    Step(
        "Balance starts at 0",
        "get",
        "/balance",
        200,
        tests=["pm.test('balance 0', () => pm.expect(pm.response.json().balance).to.eql(0));"],
    ),
    Step(
        "Earn 500",
        "post",
        "/earn",
        200,
        body=earn(500),
        headers={"Idempotency-Key": "{{runTag}}-earn-500"},
        tests=["pm.test('balance 500', () => pm.expect(pm.response.json().balance).to.eql(500));"],
    ),
    Step(
        "Spend 100",
        "post",
        "/spend",
        200,
        body=earn(100, "shop_purchase"),
        tests=["pm.test('balance 400', () => pm.expect(pm.response.json().balance).to.eql(400));"],
    ),
    Step(
        "Balance is 400",
        "get",
        "/balance",
        200,
        tests=["pm.test('balance 400', () => pm.expect(pm.response.json().balance).to.eql(400));"],
    ),
    Step(
        "Ledger, newest first",
        "get",
        "/ledger",
        200,
        query={"limit": "10"},
        tests=[
            "const entries = pm.response.json().entries;",
            "pm.test('two entries, the spend first', () => "
            "pm.expect(entries.map(e => e.delta)).to.eql([-100, 500]));",
        ],
    ),
    Step("Log an event", "post", "/event", 200, body={"eventType": "level_up", "meta": '{"level": 5}'}),
    Step(
        "List my events",
        "get",
        "/events",
        200,
        query={"limit": "10", "offset": "0"},
        tests=[
            "pm.test('one level_up', () => "
            "pm.expect(pm.response.json().events.map(e => e.type)).to.eql(['level_up']));"
        ],
    ),
    Step(
        "Filter events by type and time",
        "get",
        "/events",
        200,
        query={"event_type": "level_up", "start_time": "2020-01-01T00:00:00Z"},
        tests=["pm.test('total 1', () => pm.expect(pm.response.json().total).to.eql(1));"],
    ),
    Step(
        "My stats",
        "get",
        "/stats",
        200,
        tests=["pm.test('user scope', () => pm.expect(pm.response.json().scope).to.eql('user'));"],
    ),
    Step(
        "Global stats without a token",
        "get",
        "/stats",
        200,
        auth="none",
        tests=["pm.test('global scope', () => pm.expect(pm.response.json().scope).to.eql('global'));"],
    ),
    Step(
        "Track a deeplink",
        "get",
        "/track",
        200,
        query={
            "character": "warrior",
            "campaign": "summer_promo",
            "utm_source": "newsletter",
            "other": "dropped",
        },
        tests=[
            "pm.test('known params logged, others dropped', () => pm.expect(pm.response.json().logged)"
            ".to.eql({character: 'warrior', campaign: 'summer_promo', utm_source: 'newsletter'}));"
        ],
    ),
    Step(
        "Metrics (admin)",
        "get",
        "/metrics",
        200,
        auth="admin",
        tests=[
            "pm.test('Prometheus text', () => "
            "pm.expect(pm.response.text()).to.include('http_requests_total'));"
        ],
    ),
]

REPLAYED = (
    "pm.test('replayed', () => pm.expect(pm.response.headers.get('Idempotent-Replayed')).to.eql('true'));"
)
IDEMPOTENCY = [
    Step(
        "Earn 50 with a key",
        "post",
        "/earn",
        200,
        body=earn(50),
        headers={"Idempotency-Key": "{{runTag}}-k1"},
        tests=["pm.test('balance 450', () => pm.expect(pm.response.json().balance).to.eql(450));"],
    ),
    Step(
        "Same key, same body: replayed",
        "post",
        "/earn",
        200,
        body=earn(50),
        headers={"Idempotency-Key": "{{runTag}}-k1"},
        tests=[REPLAYED, "pm.test('same balance', () => pm.expect(pm.response.json().balance).to.eql(450));"],
    ),
    Step(
        "Same key as a quoted string: replayed",
        "post",
        "/earn",
        200,
        body=earn(50),
        headers={"Idempotency-Key": '"{{runTag}}-k1"'},
        tests=[REPLAYED],
    ),
    Step(
        "Same key, another body: 422",
        "post",
        "/earn",
        422,
        body=earn(60),
        headers={"Idempotency-Key": "{{runTag}}-k1"},
        error="idempotency_key_reused",
    ),
    Step(
        "Event with a key",
        "post",
        "/event",
        200,
        body={"eventType": "quest_done"},
        headers={"Idempotency-Key": "{{runTag}}-ev1"},
        tests=["pm.collectionVariables.set('eventId', pm.response.json().eventId);"],
    ),
    Step(
        "Event replayed: same eventId",
        "post",
        "/event",
        200,
        body={"eventType": "quest_done"},
        headers={"Idempotency-Key": "{{runTag}}-ev1"},
        tests=[
            REPLAYED,
            "pm.test('same event', () => "
            "pm.expect(pm.response.json().eventId).to.eql(Number(pm.variables.get('eventId'))));",
        ],
    ),
    Step(
        "Balance after replays is 450",
        "get",
        "/balance",
        200,
        tests=[
            "pm.test('replays changed nothing', () => pm.expect(pm.response.json().balance).to.eql(450));"
        ],
    ),
]

FUNDS = [
    Step(
        "Spend more than the balance: 409",
        "post",
        "/spend",
        409,
        body=earn(100000, "shop_purchase"),
        error="insufficient_funds",
    ),
    Step(
        "Balance unchanged after 409",
        "get",
        "/balance",
        200,
        tests=["pm.test('still 450', () => pm.expect(pm.response.json().balance).to.eql(450));"],
    ),
]

VALIDATION = [
    Step("Earn: amount as a string", "post", "/earn", 422, body=earn("12"), names_field="amount"),
    Step("Earn: fractional amount", "post", "/earn", 422, body=earn(1.5), names_field="amount"),
    Step("Earn: amount 0", "post", "/earn", 422, body=earn(0), names_field="amount"),
    Step("Earn: amount over 100000", "post", "/earn", 422, body=earn(100001), names_field="amount"),
    Step("Earn: reason missing", "post", "/earn", 422, body={"amount": 5}, names_field="reason"),
    Step("Spend: empty reason", "post", "/spend", 422, body=earn(5, ""), names_field="reason"),
    Step(
        "Event: eventType with a space",
        "post",
        "/event",
        422,
        body={"eventType": "level up"},
        names_field="eventType",
    ),
    Step(
        "Event: meta that is not JSON",
        "post",
        "/event",
        422,
        body={"eventType": "x", "meta": "not json"},
        error="invalid_meta",
        names_field="meta",
    ),
    Step(
        "Event: timestamp 2 days ahead",
        "post",
        "/event",
        422,
        body={"eventType": "x", "timestampUtc": "2999-01-01T00:00:00Z"},
        names_field="timestampUtc",
    ),
    Step("Events: limit 0", "get", "/events", 422, query={"limit": "0"}, names_field="limit"),
    Step("Events: limit 1001", "get", "/events", 422, query={"limit": "1001"}, names_field="limit"),
    Step(
        "Events: start after end",
        "get",
        "/events",
        422,
        query={"start_time": "2025-02-01T00:00:00Z", "end_time": "2025-01-01T00:00:00Z"},
        names_field="start_time",
    ),
    Step(
        "Login: empty userId", "post", "/login", 422, body={"userId": "  "}, auth="none", names_field="userId"
    ),
    Step(
        "Login: userId with <",
        "post",
        "/login",
        422,
        body={"userId": "<script>"},
        auth="none",
        names_field="userId",
    ),
    Step(
        "Run pipeline: impossible date",
        "post",
        "/run-pipeline",
        422,
        body={"date": "2025-13-45"},
        auth="admin",
        names_field="date",
    ),
    Step("Track: value over 200 chars", "get", "/track", 422, query={"campaign": "c" * 201}),
    Step(
        "Postback: no event_name",
        "post",
        "/af/postback",
        422,
        body={"customer_user_id": "{{userId}}"},
        sign="",
    ),
    Step(
        "Postback: revenue not a number",
        "post",
        "/af/postback",
        422,
        body={**PURCHASE, "event_revenue_usd": "abc", "appsflyer_id": "pm-{{runTag}}-bad"},
        sign="",
        names_field="event_revenue_usd",
    ),
]

MALFORMED = [
    Step("Earn: truncated JSON", "post", "/earn", 400, raw='{"amount": 5,', error="malformed_json"),
    Step("Login: not JSON", "post", "/login", 400, raw="userId=abc", auth="none", error="malformed_json"),
    Step("Event: unclosed object", "post", "/event", 400, raw='{"eventType": "x"', error="malformed_json"),
    Step("Postback: signed but not JSON", "post", "/af/postback", 400, raw="{not json", sign=""),
]

WWW_AUTHENTICATE = (
    "pm.test('WWW-Authenticate: Bearer', () => "
    "pm.expect(pm.response.headers.get('WWW-Authenticate')).to.include('Bearer'));"
)
AUTH = [
    Step("Balance without a token", "get", "/balance", 401, auth="none", tests=[WWW_AUTHENTICATE]),
    Step(
        "Balance with a malformed token",
        "get",
        "/balance",
        401,
        auth="none",
        headers={"Authorization": "Bearer not-a-jwt"},
        tests=[WWW_AUTHENTICATE],
    ),
    Step(
        "Earn with a token signed by another key",
        "post",
        "/earn",
        401,
        body=earn(5),
        auth="none",
        headers={"Authorization": f"Bearer {FOREIGN_TOKEN}"},
    ),
    Step(
        "Earn with an unsigned (alg none) token",
        "post",
        "/earn",
        401,
        body=earn(5),
        auth="none",
        headers={"Authorization": f"Bearer {UNSIGNED_TOKEN}"},
    ),
    Step(
        "Run pipeline without X-Admin-Token",
        "post",
        "/run-pipeline",
        401,
        body={"date": "{{reportDate}}"},
        auth="none",
    ),
    Step(
        "Run pipeline with a wrong X-Admin-Token",
        "post",
        "/run-pipeline",
        403,
        body={"date": "{{reportDate}}"},
        auth="bad-admin",
    ),
    Step("Metrics without X-Admin-Token", "get", "/metrics", 401, auth="none"),
    Step("Stats of another user without X-Admin-Token", "get", "/stats", 403, query={"uid": "someone_else"}),
    Step(
        "Postback with a wrong signature",
        "post",
        "/af/postback",
        401,
        body=PURCHASE,
        auth="none",
        headers={"X-AF-Signature": BAD_SIGNATURE},
        error="invalid_signature",
    ),
]

POSTBACKS = [
    Step(
        "Signed purchase postback",
        "post",
        "/af/postback",
        200,
        body=PURCHASE,
        sign="",
        tests=[
            "pm.collectionVariables.set('postbackId', pm.response.json().postbackId);",
            "pm.test('stored once', () => pm.expect(pm.response.json().duplicate).to.eql(false));",
        ],
    ),
    Step(
        "Same postback again: duplicate",
        "post",
        "/af/postback",
        200,
        body=PURCHASE,
        sign="",
        tests=[
            "pm.test('duplicate of the first', () => {",
            "  pm.expect(pm.response.json().duplicate).to.eql(true);",
            "  pm.expect(pm.response.json().postbackId).to.eql(Number(pm.variables.get('postbackId')));",
            "});",
        ],
    ),
    Step(
        "Postback signed with the sha256= prefix",
        "post",
        "/af/postback",
        200,
        body={
            **{k: v for k, v in PURCHASE.items() if k != "event_revenue_usd"},
            "event_name": "af_level_achieved",
        },
        sign="sha256=",
        tests=["pm.test('new postback', () => pm.expect(pm.response.json().duplicate).to.eql(false));"],
    ),
]

GET_POSTBACK = {
    "event_name": "af_tutorial_done",
    "customer_user_id": "{{userId}}",
    "appsflyer_id": "pm-{{runTag}}-get",
}
POSTBACKS += [
    Step(
        "Signed postback by GET (Push API)",
        "get",
        "/af/postback",
        200,
        query=GET_POSTBACK,
        auth="none",
        sign="",
        tests=["pm.test('stored', () => pm.expect(pm.response.json().duplicate).to.eql(false));"],
    ),
    Step(
        "Postback by GET with a wrong signature",
        "get",
        "/af/postback",
        401,
        auth="none",
        query={**GET_POSTBACK, "appsflyer_id": "pm-{{runTag}}-get2"},
        headers={"X-AF-Signature": BAD_SIGNATURE},
        error="invalid_signature",
    ),
]

POLL_UNTIL_DONE = [
    "const run = pm.response.json();",
    "const tries = Number(pm.variables.get('pollTries') || 0);",
    "if (['queued', 'running'].includes(run.state) && tries < 150) {",
    "  pm.collectionVariables.set('pollTries', tries + 1);",
    "  postman.setNextRequest(pm.info.requestName);  // poll again after 2 s",
    "  setTimeout(() => {}, 2000);",
    "} else {",
    "  pm.test('run succeeded', () => pm.expect(run.state, run.error).to.eql('success'));",
    "  pm.test('reports published', () => pm.expect(run.reports).to.have.property('roas_d1.json'));",
    "}",
]
PIPELINE = [
    Step(
        "Run the pipeline for the sample's last day",
        "post",
        "/run-pipeline",
        202,
        body={"date": "{{reportDate}}"},
        auth="admin",
        tests=["pm.collectionVariables.set('runId', pm.response.json().runId);"],
    ),
    Step(
        "Pipeline run status (polls until done)",
        "get",
        "/pipeline-runs/{run_id}",
        200,
        auth="admin",
        tests=POLL_UNTIL_DONE,
    ),
    Step(
        "Unknown pipeline run: 404",
        "get",
        "/pipeline-runs/{run_id}",
        404,
        auth="admin",
        prerequest=["pm.variables.set('runId', 'no-such-run-' + pm.variables.get('runTag'));"],
    ),
]

# SPEC §3b (bound accounts, revocation, server grants). Shapes as SPEC states them, used
# only while those routes are missing from /openapi.json.
SECRET = "device-key-{{runTag}}-0123456789"
BOUND_USER = "pm_bound_{{runTag}}"
IDENTITY = [
    Step(
        "Bind an account with a secret",
        "post",
        "/login",
        200,
        body={"userId": BOUND_USER, "secret": SECRET},
        auth="none",
        keys=("token", "userId", "expiresAt"),
    ),
    Step(
        "Log in to the bound account with its secret",
        "post",
        "/login",
        200,
        body={"userId": BOUND_USER, "secret": SECRET},
        auth="none",
        keys=("token", "userId", "expiresAt"),
    ),
    Step(
        "Bound account, wrong secret: 401",
        "post",
        "/login",
        401,
        body={"userId": BOUND_USER, "secret": "wrong-secret-0123456789"},
        auth="none",
        error="invalid_credentials",
    ),
    Step(
        "Bound account, bare login: 401",
        "post",
        "/login",
        401,
        body={"userId": BOUND_USER},
        auth="none",
        error="credentials_required",
    ),
    Step(
        "Log out (revokes my tokens)",
        "post",
        "/logout",
        200,
        keys=("ok",),
        prerequest=["pm.collectionVariables.set('revokedToken', pm.variables.get('token'));"],
    ),
    Step("Revoked token: 401 token_revoked", "get", "/balance", 401, auth="old-token", error="token_revoked"),
    Step(
        "Log in again after logout",
        "post",
        "/login",
        200,
        body={"userId": "{{userId}}"},
        auth="none",
        tests=["pm.collectionVariables.set('token', pm.response.json().token);"],
    ),
    Step(
        "Balance with the new token",
        "get",
        "/balance",
        200,
        tests=["pm.test('balance kept', () => pm.expect(pm.response.json().balance).to.eql(450));"],
    ),
    Step(
        "Server grant",
        "post",
        "/server/earn",
        200,
        body={"userId": "{{userId}}", **earn(1000, "tournament_prize")},
        auth="server",
        headers={"Idempotency-Key": "{{runTag}}-grant"},
        keys=("ok", "balance"),
        tests=["pm.test('balance 1450', () => pm.expect(pm.response.json().balance).to.eql(1450));"],
    ),
    Step(
        "Server grant replayed",
        "post",
        "/server/earn",
        200,
        body={"userId": "{{userId}}", **earn(1000, "tournament_prize")},
        auth="server",
        headers={"Idempotency-Key": "{{runTag}}-grant"},
        keys=("ok", "balance"),
        tests=[REPLAYED],
    ),
    Step(
        "Server spend",
        "post",
        "/server/spend",
        200,
        body={"userId": "{{userId}}", **earn(450, "refund")},
        auth="server",
        keys=("ok", "balance"),
        tests=["pm.test('balance 1000', () => pm.expect(pm.response.json().balance).to.eql(1000));"],
    ),
    Step(
        "Server spend over the balance: 409",
        "post",
        "/server/spend",
        409,
        body={"userId": "{{userId}}", **earn(100000, "refund")},
        auth="server",
        error="insufficient_funds",
    ),
    Step(
        "Server grant without X-Server-Key: 401",
        "post",
        "/server/earn",
        401,
        body={"userId": "{{userId}}", **earn(5)},
        auth="none",
    ),
    Step(
        "Server grant with a wrong X-Server-Key: 403",
        "post",
        "/server/earn",
        403,
        body={"userId": "{{userId}}", **earn(5)},
        auth="bad-server",
    ),
]

IDENTITY_FOLDER = "9 Identity (SPEC 3b)"
FOLDERS: list[tuple[str, list[Step]]] = [
    ("0 Setup", SETUP),
    ("1 Happy path", HAPPY_PATH),
    ("2 Idempotency", IDEMPOTENCY),
    ("3 Insufficient funds", FUNDS),
    ("4 Validation 422", VALIDATION),
    ("5 Malformed JSON 400", MALFORMED),
    ("6 Auth 401 403", AUTH),
    ("7 Postbacks (HMAC)", POSTBACKS),
    ("8 Pipeline", PIPELINE),
    (IDENTITY_FOLDER, IDENTITY),
]
