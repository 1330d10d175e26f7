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


def requests_of(collection) -> dict[str, dict]:
    return {
        f"{item['request']['method']} /{'/'.join(item['request']['url']['path'])}": item
        for folder in collection["item"]
        for item in folder["item"]
    }


async def test_committed_collection_is_current(collection):
    assert COMMITTED.read_text() == render(collection), (
        "postman_collection.json is stale: run `make postman` and commit it"
    )


async def test_every_documented_route_has_an_example_request(client, collection):
    document = (await client.get("/openapi.json")).json()
    documented = {f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops}
    requests = requests_of(collection)
    assert set(requests) == documented
    for item in requests.values():
        body = item["request"].get("body")
        if body is not None:
            json.loads(body["raw"])  # every example body is JSON


async def test_login_once_then_bearer_token_everywhere(collection):
    assert collection["auth"]["bearer"][0]["value"] == "{{token}}"
    login = requests_of(collection)["POST /login"]
    order = [i["request"]["url"]["raw"] for f in collection["item"] for i in f["item"]]
    assert order.index(login["request"]["url"]["raw"]) < order.index("{{baseUrl}}/balance")
    script = "\n".join(login["event"][0]["script"]["exec"])
    assert "pm.collectionVariables.set('token', body.token)" in script
    assert login["request"]["auth"] == {"type": "noauth"}
    postback = requests_of(collection)["POST /af/postback"]
    [signing] = ["\n".join(e["script"]["exec"]) for e in postback["event"] if e["listen"] == "prerequest"]
    assert "HmacSHA256(pm.request.body.raw" in signing
