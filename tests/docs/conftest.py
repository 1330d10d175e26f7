"""The served OpenAPI document, built once per module from an in-process app on SQLite."""

from __future__ import annotations

from typing import Any

import pytest

from tools.make_postman import openapi_document


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()
