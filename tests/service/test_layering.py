"""The domain names failures; only the HTTP layer knows statuses (issue 12)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import service
from service import errors as domain_errors
from service.http.errors import STATUS_OF_ERROR, status_of

SERVICE_DIR = Path(service.__file__).parent
# Where the transport lives: the http package, each feature's routes and schemas, and the modules
# that build or run the Sanic app. Everything else (rules, stores, infrastructure) must not know it.
TRANSPORT_NAMES = {"routes", "schemas", "headers", "http_metrics"}
TRANSPORT_MODULES = {"service.app", "service.__main__", "service.lifecycle", "service.sanic_types"}


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(SERVICE_DIR)], prefix="service."):
        names.append(info.name)
    return names


def _domain_error_classes() -> set[type[domain_errors.DomainError]]:
    found: set[type[domain_errors.DomainError]] = set()
    for name in _modules():
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, domain_errors.DomainError):
                found.add(value)
    return found


def test_no_domain_error_carries_an_http_status():
    carrying = sorted(c.__qualname__ for c in _domain_error_classes() if "status" in vars(c))
    assert carrying == []


def test_every_domain_error_maps_to_a_status_through_the_one_table():
    for error_class in _domain_error_classes():
        instance = error_class.__new__(error_class)
        assert 400 <= status_of(instance) < 600, error_class
    assert all(issubclass(c, domain_errors.DomainError) for c in STATUS_OF_ERROR)


def test_one_malformed_json_and_one_payload_too_large():
    names = [c.__name__ for c in _domain_error_classes()]
    assert names.count("MalformedJson") == 1
    assert names.count("PayloadTooLarge") + names.count("PostbackTooLarge") == 1


def _is_domain(module_name: str) -> bool:
    last = module_name.rsplit(".", 1)[-1]
    return not (
        module_name.startswith("service.http.")
        or module_name in TRANSPORT_MODULES
        or last in TRANSPORT_NAMES
        or last.endswith(("_routes", "_schemas"))
    )


@pytest.mark.parametrize("module_name", [m for m in _modules() if _is_domain(m)])
def test_domain_modules_import_nothing_from_sanic_or_the_http_layer(module_name):
    source = Path(importlib.import_module(module_name).__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    leaking = {
        m for m in imported if m.split(".")[0] in {"sanic", "sanic_ext"} or m.startswith("service.http")
    }
    assert leaking == set()
