"""The concrete Sanic types this service uses (Sanic's classes are generic over config and ctx)."""

from __future__ import annotations

from types import SimpleNamespace

from sanic import Request, Sanic
from sanic.config import Config

App = Sanic[Config, SimpleNamespace]
AppRequest = Request[App, SimpleNamespace]
