"""The Sanic service: wallet, events, attribution and pipeline endpoints."""

__version__ = "3.0"
