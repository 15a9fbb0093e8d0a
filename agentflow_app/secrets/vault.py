"""The credential provider a run gets: one user's credentials, by name, decrypted.

Nodes and the LLM providers read credentials only through ``ctx.credentials.get(name,
kinds)`` (:class:`~agentflow_app.engine.node.CredentialProvider`); in a real run that is a
:class:`Vault`. It looks the name up among the acting user's credentials only (another
user's credential of the same name does not exist as far as it is concerned), checks the
kind, decrypts, records ``last_used_at``, and registers the value's secrets with the run's
:class:`~agentflow_app.secrets.redaction.Redactor` so the store can scrub them from
whatever the run produces.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlmodel import select

from agentflow_app.db import session_scope
from agentflow_app.errors import AgentFlowError, CredentialError
from agentflow_app.models.base import utcnow
from agentflow_app.models.credential import Credential
from agentflow_app.secrets.redaction import Redactor
from agentflow_app.secrets.storage import read_value

#: The keys an aws credential lends to an ses credential that names it.
_AWS_KEYS = ("access_key_id", "secret_access_key", "session_token")


class Vault:
    """Credentials of one workspace for one run.

    Values are fetched once per vault and kept in memory for the run, so an agent that
    calls a tool twenty times decrypts (or asks AWS) once.

    Args:
        workspace_id: the workspace the run belongs to (its credentials are the run's).
        redactor: where handed-out secrets are registered; a fresh one by default
            (``vault.redactor`` is what the execution store's ``redact`` hook gets).
        on_use: called with the session and the rows of each first read (a run's vault
            records "used by run" in the audit log through it; this layer knows no log).
    """

    def __init__(
        self,
        workspace_id: int,
        *,
        redactor: Redactor | None = None,
        on_use: Callable[[Any, list[Credential]], None] | None = None,
    ) -> None:
        self.workspace_id = workspace_id
        self.redactor = redactor if redactor is not None else Redactor()
        self._on_use = on_use
        self._values: dict[str, tuple[str, dict[str, Any]]] = {}
        self._lock = asyncio.Lock()

    async def get(self, name: str, kinds: tuple[str, ...]) -> dict[str, Any]:
        """The value of credential ``name`` with its ``kind``.

        Raises:
            CredentialError: unknown name, a kind not in ``kinds``, or a value that
                cannot be read (key removed, AWS failure); the message names it.
        """
        async with self._lock:
            if name not in self._values:
                self._values[name] = await asyncio.to_thread(self._load, name)
        kind, value = self._values[name]
        if kinds and kind not in kinds:
            raise CredentialError(
                f"credential {name!r} is a {kind} credential; this needs {' or '.join(kinds)}"
            )
        return {**value, "kind": kind}

    def _load(self, name: str) -> tuple[str, dict[str, Any]]:
        with session_scope() as session:
            row = self._row(session, name)
            value = self._open(row)
            used = [row]
            if row.kind == "ses" and value.get("aws_credential"):
                aws_name = value.pop("aws_credential")
                aws_row = self._row(session, aws_name)
                if aws_row.kind != "aws":
                    raise CredentialError(
                        f"credential {name!r} names {aws_name!r} for its AWS keys, "
                        f"but that is a {aws_row.kind} credential"
                    )
                aws_value = self._open(aws_row)
                value.update({k: aws_value[k] for k in _AWS_KEYS if aws_value.get(k)})
                used.append(aws_row)
            session.exec(
                update(Credential)
                .where(Credential.id.in_([used_row.id for used_row in used]))
                .values(last_used_at=utcnow())
            )
            if self._on_use is not None:
                self._on_use(session, used)
        return row.kind, value

    def _row(self, session: Any, name: str) -> Credential:
        row = session.exec(
            select(Credential).where(
                Credential.workspace_id == self.workspace_id, Credential.name == name
            )
        ).first()
        if row is None:
            raise CredentialError(
                f"there is no credential named {name!r}; add it under Credentials"
            )
        return row

    def _open(self, row: Credential) -> dict[str, Any]:
        try:
            value = read_value(row)
        except AgentFlowError as exc:
            raise CredentialError(str(exc)) from None
        self.redactor.add_value(row.name, row.kind, value)
        return value
