"""Encryption at rest: round trip, rotation between keys, a removed key, a bad key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from agentflow_app.errors import ConfigError
from agentflow_app.secrets.fernet import Cipher, UndecryptableError

VALUE = {"api_key": "sk-live-0123456789abcdef"}
OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_round_trip_hides_the_value() -> None:
    cipher = Cipher([NEW])
    token = cipher.encrypt(VALUE)
    assert "sk-live" not in token
    assert cipher.decrypt(token, "prod") == VALUE


def test_rotation_moves_a_value_to_the_first_key() -> None:
    token = Cipher([OLD]).encrypt(VALUE)
    rotated = Cipher([NEW, OLD]).rotate(token, "prod")
    assert Cipher([NEW]).decrypt(rotated, "prod") == VALUE
    with pytest.raises(UndecryptableError):
        Cipher([OLD]).decrypt(rotated, "prod")


def test_a_removed_key_is_an_error_naming_the_credential() -> None:
    token = Cipher([OLD]).encrypt(VALUE)
    with pytest.raises(UndecryptableError, match="credential 'prod' cannot be decrypted"):
        Cipher([NEW]).decrypt(token, "prod")
    with pytest.raises(UndecryptableError, match="'prod'"):
        Cipher([NEW]).rotate(token, "prod")


def test_a_malformed_key_is_named_by_position_not_printed() -> None:
    with pytest.raises(ConfigError, match="key 2 is not a Fernet key") as caught:
        Cipher([NEW, "not-a-key-secretish"])
    assert "secretish" not in str(caught.value)


def test_no_key_at_all() -> None:
    with pytest.raises(ConfigError, match="holds no key"):
        Cipher([])
