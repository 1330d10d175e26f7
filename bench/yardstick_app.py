"""Hand-written Sanic + asyncpg `/earn`: the yardstick the service's /earn is measured against.

It does the same work per request as SPEC §3 asks of the service, with nothing else:
verify the HS256 JWT with PyJWT, then in one transaction lock the user row
(SELECT ... FOR UPDATE), update the balance, insert one wallet_ledger row, commit.
Raw SQL, one round trip per statement, a pool opened once per worker.
`/balance` (one SELECT) and `/event` (one INSERT that also proves the user exists) make the
60/30/10 mix comparable too.

Run (bench/api_load.py does this for you):
    DATABASE_URL=postgresql://... JWT_SECRET=... \
    sanic bench.yardstick_app:create_app --factory --workers 2 --host 127.0.0.1 --port 8001
"""

from __future__ import annotations

import json as jsonlib
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import wraps

import asyncpg
import jwt
from sanic import Request, Sanic
from sanic.response import HTTPResponse, json

# The statements the service's /earn must also issue; table and column names follow the
# service's migration (users, wallet_ledger) so both run against the same schema.
LOCK_USER_SQL = "SELECT id, balance FROM users WHERE user_id = $1 FOR UPDATE"
UPDATE_BALANCE_SQL = "UPDATE users SET balance = $1 WHERE id = $2"
INSERT_LEDGER_SQL = (
    "INSERT INTO wallet_ledger (user_id, delta, balance_after, reason, idempotency_key,"
    " request_id, ts) VALUES ($1, $2, $3, $4, NULL, $5, $6)"
)
BALANCE_SQL = "SELECT balance FROM users WHERE user_id = $1"
INSERT_EVENT_SQL = (
    "INSERT INTO events (user_id, event_type, ts_utc, meta)"
    " SELECT $1::varchar, $2::varchar, $3::timestamptz, $4::text"
    " WHERE EXISTS (SELECT 1 FROM users WHERE user_id = $1::varchar) RETURNING id"
)
EVENT_TYPE = re.compile(r"[A-Za-z0-9_.-]{1,100}")
MAX_META_CHARS = 5000
MAX_AMOUNT = 100_000
AuthedHandler = Callable[[Request, str, str], Awaitable[HTTPResponse]]
MAX_REASON_CHARS = 100


def _error(status: int, code: str, message: str, request_id: str) -> HTTPResponse:
    headers = {"X-Request-ID": request_id}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body = {"error": code, "message": message, "requestId": request_id}
    return json(body, status=status, headers=headers)


def _unknown_user(request_id: str) -> HTTPResponse:
    return _error(401, "unauthorized", "The token's user does not exist.", request_id)


def _bearer_subject(request: Request, secret: str) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub", "iat", "exp"]})
    except jwt.InvalidTokenError:
        return None
    subject = claims.get("sub")
    return subject if isinstance(subject, str) else None


def _earn_body(request: Request) -> tuple[int, str] | None:
    body = request.json
    if not isinstance(body, dict):
        return None
    amount, reason = body.get("amount"), body.get("reason")
    if type(amount) is not int or not 1 <= amount <= MAX_AMOUNT:
        return None
    if not isinstance(reason, str) or not 1 <= len(reason) <= MAX_REASON_CHARS:
        return None
    return amount, reason


async def _keep_session(connection: asyncpg.Connection) -> None:
    """No per-release reset round trip: handlers here never change session state."""


def _event_body(request: Request) -> tuple[str, str | None] | None:
    body = request.json
    if not isinstance(body, dict):
        return None
    event_type, meta = body.get("eventType"), body.get("meta")
    if not isinstance(event_type, str) or not EVENT_TYPE.fullmatch(event_type):
        return None
    if meta is not None:
        if not isinstance(meta, str) or len(meta) > MAX_META_CHARS:
            return None
        try:
            jsonlib.loads(meta)
        except ValueError:
            return None
    return event_type, meta


def create_app() -> Sanic:
    app = Sanic("yardstick")
    app.config.ACCESS_LOG = False
    app.config.AUTO_EXTEND = False  # no sanic-ext: nothing but the handler's own work
    secret = os.environ["JWT_SECRET"]
    dsn = os.environ["DATABASE_URL"]
    pool_max = int(os.environ.get("DB_POOL_MAX", "20"))

    @app.before_server_start
    async def open_pool(app: Sanic) -> None:
        # Grows on demand like the service's Tortoise pool (minsize 1): PostgreSQL's
        # connection slots are shared with everything else on the box.
        app.ctx.pool = await asyncpg.create_pool(dsn, min_size=1, max_size=pool_max, reset=_keep_session)

    @app.after_server_stop
    async def close_pool(app: Sanic) -> None:
        await app.ctx.pool.close()

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return json({"status": "ok"})

    def bearer(handler: AuthedHandler) -> Callable[[Request], Awaitable[HTTPResponse]]:
        """401 unless the token verifies; the handler gets the subject and a request id."""

        @wraps(handler)
        async def authenticated(request: Request) -> HTTPResponse:
            request_id = str(uuid.uuid4())
            subject = _bearer_subject(request, secret)
            if subject is None:
                return _error(401, "unauthorized", "Missing or invalid bearer token.", request_id)
            return await handler(request, subject, request_id)

        return authenticated

    @app.post("/earn")
    @bearer
    async def earn(request: Request, subject: str, request_id: str) -> HTTPResponse:
        parsed = _earn_body(request)
        if parsed is None:
            return _error(422, "validation_error", "amount or reason is invalid.", request_id)
        amount, reason = parsed
        async with app.ctx.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(LOCK_USER_SQL, subject)
            if row is None:
                return _unknown_user(request_id)
            balance = row["balance"] + amount
            await conn.execute(UPDATE_BALANCE_SQL, balance, row["id"])
            now = datetime.now(UTC)
            await conn.execute(INSERT_LEDGER_SQL, row["id"], amount, balance, reason, request_id, now)
        return json({"ok": True, "balance": balance}, headers={"X-Request-ID": request_id})

    @app.get("/balance")
    @bearer
    async def balance(request: Request, subject: str, request_id: str) -> HTTPResponse:
        async with app.ctx.pool.acquire() as conn:
            balance = await conn.fetchval(BALANCE_SQL, subject)
        if balance is None:
            return _unknown_user(request_id)
        return json({"userId": subject, "balance": balance}, headers={"X-Request-ID": request_id})

    @app.post("/event")
    @bearer
    async def event(request: Request, subject: str, request_id: str) -> HTTPResponse:
        parsed = _event_body(request)
        if parsed is None:
            return _error(422, "validation_error", "eventType or meta is invalid.", request_id)
        event_type, meta = parsed
        async with app.ctx.pool.acquire() as conn:
            event_id = await conn.fetchval(INSERT_EVENT_SQL, subject, event_type, datetime.now(UTC), meta)
        if event_id is None:
            return _unknown_user(request_id)
        return json({"ok": True, "eventId": event_id}, headers={"X-Request-ID": request_id})

    return app
