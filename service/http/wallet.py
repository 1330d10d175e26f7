"""Wallet routes: /balance, /earn, /spend, /ledger."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from service.domain import wallet
from service.http.auth import require_user
from service.http.docs import BEARER, documented
from service.http.idempotency import body_fingerprint, idempotency_key, outcome_response
from service.http.responses import iso, paged
from service.http.schemas import (
    AmountRequest,
    BalanceChangeResponse,
    BalanceResponse,
    LedgerResponse,
    PageQuery,
)
from service.http.validation import parse_body, parse_query

bp = Blueprint("wallet")
_CHANGE_ERRORS = (400, 401, 409, 413, 422)


@bp.get("/balance")
@documented("The caller's balance", tag="wallet", ok=BalanceResponse, errors=(401,), security=BEARER)
@require_user
async def balance(request: Request) -> HTTPResponse:
    user = request.ctx.user
    return json({"userId": user.user_id, "balance": user.balance})


async def _change(request: Request, sign: int) -> HTTPResponse:
    body = parse_body(AmountRequest, request)
    key = idempotency_key(request)
    change = wallet.BalanceChange(sign * body.amount, body.reason, key, request.ctx.request_id)
    outcome = await wallet.change_balance(
        request.app.ctx.idempotency, request.ctx.user, change, request.path, body_fingerprint(body)
    )
    return outcome_response(outcome)


@bp.post("/earn")
@documented(
    "Add currency (Idempotency-Key supported)",
    tag="wallet", body=AmountRequest, ok=BalanceChangeResponse, errors=_CHANGE_ERRORS, security=BEARER,
    idempotent=True,
)
@require_user
async def earn(request: Request) -> HTTPResponse:
    return await _change(request, +1)


@bp.post("/spend")
@documented(
    "Spend currency; 409 insufficient_funds when the balance is lower (Idempotency-Key supported)",
    tag="wallet", body=AmountRequest, ok=BalanceChangeResponse, errors=_CHANGE_ERRORS, security=BEARER,
    idempotent=True,
)
@require_user
async def spend(request: Request) -> HTTPResponse:
    return await _change(request, -1)


@bp.get("/ledger")
@documented(
    "The caller's balance changes, newest first",
    tag="wallet", query=PageQuery, ok=LedgerResponse, errors=(401, 422), security=BEARER,
)
@require_user
async def ledger(request: Request) -> HTTPResponse:
    page_query = parse_query(PageQuery, request)
    page = await wallet.ledger_page(request.ctx.user.id, page_query.limit, page_query.offset)
    entries = [
        {
            "id": e.id,
            "delta": e.delta,
            "balanceAfter": e.balance_after,
            "reason": e.reason,
            "ts": iso(e.ts),
            "idempotencyKey": e.idempotency_key,
        }
        for e in page.entries
    ]
    return json(paged("entries", entries, page.total, page_query))
