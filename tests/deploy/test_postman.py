"""postman_collection.json is generated from /openapi.json and must not go stale."""

from __future__ import annotations

import json

import pytest

from tests.conftest import repo_root
from tools.make_postman import build_collection, render

COMMITTED = repo_root() / "postman_collection.json"


@pytest.fixture
async def collection(client, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("the document does not depend on the database; one dialect is enough")
    return build_collection((await client.get("/openapi.json")).json())


def requests_of(collection) -> dict[str, list[dict]]:
    requests: dict[str, list[dict]] = {}
    for folder in collection["item"]:
        for item in folder["item"]:
            path = "/" + "/".join(item["request"]["url"]["path"]).replace("{{runId}}", "{run_id}")
            requests.setdefault(f"{item['request']['method']} {path}", []).append(
                {**item, "folder": folder["name"]}
            )
    return requests


async def test_committed_collection_is_current(collection):
    assert COMMITTED.read_text() == render(collection), (
        "postman_collection.json is stale: run `make postman` and commit it"
    )


async def test_every_documented_route_has_requests(client, collection):
    document = (await client.get("/openapi.json")).json()
    documented = {f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops}
    requests = requests_of(collection)
    assert documented <= set(requests)
    for items in requests.values():
        for item in items:
            body = item["request"].get("body")
            if body is not None and not item["folder"].startswith("5 Malformed JSON"):
                json.loads(body["raw"])  # every other body is JSON


async def test_login_first_then_bearer_token_everywhere(collection):
    assert collection["auth"]["bearer"][0]["value"] == "{{token}}"
    setup = collection["item"][0]["item"]
    login = next(item for item in setup if item["request"]["method"] == "POST")
    assert login["request"]["url"]["path"] == ["login"]
    assert login["request"]["auth"] == {"type": "noauth"}
    script = "\n".join(login["event"][-1]["script"]["exec"])
    assert "pm.collectionVariables.set('token', pm.response.json().token)" in script


async def test_postbacks_are_signed_over_the_body_as_sent(collection):
    for item in requests_of(collection)["POST /af/postback"]:
        prerequest = ["\n".join(e["script"]["exec"]) for e in item["event"] if e["listen"] == "prerequest"]
        if "X-AF-Signature" in json.dumps(item["request"]["header"]):
            continue  # sends a deliberately wrong signature
        [signing] = prerequest
        assert "pm.request.url.getQueryString() : pm.request.body.raw" in signing
        assert "HmacSHA256(body, pm.variables.get('afSecret'))" in signing
