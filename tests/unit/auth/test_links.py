"""Signed links: each works for its own purpose only, never as an access token, and
expires; an access token is not a link either."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agentflow_app.auth import links, tokens
from agentflow_app.errors import InvalidInput

RESET_CLAIMS = {"sub": "7", "tv": 0}


def test_a_link_reads_back_for_its_purpose() -> None:
    token = links.sign("invite", {"email": "a@example.com"}, timedelta(minutes=5))
    assert links.read("invite", token)["email"] == "a@example.com"


def test_a_link_is_refused_for_another_purpose() -> None:
    token = links.sign("invite", {"email": "a@example.com"}, timedelta(minutes=5))
    with pytest.raises(InvalidInput, match="not valid"):
        links.read("password-reset", token)


def test_a_reset_link_is_not_an_access_token_and_back() -> None:
    # It carries sub, tv, jti, iat and exp like an access token: its aud tells them apart.
    token = links.sign("password-reset", RESET_CLAIMS, timedelta(minutes=5))
    with pytest.raises(tokens.InvalidToken):
        tokens.decode(token)
    with pytest.raises(InvalidInput, match="not valid"):
        links.read("password-reset", tokens.issue(7, 0).access_token)


def test_an_expired_or_tampered_link_is_refused() -> None:
    expired = links.sign("password-reset", RESET_CLAIMS, timedelta(seconds=-60))
    with pytest.raises(InvalidInput, match="expired"):
        links.read("password-reset", expired)
    good = links.sign("password-reset", RESET_CLAIMS, timedelta(minutes=5))
    with pytest.raises(InvalidInput, match="not valid"):
        links.read("password-reset", good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"))
