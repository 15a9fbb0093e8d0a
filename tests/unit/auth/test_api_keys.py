"""API key format: recognisable, random, stored only as a hash."""

from __future__ import annotations

import hashlib

from agentflow_app.auth import api_keys


def test_keys_are_random_prefixed_and_hashed() -> None:
    first, second = api_keys.create(), api_keys.create()
    assert first.key != second.key
    assert first.key.startswith("af_")
    assert len(first.key) >= 40
    assert first.prefix == first.key[:11]
    assert first.key_hash == hashlib.sha256(first.key.encode()).hexdigest()
    assert api_keys.looks_like_key(first.key)
    assert not api_keys.looks_like_key("eyJhbGciOiJIUzI1NiJ9.e30.x")
