"""Server grants: POST /server/earn and /server/spend for a game server or back office (SPEC §3b).

Authenticated by X-Server-Key, not a player token; any catalogue reason (server-only ones
included), no client caps, but the same ledger, locking, idempotency and MAX_BALANCE.
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from service.http.docs import SERVER_KEY, documented
from service.http.schemas import BalanceChangeResponse, ServerAmountRequest
from service.http.validation import parse_body
from service.identity import admin
from service.wallet import rules as wallet
from service.wallet.routes import change_response

bp = Blueprint("server_wallet")
_ERRORS = (400, 401, 403, 404, 409, 413, 422)


async def _server_change(request: Request, endpoint: str, sign: int) -> HTTPResponse:
    ctx = request.app.ctx
    admin.check_server_key(ctx.settings, request.headers.get(admin.SERVER_KEY_HEADER))
    body = parse_body(ServerAmountRequest, request)
    ctx.catalogue.check_server_reason(body.reason)
    limits = wallet.Limits(None, ctx.settings.MAX_BALANCE)
    return await change_response(request, body, body.userId, endpoint, sign, limits)


@bp.post("/server/earn")
@documented(
    "Grant currency to a user as the game server (X-Server-Key; Idempotency-Key supported)",
    tag="server",
    body=ServerAmountRequest,
    ok=BalanceChangeResponse,
    errors=_ERRORS,
    security=SERVER_KEY,
    idempotent=True,
)
async def server_earn(request: Request) -> HTTPResponse:
    return await _server_change(request, "/server/earn", +1)


@bp.post("/server/spend")
@documented(
    "Take currency from a user as the game server (X-Server-Key; Idempotency-Key supported)",
    tag="server",
    body=ServerAmountRequest,
    ok=BalanceChangeResponse,
    errors=_ERRORS,
    security=SERVER_KEY,
    idempotent=True,
)
async def server_spend(request: Request) -> HTTPResponse:
    return await _server_change(request, "/server/spend", -1)
