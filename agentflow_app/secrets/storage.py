"""Where a credential's value lives: encrypted in its row, or in AWS Secrets Manager.

New values go to the configured backend (``AGENTFLOW_SECRETS_BACKEND``); existing ones are
read from wherever their row says (``ciphertext`` or ``external_ref``), so switching the
setting never strands a credential: the next save moves it.
"""

from __future__ import annotations

from typing import Any

from agentflow_app.errors import AgentFlowError
from agentflow_app.models.credential import Credential
from agentflow_app.secrets.aws import AwsSecretStore
from agentflow_app.secrets.fernet import cipher
from agentflow_app.settings import get_settings


class MissingValueError(AgentFlowError):
    """The row has neither ciphertext nor a reference (it was never saved whole)."""


def write_value(row: Credential, value: dict[str, Any]) -> str | None:
    """Store ``value`` for ``row`` in the configured backend and point the row at it.

    ``row.owner_id`` and ``row.name`` must be set.

    Returns:
        The ARN of an AWS secret the row no longer uses (the value moved to the
        database); the caller deletes it with :func:`delete_external` once the row is
        committed, so a failed commit loses nothing.
    """
    if get_settings().agentflow_secrets_backend == "aws":
        store = AwsSecretStore()
        if row.external_ref:
            store.replace(row.external_ref, row.name, value)
        else:
            row.external_ref = store.create(row.owner_id, row.name, value)
        row.ciphertext = None
        return None
    stale = row.external_ref
    row.ciphertext = cipher().encrypt(value)
    row.external_ref = None
    return stale


def read_value(row: Credential) -> dict[str, Any]:
    """The decrypted value of ``row``.

    Raises:
        UndecryptableError: the encryption key that sealed it is gone.
        SecretsBackendError: AWS Secrets Manager failed or lost the secret.
        MissingValueError: nothing is stored.
    """
    if row.ciphertext:
        return cipher().decrypt(row.ciphertext, row.name)
    if row.external_ref:
        return AwsSecretStore().read(row.external_ref, row.name)
    raise MissingValueError(f"credential {row.name!r} has no stored value; save it again")


def delete_external(arn: str | None, name: str) -> None:
    """Delete the AWS secret ``arn`` (nothing to do for database-held values)."""
    if arn:
        AwsSecretStore().delete(arn, name)
