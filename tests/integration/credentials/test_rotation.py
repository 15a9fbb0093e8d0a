"""Key rotation with ``agentflow rotate-keys``, and what a removed key looks like."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlmodel import select

from agentflow_app.cli import main
from agentflow_app.db import session_scope
from agentflow_app.errors import CredentialError
from agentflow_app.models.credential import Credential
from agentflow_app.secrets.fernet import Cipher
from agentflow_app.secrets.vault import Vault
from agentflow_app.services import credentials

OLD, NEW, STRANGER = (Fernet.generate_key().decode() for _ in range(3))
KEY = "sk-ant-rotation-SECRET-1234567890"
TOKEN = "xoxb-rotation-SECRET-0987654321"


def _ciphertexts() -> list[str]:
    with session_scope() as session:
        return list(session.exec(select(Credential.ciphertext)).all())


async def test_rotate_keys_moves_every_value_to_the_first_key(
    sqlite_stack, set_env, make_actor
) -> None:
    set_env(AGENTFLOW_ENCRYPTION_KEYS=OLD)
    first, second = make_actor(), make_actor()
    credentials.create_credential(first, "claude", "anthropic", {"api_key": KEY})
    credentials.create_credential(second, "bot", "slack", {"token": TOKEN})

    set_env(AGENTFLOW_ENCRYPTION_KEYS=f"{NEW},{OLD}")
    # Before rotating, both keys are needed: the values are still under the old one.
    assert all(Cipher([OLD]).decrypt(token, "x") for token in _ciphertexts())
    result = CliRunner().invoke(main, ["rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted 2 credential values" in result.output

    set_env(AGENTFLOW_ENCRYPTION_KEYS=NEW)
    assert [Cipher([NEW]).decrypt(token, "x") for token in _ciphertexts()] == [
        {"api_key": KEY},
        {"token": TOKEN},
    ]
    assert (await Vault(first.workspace_id).get("claude", ("anthropic",)))["api_key"] == KEY
    assert (await Vault(second.workspace_id).get("bot", ("slack",)))["token"] == TOKEN


async def test_a_removed_key_is_a_clear_error_naming_the_credential(
    sqlite_stack, set_env, make_actor
) -> None:
    set_env(AGENTFLOW_ENCRYPTION_KEYS=OLD)
    actor = make_actor()
    credentials.create_credential(actor, "claude", "anthropic", {"api_key": KEY})
    before = _ciphertexts()

    set_env(AGENTFLOW_ENCRYPTION_KEYS=STRANGER)
    with pytest.raises(CredentialError, match="credential 'claude' cannot be decrypted") as caught:
        await Vault(actor.workspace_id).get("claude", ("anthropic",))
    assert "AGENTFLOW_ENCRYPTION_KEYS" in str(caught.value)
    # The list still works: it never needs the value.
    assert [c.name for c in credentials.list_credentials(actor)] == ["claude"]
    # The Test button says so instead of failing.
    listed = credentials.list_credentials(actor)[0]
    answer = await credentials.check_credential(actor, listed.id)
    assert not answer.ok and "'claude' cannot be decrypted" in answer.message

    result = CliRunner().invoke(main, ["rotate-keys"])
    assert result.exit_code == 2
    assert "nothing was re-encrypted" in result.output and "'claude'" in result.output
    assert _ciphertexts() == before


def test_a_malformed_key_is_named_not_shown(sqlite_stack, set_env) -> None:
    set_env(AGENTFLOW_ENCRYPTION_KEYS=f"{NEW},not-a-fernet-key-SECRETISH")
    result = CliRunner().invoke(main, ["rotate-keys"])
    assert result.exit_code == 2
    assert "key 2 is not a Fernet key" in result.output
    assert "SECRETISH" not in result.output
