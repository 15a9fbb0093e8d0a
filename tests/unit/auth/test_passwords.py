"""Password hashing at the OWASP Argon2id parameters."""

from __future__ import annotations

from agentflow_app.auth import passwords


def test_hashes_are_argon2id_at_owasp_parameters() -> None:
    stored = passwords.hash_password("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify("correct horse battery", stored) == passwords.Verified(ok=True)
    assert not passwords.verify("correct horse batterY", stored).ok


def test_strength_rules_say_what_is_wrong() -> None:
    assert passwords.check_strength("1234567") == "use at least 8 characters"
    assert passwords.check_strength("12345678") is None
    assert passwords.check_strength("x" * 1025) == "use at most 1024 characters"


def test_a_damaged_stored_hash_refuses_instead_of_raising() -> None:
    assert passwords.verify("anything at all", "not a hash") == passwords.Verified(ok=False)
    assert passwords.verify("anything at all", "") == passwords.Verified(ok=False)
