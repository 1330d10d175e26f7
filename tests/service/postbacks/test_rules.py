"""The postback rules without HTTP or a database: proof of origin, validation, mapping."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from service.errors import MalformedJson, PayloadTooLarge, ValidationFailed
from service.http.errors import status_of
from service.postbacks.rules import (
    MAX_BODY_BYTES,
    InvalidPushToken,
    InvalidSignature,
    ProofRequired,
    event_type_for,
    parse_event_time,
    parse_postback,
    sign,
    verify_proof,
)

SECRET = "af-test-secret"
TOKEN = "push-token-0123456789"
BODY = (
    b'{"event_name": "af_purchase", "appsflyer_id": "1700000000000-1234567",'
    b' "customer_user_id": "player_1", "event_revenue_usd": "9.99",'
    b' "event_time": "2025-11-12 18:00:00.123", "event_value": "{\\"af_revenue\\":\\"9.99\\"}"}'
)


def proof(body: bytes = BODY, *, signature=None, token=None, push_token=None, required=False):
    return verify_proof(
        body,
        signature_header=signature,
        token_header=token,
        af_secret=SECRET,
        push_token=push_token,
        proof_required=required,
    )


def test_signature_is_hmac_sha256_hex_of_the_raw_bytes():
    assert sign(SECRET, BODY) == hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "header",
    [
        sign(SECRET, BODY),
        "sha256=" + sign(SECRET, BODY),
        "SHA256=" + sign(SECRET, BODY).upper(),
        f"  {sign(SECRET, BODY)} ",
    ],
)
def test_valid_signature_forms_verify(header):
    result = proof(signature=header, required=True)
    assert result.verified and result.methods == ("hmac",)
    assert result.signature == sign(SECRET, BODY), "stored as lowercase hex without prefix"


def test_signature_of_reserialised_json_does_not_verify_raw_bytes():
    reserialised = json.dumps(json.loads(BODY), separators=(",", ":")).encode()
    assert reserialised != BODY
    with pytest.raises(InvalidSignature):
        proof(signature=sign(SECRET, reserialised))


def test_tampered_body_with_original_signature_is_rejected():
    tampered = BODY.replace(b"9.99", b"99.99")
    with pytest.raises(InvalidSignature):
        proof(tampered, signature=sign(SECRET, BODY))


@pytest.mark.parametrize("header", ["deadbeef", "sha256=", "ünïcode", sign("other", BODY)])
def test_wrong_signature_is_rejected_even_in_development(header):
    with pytest.raises(InvalidSignature) as caught:
        proof(signature=header, required=False)
    assert status_of(caught.value) == 401 and caught.value.code == "invalid_signature"


def test_missing_proof_is_unverified_in_development_and_refused_when_required():
    assert proof(required=False).verified is False
    with pytest.raises(ProofRequired):
        proof(required=True)
    with pytest.raises(ProofRequired):
        proof(signature="   ", required=True)


def test_push_token_is_an_alternative_proof():
    result = proof(token=TOKEN, push_token=TOKEN, required=True)
    assert result.verified and result.methods == ("push_token",) and result.signature is None


def test_wrong_push_token_is_rejected_even_with_a_valid_signature():
    with pytest.raises(InvalidPushToken):
        proof(signature=sign(SECRET, BODY), token="Bearer " + TOKEN, push_token=TOKEN)


def test_token_header_is_ignored_when_no_push_token_is_configured():
    # The default header is Authorization, which may carry a user's JWT; that proves nothing.
    assert proof(token="Bearer abc", push_token=None).verified is False
    with pytest.raises(ProofRequired):
        proof(token=TOKEN, push_token=None, required=True)


def test_parse_maps_appsflyer_fields_to_an_event():
    postback = parse_postback(BODY)
    assert postback.event_type == "af_purchase"
    assert postback.user_id == "player_1"
    assert postback.event_time == datetime(2025, 11, 12, 18, 0, 0, 123000, tzinfo=UTC)
    assert postback.text == BODY.decode()
    assert postback.body_sha256 == hashlib.sha256(BODY).hexdigest()
    assert postback.payload["event_value"] == '{"af_revenue":"9.99"}'


def test_user_falls_back_to_appsflyer_id_when_customer_user_id_is_null_or_empty():
    for cuid in (None, "", "  "):
        body = json.dumps({"event_name": "install", "appsflyer_id": "af-1", "customer_user_id": cuid})
        assert parse_postback(body.encode()).user_id == "af-1"


@pytest.mark.parametrize(
    "name,expected",
    [("purchase", "af_purchase"), ("af_level", "af_level"), ("level achieved", "af_level achieved")],
)
def test_event_type_gets_the_af_prefix_once(name, expected):
    assert event_type_for(name) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2025-11-12 18:00:00", datetime(2025, 11, 12, 18, tzinfo=UTC)),
        ("2025-11-12T18:00:00Z", datetime(2025, 11, 12, 18, tzinfo=UTC)),
        ("2025-11-12T20:00:00+02:00", datetime(2025, 11, 12, 18, tzinfo=UTC)),
        ("2025-11-12 18:00:00.5", datetime(2025, 11, 12, 18, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_event_time_forms(text, expected):
    assert parse_event_time(text) == expected


# Nesting past 64 levels is 422 whether or not the document ends (SPEC §3b; test_postback_trust).
@pytest.mark.parametrize("body", [b"not json", b"{", b"\xff\xfe{}", b'{"a": NaN}'])
def test_non_json_is_400(body):
    with pytest.raises(MalformedJson) as caught:
        parse_postback(body)
    assert status_of(caught.value) == 400


@pytest.mark.parametrize(
    "body,field",
    [
        (b"[]", "body"),
        (b'"text"', "body"),
        (b'{"appsflyer_id": "a"}', "event_name"),
        (b'{"event_name": "", "appsflyer_id": "a"}', "event_name"),
        (b'{"event_name": 5, "appsflyer_id": "a"}', "event_name"),
        (b'{"event_name": "install"}', "customer_user_id"),
        (b'{"event_name": "install", "appsflyer_id": null, "customer_user_id": ""}', "customer_user_id"),
        (b'{"event_name": "install", "customer_user_id": 12}', "customer_user_id"),
        (b'{"event_name": "x\\u0000", "appsflyer_id": "a"}', "event_name"),
        (b'{"event_name": "install", "appsflyer_id": "\\ud800"}', "appsflyer_id"),
        (b'{"event_name": "install", "appsflyer_id": "a", "event_time": "yesterday"}', "event_time"),
        (
            b'{"event_name": "install", "appsflyer_id": "a", "event_time": "2025-02-30 10:00:00"}',
            "event_time",
        ),
        (b'{"event_name": "install", "appsflyer_id": "a", "event_time": 1731434400}', "event_time"),
        (
            b'{"event_name": "install", "appsflyer_id": "a", "event_time": "0001-01-01T00:00:00+01:00"}',
            "event_time",
        ),
        (b'{"event_name": "install", "appsflyer_id": "a", "event_revenue_usd": "lots"}', "event_revenue_usd"),
        (b'{"event_name": "install", "appsflyer_id": "a", "event_revenue_usd": true}', "event_revenue_usd"),
        (b'{"event_name": "install", "appsflyer_id": "a", "event_revenue_usd": 1e999}', "event_revenue_usd"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(body, field):
    with pytest.raises(ValidationFailed) as caught:
        parse_postback(body)
    assert status_of(caught.value) == 422
    assert field in {d["field"] for d in caught.value.details}


def test_unknown_fields_and_null_optionals_are_kept():
    body = b'{"event_name": "install", "appsflyer_id": "a", "event_time": null, "af_ad": "x", "k": [1]}'
    postback = parse_postback(body)
    assert postback.event_time is None and postback.payload["af_ad"] == "x"


def test_size_limit_is_64_kib():
    body = b'{"event_name": "install", "appsflyer_id": "a", "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    with pytest.raises(PayloadTooLarge) as caught:
        parse_postback(body)
    assert status_of(caught.value) == 413
