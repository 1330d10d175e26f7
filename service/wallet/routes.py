"""Wallet routes: /balance, /earn, /spend, /ledger."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from service.http.docs import BEARER, documented
from service.http.ratelimit import rate_limited
from service.http.responses import page_fields, respond
from service.http.schemas import (
    AmountRequest,
    BalanceChangeResponse,
    BalanceResponse,
    LedgerEntry,
    LedgerResponse,
    PageQuery,
)
from service.http.validation import parse_body, parse_query
from service.idempotency.headers import body_fingerprint, idempotency_key, replay_headers
from service.identity.routes import require_subject
from service.wallet import rules as wallet

bp = Blueprint("wallet")
_CHANGE_ERRORS = (400, 401, 409, 413, 422, 429)


@bp.get("/balance")
@documented("The caller's balance", tag="wallet", ok=BalanceResponse, errors=(401,), security=BEARER)
@require_subject
async def balance(request: Request) -> HTTPResponse:
    identity = request.ctx.identity
    return respond(BalanceResponse(userId=identity.user_id, balance=await wallet.balance_of(identity)))


async def change_response(
    request: Request, body: AmountRequest, user_id: str, endpoint: str, sign: int, limits: wallet.Limits
) -> HTTPResponse:
    # `endpoint` is the route's own name, never request.path: /earn and /earn/ are one scope.
    key = idempotency_key(request)
    change = wallet.BalanceChange(sign * body.amount, body.reason, key, request.ctx.request_id)
    changed = await wallet.change_balance(
        request.app.ctx.idempotency, user_id, change, endpoint, body_fingerprint(body), limits
    )
    return respond(
        BalanceChangeResponse(ok=True, balance=changed.balance), headers=replay_headers(changed.replayed)
    )


async def _change(request: Request, endpoint: str, sign: int) -> HTTPResponse:
    body = parse_body(AmountRequest, request)
    ctx = request.app.ctx
    rule = ctx.catalogue.client_rule(body.reason, body.amount) if sign > 0 else None
    limits = wallet.Limits(request.ctx.identity, ctx.settings.MAX_BALANCE, rule)
    return await change_response(request, body, request.ctx.user_id, endpoint, sign, limits)


@bp.post("/earn")
@documented(
    "Add currency for a catalogue reason within its limits (Idempotency-Key supported)",
    tag="wallet",
    body=AmountRequest,
    ok=BalanceChangeResponse,
    errors=_CHANGE_ERRORS,
    security=BEARER,
    idempotent=True,
)
@require_subject
@rate_limited("wallet", per_user=True)
async def earn(request: Request) -> HTTPResponse:
    return await _change(request, "/earn", +1)


@bp.post("/spend")
@documented(
    "Spend currency; 409 insufficient_funds when the balance is lower (Idempotency-Key supported)",
    tag="wallet",
    body=AmountRequest,
    ok=BalanceChangeResponse,
    errors=_CHANGE_ERRORS,
    security=BEARER,
    idempotent=True,
)
@require_subject
@rate_limited("wallet", per_user=True)
async def spend(request: Request) -> HTTPResponse:
    return await _change(request, "/spend", -1)


@bp.get("/ledger")
@documented(
    "The caller's balance changes, newest first",
    tag="wallet",
    query=PageQuery,
    ok=LedgerResponse,
    errors=(401, 422),
    security=BEARER,
)
@require_subject
async def ledger(request: Request) -> HTTPResponse:
    page_query = parse_query(PageQuery, request)
    page = await wallet.ledger_page(request.ctx.identity, page_query.limit, page_query.offset)
    entries = [
        LedgerEntry(
            id=e.id,
            delta=e.delta,
            balanceAfter=e.balance_after,
            reason=e.reason,
            ts=e.ts,
            idempotencyKey=e.idempotency_key,
        )
        for e in page.entries
    ]
    return respond(LedgerResponse(entries=entries, **page_fields(len(entries), page.total, page_query)))
