"""Generate postman_collection.json from the app's own /openapi.json (`make postman`).

The collection logs in once (the Login request's test script stores the token in the collection
variable `token`; every other request inherits bearer auth from the collection), signs AppsFlyer
postbacks in a pre-request script (HMAC-SHA256 of the raw body with `afSecret`), sends
`X-Admin-Token` where the route needs it, and checks each documented success status.
Requests are ordered for "Run collection": health, login, then one folder per tag.

    python tools/make_postman.py [--output postman_collection.json]

tests/deploy/test_postman.py fails when the committed file is stale.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "postman_collection.json"
SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
TAG_ORDER = ("health", "auth", "wallet", "events", "attribution", "pipeline")

# Request examples where a value generated from the schema would not make a meaningful call.
BODY_EXAMPLES: dict[str, Any] = {
    "POST /login": {"userId": "{{userId}}"},
    "POST /earn": {"amount": 500, "reason": "daily_bonus"},
    "POST /spend": {"amount": 100, "reason": "shop_purchase"},
    "POST /event": {"eventType": "level_up", "meta": '{"level": 5}'},
    "POST /run-pipeline": {"wait": False},
}
QUERY_EXAMPLES: dict[str, dict[str, str]] = {
    "GET /track": {"character": "warrior", "campaign": "summer_promo", "utm_source": "newsletter"},
    "GET /events": {"limit": "10", "offset": "0"},
    "GET /stats": {"event_type": "level_up"},
    "GET /ledger": {"limit": "10"},
}
LOGIN_TEST = [
    "pm.test('login succeeded', () => pm.response.to.have.status(200));",
    "const body = pm.response.json();",
    "pm.collectionVariables.set('token', body.token);",
    "pm.test('token stored for the other requests', () => pm.expect(body.token).to.be.a('string'));",
]
SIGN_POSTBACK = [
    "// AppsFlyer signs the exact raw body: HMAC-SHA256 with AF_SECRET, lowercase hex.",
    "const signature = CryptoJS.HmacSHA256(pm.request.body.raw, pm.collectionVariables.get('afSecret'))",
    "    .toString(CryptoJS.enc.Hex);",
    "pm.request.headers.upsert({key: 'X-AF-Signature', value: signature});",
]


def openapi_document() -> dict[str, Any]:
    """The document the app serves, from an in-process server on a throw-away SQLite file."""
    from service.app import create_app
    from service.config import Settings
    from service.db import migrate

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, DATABASE_URL=f"sqlite:///{tmp}/postman.db")
        asyncio.run(migrate(settings.DATABASE_URL))
        app = create_app(settings, name="postman_export")
        _, response = app.test_client.get("/openapi.json")
        assert response.status == 200, response.text
        return response.json


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def example_value(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A value that satisfies `schema`: its example or default, else the simplest valid one."""
    schema = _resolve(document, schema)
    for key in ("example", "default"):
        if schema.get(key) is not None:
            return schema[key]
    alternatives = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if alternatives:
        return example_value(document, alternatives[0])
    kind = schema.get("type")
    if kind == "object":
        return {
            name: example_value(document, prop)
            for name, prop in schema.get("properties", {}).items()
            if name in schema.get("required", [])
        }
    if kind == "array":
        return []
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return schema.get("minimum", 1.0)
    if kind == "boolean":
        return False
    if schema.get("format") == "date-time":
        return "2025-11-12T10:30:00+00:00"
    if schema.get("format") == "date":
        return "2025-11-12"
    return "example"


def _script(listen: str, lines: list[str]) -> dict[str, Any]:
    return {"listen": listen, "script": {"type": "text/javascript", "exec": lines}}


def _success_status(operation: dict[str, Any]) -> int:
    return min(int(code) for code in operation["responses"] if code.startswith("2"))


def request_item(
    document: dict[str, Any], method: str, path: str, operation: dict[str, Any]
) -> dict[str, Any]:
    key = f"{method.upper()} {path}"
    query = QUERY_EXAMPLES.get(key, {})
    query_text = "&".join(f"{k}={v}" for k, v in query.items())
    request: dict[str, Any] = {
        "method": method.upper(),
        "header": [],
        "url": {
            "raw": "{{baseUrl}}" + path + (f"?{query_text}" if query_text else ""),
            "host": ["{{baseUrl}}"],
            "path": [part for part in path.split("/") if part],
            **({"query": [{"key": k, "value": v} for k, v in query.items()]} if query else {}),
        },
    }
    if operation.get("description") or operation.get("summary"):
        request["description"] = operation.get("description") or operation["summary"]
    body_schema = (
        operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    )
    if body_schema is not None:
        body = BODY_EXAMPLES.get(key)
        if body is None:
            body = example_value(document, body_schema)
        request["header"].append({"key": "Content-Type", "value": "application/json"})
        request["body"] = {"mode": "raw", "raw": json.dumps(body, indent=2)}
    security = operation.get("security") or []
    if any("adminToken" in requirement for requirement in security):
        request["header"].append({"key": "X-Admin-Token", "value": "{{adminToken}}"})
    events = []
    if key == "POST /login":
        request["auth"] = {"type": "noauth"}
        events.append(_script("test", LOGIN_TEST))
    else:
        status = _success_status(operation)
        events.append(
            _script(
                "test",
                [
                    f"pm.test('{key} answers {status}', () => pm.response.to.have.status({status}));",
                ],
            )
        )
    if key == "POST /af/postback":
        request["auth"] = {"type": "noauth"}  # Authorization may be the AppsFlyer push token header
        events.append(_script("prerequest", SIGN_POSTBACK))
    return {"name": operation.get("summary") or key, "event": events, "request": request}


def _order(tag: str) -> tuple[int, str]:
    return (TAG_ORDER.index(tag) if tag in TAG_ORDER else len(TAG_ORDER), tag)


def build_collection(document: dict[str, Any]) -> dict[str, Any]:
    folders: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            tag = (operation.get("tags") or ["other"])[0]
            folders.setdefault(tag, []).append((path, method, operation))
    items = []
    for tag in sorted(folders, key=_order):
        # Within a folder POST /login first (Run collection logs in once), then by path.
        entries = sorted(folders[tag], key=lambda e: (e[0] != "/login", e[0], e[1]))
        items.append(
            {
                "name": tag,
                "item": [request_item(document, method, path, op) for path, method, op in entries],
            }
        )
    info = document.get("info", {})
    return {
        "info": {
            "name": info.get("title", "API"),
            "description": (
                f"{info.get('description', '')}\n\nGenerated from /openapi.json by "
                "tools/make_postman.py (`make postman`); do not edit by hand. Run the login request once: "
                "its token is stored in the collection variable `token` and used by every request."
            ),
            "version": info.get("version", ""),
            "schema": SCHEMA_URL,
        },
        "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}]},
        "variable": [
            {"key": "baseUrl", "value": "http://localhost:8000"},
            {"key": "userId", "value": "postman_player"},
            {"key": "token", "value": ""},
            {"key": "adminToken", "value": ""},
            {"key": "afSecret", "value": "appsflyer_secret_key"},
        ],
        "item": items,
    }


def render(collection: dict[str, Any]) -> str:
    return json.dumps(collection, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    text = render(build_collection(openapi_document()))
    temporary = args.output.with_suffix(".json.tmp")
    temporary.write_text(text)
    temporary.replace(args.output)  # atomic: a reader never sees half a collection
    count = text.count('"method":')
    print(f"wrote {args.output} ({count} requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
