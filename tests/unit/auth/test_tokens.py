"""JWTs: HS256 only, expiry and the required claims checked."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from agentflow_app.auth import tokens
from agentflow_app.settings import get_settings


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_issue_then_decode() -> None:
    issued = tokens.issue(7, 3, ttl_s=60)
    claims = tokens.decode(issued.access_token)
    assert (claims.user_id, claims.token_version, claims.jti) == (7, 3, issued.jti)
    assert jwt.get_unverified_header(issued.access_token)["alg"] == "HS256"
    assert issued.expires_in == 60


def test_alg_none_and_other_algorithms_are_refused() -> None:
    payload = jwt.decode(tokens.issue(7, 0).access_token, options={"verify_signature": False})
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."
    with pytest.raises(tokens.InvalidToken, match="not valid"):
        tokens.decode(unsigned)
    hs512 = jwt.encode(payload, get_settings().secret_key(), algorithm="HS512")
    with pytest.raises(tokens.InvalidToken, match="not valid"):
        tokens.decode(hs512)


def test_expired_tampered_and_incomplete_tokens_are_refused() -> None:
    with pytest.raises(tokens.InvalidToken, match="expired"):
        tokens.decode(tokens.issue(7, 0, ttl_s=-1).access_token)
    good = tokens.issue(7, 0).access_token
    head, body, signature = good.split(".")
    forged = _b64({**json.loads(base64.urlsafe_b64decode(body + "==")), "sub": "8"})
    with pytest.raises(tokens.InvalidToken):
        tokens.decode(f"{head}.{forged}.{signature}")
    no_version = jwt.encode(
        {"sub": "7", "jti": "x", "iat": 0, "exp": 2**33}, get_settings().secret_key(), "HS256"
    )
    with pytest.raises(tokens.InvalidToken):
        tokens.decode(no_version)
    with pytest.raises(tokens.InvalidToken):
        tokens.decode("garbage")


def test_a_token_checked_before_is_still_refused_once_it_expires() -> None:
    issued = tokens.issue(7, 0, ttl_s=1)
    assert tokens.decode(issued.access_token).user_id == 7  # checked, and remembered
    while time.time() < issued.expires_at.timestamp():
        time.sleep(0.05)
    with pytest.raises(tokens.InvalidToken, match="expired"):
        tokens.decode(issued.access_token)


def test_a_remembered_token_is_checked_again_under_another_secret(monkeypatch) -> None:
    token = tokens.issue(7, 0).access_token
    assert tokens.decode(token).user_id == 7
    monkeypatch.setenv("AGENTFLOW_SECRET_KEY", "another secret, as after a restart with it")
    get_settings.cache_clear()
    try:
        with pytest.raises(tokens.InvalidToken, match="not valid"):
            tokens.decode(token)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
