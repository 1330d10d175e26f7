"""Generate postman_collection.json (`make postman`) from the app's own /openapi.json and the
maintained scenario set in tools/postman_scenarios.py.

The document gives each request its route, credentials and the JSON Schema its answer must
match (the success model, or ErrorResponse for an error); the scenarios give what to send and
which status to expect. Every request asserts its status and body shape. Variables are read
with pm.variables.get, so an environment or globals (`newman --env-var adminToken=...`)
override the collection's defaults. Postbacks are HMAC-SHA256-signed in a pre-request script
with the crypto-js module (`require('crypto-js')`; newman's sandbox has no Node `crypto`).
Fails when a documented route has no scenario, so new routes cannot go untested.

    python tools/make_postman.py [--output postman_collection.json]

tests/deploy/test_postman.py fails when the committed file is stale;
tests/docs/test_newman.py runs it with newman against a live server.
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
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tools.postman_scenarios import FOLDERS, Step  # noqa: E402

DEFAULT_OUTPUT = REPO_ROOT / "postman_collection.json"
SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
REPORT_DATE = "2025-11-10"  # the sample data's last day: a run on it rewrites reports with real numbers
# Keywords Postman's schema check (Ajv) does not need: documentation and formats it may not know.
_DOC_KEYWORDS = {"title", "description", "examples", "example", "default", "format"}
SIGN_POSTBACK = [
    "// AppsFlyer signs the exact raw body (a GET: the raw query string): HMAC-SHA256 with AF_SECRET, hex.",
    "const cryptoJs = require('crypto-js');  // the module, not the deprecated CryptoJS global",
    "const body = pm.variables.replaceIn(pm.request.method === 'GET' ?"
    " pm.request.url.getQueryString() : pm.request.body.raw);",
    "const signature = cryptoJs.HmacSHA256(body, pm.variables.get('afSecret')).toString(cryptoJs.enc.Hex);",
    "pm.request.headers.upsert({key: 'X-AF-Signature', value: '{prefix}' + signature});",
]
AUTH_HEADERS = {
    "admin": ("X-Admin-Token", "{{adminToken}}"),
    "bad-admin": ("X-Admin-Token", "wrong-admin-token-{{runTag}}"),
    "server": ("X-Server-Key", "{{serverKey}}"),
    "bad-server": ("X-Server-Key", "wrong-server-key-{{runTag}}"),
}


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


def inline_schema(document: dict[str, Any], schema: Any) -> Any:
    """`schema` with its $refs replaced by the components and documentation keywords dropped."""
    if isinstance(schema, list):
        return [inline_schema(document, item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return inline_schema(document, document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]])
    return {
        key: (
            value
            if key in ("properties", "required", "enum", "const") and not isinstance(value, dict)
            else inline_schema(document, value)
            if key != "properties"
            else {name: inline_schema(document, prop) for name, prop in value.items()}
        )
        for key, value in schema.items()
        if key not in _DOC_KEYWORDS
    }


def response_schema(document: dict[str, Any], step: Step) -> dict[str, Any] | None:
    """The JSON Schema the answer must match: the route's documented one for that status, else
    ErrorResponse for any error; None when the route or a JSON answer is not documented."""
    operation = document["paths"].get(step.path, {}).get(step.method)
    documented = (operation or {}).get("responses", {}).get(str(step.status), {})
    schema = documented.get("content", {}).get("application/json", {}).get("schema")
    if schema is None and step.status >= 400:
        schema = {"$ref": "#/components/schemas/ErrorResponse"}
    return inline_schema(document, schema) if schema is not None else None


def _script(listen: str, lines: list[str]) -> dict[str, Any]:
    return {"listen": listen, "script": {"type": "text/javascript", "exec": lines}}


def _js(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def assertions(document: dict[str, Any], step: Step) -> list[str]:
    lines = [f"pm.test('status {step.status}', () => pm.response.to.have.status({step.status}));"]
    schema = response_schema(document, step)
    if schema is not None:
        lines.append(
            "pm.test('body matches the documented schema', () => "
            f"pm.response.to.have.jsonSchema({_js(schema)}));"
        )
    elif step.keys:
        lines.append(
            f"pm.test('body has {', '.join(step.keys)}', () => "
            f"pm.expect(pm.response.json()).to.include.all.keys({_js(list(step.keys))}));"
        )
    if step.error:
        lines.append(
            f"pm.test('error {step.error}', () => "
            f"pm.expect(pm.response.json().error).to.eql({_js(step.error)}));"
        )
    if step.names_field:
        lines.append(
            f"pm.test('names the field {step.names_field}', () => "
            f"pm.expect(pm.response.json().details.map(d => d.field)).to.include({_js(step.names_field)}));"
        )
    return lines + step.tests


def request_item(document: dict[str, Any], step: Step) -> dict[str, Any]:
    path = step.path.replace("{run_id}", "{{runId}}")
    query = "&".join(f"{k}={v}" for k, v in step.query.items())
    headers = [{"key": k, "value": v} for k, v in step.headers.items()]
    request: dict[str, Any] = {
        "method": step.method.upper(),
        "header": headers,
        "url": {
            "raw": "{{baseUrl}}" + path + (f"?{query}" if query else ""),
            "host": ["{{baseUrl}}"],
            "path": [part for part in path.split("/") if part],
            **({"query": [{"key": k, "value": v} for k, v in step.query.items()]} if step.query else {}),
        },
    }
    operation = document["paths"].get(step.path, {}).get(step.method, {})
    if operation.get("summary"):
        request["description"] = operation["summary"]
    if step.body is not None or step.raw is not None:
        headers.append({"key": "Content-Type", "value": "application/json"})
        raw = step.raw if step.raw is not None else json.dumps(step.body, indent=2)
        request["body"] = {"mode": "raw", "raw": raw}
    if step.auth in AUTH_HEADERS:
        key, value = AUTH_HEADERS[step.auth]
        headers.append({"key": key, "value": value})
    if step.auth == "old-token":
        request["auth"] = {
            "type": "bearer",
            "bearer": [{"key": "token", "value": "{{revokedToken}}", "type": "string"}],
        }
    elif step.auth != "bearer":
        request["auth"] = {"type": "noauth"}
    prerequest = list(step.prerequest)
    if step.sign is not None:
        prerequest += [line.replace("{prefix}", step.sign) for line in SIGN_POSTBACK]
    events = [_script("test", assertions(document, step))]
    if prerequest:
        events.insert(0, _script("prerequest", prerequest))
    return {"name": step.name, "event": events, "request": request}


def untested_operations(document: dict[str, Any]) -> list[str]:
    covered = {(step.method, step.path) for _, steps in FOLDERS for step in steps}
    return [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
        if (method, path) not in covered
    ]


def build_collection(document: dict[str, Any]) -> dict[str, Any]:
    missing = untested_operations(document)
    if missing:
        raise ValueError(f"no scenario in tools/postman_scenarios.py for: {', '.join(missing)}")
    names = [step.name for _, steps in FOLDERS for step in steps]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:  # the pipeline poll re-runs a request by its name
        raise ValueError(f"request names must be unique: {duplicates}")
    info = document.get("info", {})
    return {
        "info": {
            "name": info.get("title", "API"),
            "description": (
                f"{info.get('description', '')}\n\nGenerated by tools/make_postman.py (`make postman`) "
                "from /openapi.json and tools/postman_scenarios.py; do not edit by hand. Run it whole "
                "(`make newman`, or Run collection): Setup logs a fresh user in and stores the token. "
                "Set adminToken, serverKey and afSecret to the server's ADMIN_TOKEN, SERVER_KEY and "
                "AF_SECRET (as environment variables or collection variables)."
            ),
            "version": info.get("version", ""),
            "schema": SCHEMA_URL,
        },
        "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}]},
        "variable": [
            {"key": "baseUrl", "value": "http://localhost:8000"},
            {"key": "adminToken", "value": ""},
            {"key": "serverKey", "value": ""},
            {"key": "afSecret", "value": ""},
            {"key": "reportDate", "value": REPORT_DATE},
            *(
                {"key": key, "value": ""}
                for key in (
                    "runTag",
                    "userId",
                    "token",
                    "revokedToken",
                    "runId",
                    "postbackId",
                    "eventId",
                    "pollTries",
                )
            ),
        ],
        "item": [
            {"name": folder, "item": [request_item(document, step) for step in steps]}
            for folder, steps in FOLDERS
        ],
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
