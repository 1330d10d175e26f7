"""GET /track and POST /af/postback: transport only; rules live in service.postbacks (rules, store)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi
from sanic_ext.extensions.openapi.definitions import Parameter

from service.errors import DomainError, PayloadTooLarge
from service.http.docs import OPTIONAL_BEARER, documented
from service.http.ratelimit import Handler, rate_limited
from service.http.responses import respond
from service.identity.routes import optional_user
from service.monitoring import metrics
from service.postbacks import deeplinks
from service.postbacks import rules as postbacks
from service.postbacks.schemas import (
    SIGNATURE_HEADER_SCHEMA,
    TRACK_QUERY_SCHEMA,
    AppsFlyerPostback,
    PostbackResponse,
    TrackResponse,
)
from service.postbacks.store import store_postback

log = logging.getLogger("service.attribution")

bp = Blueprint("attribution")

# Documented examples of the open-ended af_*/utm_* families; any other af_*/utm_* is logged too.
_DOCUMENTED_TRACK_PARAMS = (
    *deeplinks.NAMED_PARAMS,
    "af_sub1",
    "af_adset",
    "af_ad",
    "af_dp",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)


def _track_parameters(handler: Handler) -> Handler:
    for name in _DOCUMENTED_TRACK_PARAMS:
        handler = openapi.parameter(
            parameter=Parameter(name, schema=TRACK_QUERY_SCHEMA, location="query", required=False)
        )(handler)
    return handler


@bp.get("/track")
@documented(
    "Log a deeplink click's attribution parameters as a deeplink_track event",
    tag="attribution",
    ok=TrackResponse,
    errors=(401, 422, 429),
    security=OPTIONAL_BEARER,  # with a token the event is the caller's
)
@_track_parameters
@rate_limited("track")
@optional_user
async def track(request: Request) -> HTTPResponse:
    logged = deeplinks.tracked_params(request.query_args)
    user = request.ctx.user
    await deeplinks.log_deeplink(logged, user.user_id if user else None)
    return respond(TrackResponse(ok=True, logged=logged))


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused as soon as it passes `limit` instead of after buffering it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"a postback body may be at most {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    # Sanic types `request.stream` as its base Stream; the HTTP/1.1 and HTTP/3 streams read.
    read = getattr(request.stream, "read", None)
    if read is None:  # only routes declared with stream=True are streamed
        if len(request.body) > limit:
            raise PayloadTooLarge(f"a postback body may be at most {limit} bytes")
        return request.body
    while (chunk := await read()) is not None:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"a postback body may be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


POSTBACK_PROOF_TEXTS = {
    401: "No valid proof (`invalid_signature`): X-AF-Signature wrong, push token wrong, or, in "
    "production, neither sent",
}


@bp.post("/af/postback", stream=True)
@documented(
    "Receive an AppsFlyer postback (HMAC signature or Push API token)",
    tag="attribution",
    body=AppsFlyerPostback,
    ok=PostbackResponse,
    errors=(400, 401, 413, 422),
    error_texts=POSTBACK_PROOF_TEXTS,
)
@openapi.parameter(
    parameter=Parameter(
        "X-AF-Signature",
        schema=SIGNATURE_HEADER_SCHEMA,
        location="header",
        required=False,
        description="Lowercase hex HMAC-SHA256 of the raw body with AF_SECRET (`sha256=` prefix allowed)",
    )
)
async def postback(request: Request) -> HTTPResponse:
    body = await _read_body(request, postbacks.MAX_BODY_BYTES)
    max_usd = request.app.ctx.settings.MAX_PURCHASE_USD
    return await _accept(request, body, lambda: postbacks.parse_postback(body, max_usd))


@bp.get("/af/postback")
@documented(
    "Receive an AppsFlyer postback delivered by GET (fields in the query string; the HMAC, when "
    "used, is over the raw query string)",
    tag="attribution",
    ok=PostbackResponse,
    errors=(401, 413, 422),
    error_texts=POSTBACK_PROOF_TEXTS,
)
async def postback_by_get(request: Request) -> HTTPResponse:
    query = request.query_string
    max_usd = request.app.ctx.settings.MAX_PURCHASE_USD
    signed = query.encode("utf-8", "surrogateescape")
    return await _accept(request, signed, lambda: postbacks.parse_query_postback(query, max_usd))


async def _accept(request: Request, signed: bytes, parse: Callable[[], postbacks.Postback]) -> HTTPResponse:
    settings = request.app.ctx.settings
    try:
        proof = postbacks.verify_proof(
            signed,
            signature_header=request.headers.get("x-af-signature"),
            token_header=request.headers.get(settings.AF_PUSH_TOKEN_HEADER),
            af_secret=settings.AF_SECRET,
            push_token=settings.AF_PUSH_TOKEN,
            proof_required=settings.is_production or settings.AF_REQUIRE_PROOF,
        )
        parsed = parse()
    except DomainError as exc:  # the contract's error codes: a bounded label set
        metrics.record_postback(exc.code)
        raise
    if not proof.verified:
        log.warning("accepting an unsigned postback (development only); stored as unverified")
    stored = await store_postback(parsed, proof)
    metrics.record_postback("duplicate" if stored.duplicate else "accepted")
    message = (
        "Duplicate postback: already stored, nothing new was written"
        if stored.duplicate
        else "Postback received and stored successfully"
    )
    return respond(
        PostbackResponse(
            ok=True,
            postbackId=stored.postback_id,
            eventId=stored.event_id,
            message=message,
            duplicate=stored.duplicate,
        )
    )
