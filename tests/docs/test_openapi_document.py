"""One OpenAPI document, self-describing: every model, field and credential explained."""

from __future__ import annotations

from typing import Any

import pytest
from sanic_testing.testing import SanicTestClient

from service.app import create_app
from service.config import Settings


def _objects(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: schema
        for name, schema in document["components"]["schemas"].items()
        if schema.get("type") == "object"
    }


def test_every_request_and_response_model_has_a_description_and_an_example(document):
    undocumented = [name for name, schema in _objects(document).items() if not schema.get("description")]
    no_example = [name for name, schema in _objects(document).items() if not schema.get("examples")]
    assert not undocumented, f"models without a description: {undocumented}"
    assert not no_example, f"models without an example: {no_example}"


def test_every_field_of_every_model_has_a_description(document):
    missing = [
        f"{name}.{field}"
        for name, schema in _objects(document).items()
        for field, prop in schema.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert not missing, f"fields without a description: {missing}"


def test_model_examples_satisfy_their_own_required_fields(document):
    for name, schema in _objects(document).items():
        for example in schema.get("examples", []):
            assert set(schema.get("required", [])) <= set(example), name
            assert set(example) <= set(schema.get("properties", {})) or schema.get(
                "additionalProperties", True
            ), name


def _auth_texts(document: dict[str, Any], path: str, method: str) -> dict[str, str]:
    responses = document["paths"][path][method]["responses"]
    return {code: responses[code]["description"] for code in ("401", "403") if code in responses}


@pytest.mark.parametrize(
    ("path", "method", "header"),
    [
        ("/run-pipeline", "post", "X-Admin-Token"),
        ("/pipeline-runs/{run_id}", "get", "X-Admin-Token"),
        ("/metrics", "get", "X-Admin-Token"),
    ],
)
def test_admin_routes_describe_401_and_403_by_the_admin_header(document, path, method, header):
    texts = _auth_texts(document, path, method)
    assert header in texts["401"] and "bearer" not in texts["401"].lower()
    assert header in texts["403"]


@pytest.mark.parametrize(("path", "method"), [("/balance", "get"), ("/earn", "post"), ("/ledger", "get")])
def test_bearer_routes_describe_401_by_the_token(document, path, method):
    text = _auth_texts(document, path, method)["401"]
    assert "Bearer" in text and "token_revoked" in text


def test_postback_401_names_the_signature_not_a_bearer_token(document):
    text = _auth_texts(document, "/af/postback", "post")["401"]
    assert "X-AF-Signature" in text and "bearer" not in text.lower()


def test_security_schemes_describe_each_credential(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["adminToken"]["name"] == "X-Admin-Token"
    assert schemes["serverKey"]["name"] == "X-Server-Key"
    assert all(scheme.get("description") for scheme in schemes.values())


def test_there_is_one_document_at_openapi_json(tmp_path):
    settings = Settings(_env_file=None, DATABASE_URL=f"sqlite:///{tmp_path}/docs.db")
    app = create_app(settings, name="one_document")
    client = SanicTestClient(app)
    _, document = client.get("/openapi.json")
    _, duplicate = client.get("/docs/openapi.json")
    assert document.status == 200 and document.json["openapi"] == "3.1.0"
    assert duplicate.status == 404
