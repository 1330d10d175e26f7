"""Wallet routes: /balance, /earn, /spend, /ledger."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from service.http.auth import require_user
from service.http.docs import BEARER, documented
from service.http.schemas import BalanceResponse

bp = Blueprint("wallet")


@bp.get("/balance")
@documented("The caller's balance", tag="wallet", ok=BalanceResponse, errors=(401,), security=BEARER)
@require_user
async def balance(request: Request) -> HTTPResponse:
    user = request.ctx.user
    return json({"userId": user.user_id, "balance": user.balance})
