"""How a node gets a credential at run time, and a dict-backed provider for tests and the CLI.

A node never sees where credentials are kept: it asks ``ctx.credentials.get(name, kinds)``
(:class:`~agentflow_app.engine.node.CredentialProvider`). The answer is a dict holding the
credential's ``kind`` and its fields; :func:`load_credential` validates it with the model
of its kind in :mod:`agentflow_app.secrets.kinds`, the same model that checked it when it
was saved, so a missing field is reported by name before any request goes out. There is no
model here: one per kind, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from agentflow_app.engine.errors import NodeError
from agentflow_app.engine.node import RunContext
from agentflow_app.errors import CredentialError
from agentflow_app.secrets.kinds import KINDS, CredentialKind


class StaticCredentials:
    """A :class:`CredentialProvider` over a dict, for tests, the CLI and examples.

    Args:
        credentials: ``{name: (kind, fields)}``.
    """

    def __init__(self, credentials: Mapping[str, tuple[str, Mapping[str, Any]]]) -> None:
        self._credentials = {name: (kind, dict(data)) for name, (kind, data) in credentials.items()}

    async def get(self, name: str, kinds: tuple[str, ...]) -> dict[str, Any]:
        """The fields of credential ``name`` plus its ``kind``.

        Raises:
            CredentialError: when it does not exist or is not one of ``kinds``.
        """
        if name not in self._credentials:
            raise CredentialError(
                f"there is no credential named {name!r}; add it under Credentials"
            )
        kind, data = self._credentials[name]
        if kinds and kind not in kinds:
            raise CredentialError(
                f"credential {name!r} is a {kind} credential; this needs {' or '.join(kinds)}"
            )
        return {**data, "kind": kind}


async def load_credential(
    ctx: RunContext, where: str, name: str | None, kinds: tuple[str, ...]
) -> CredentialKind:
    """Fetch credential ``name`` and validate it with the model of its kind.

    The model is the kind's :class:`~agentflow_app.secrets.kinds.CredentialKind`, read with
    :meth:`~agentflow_app.secrets.kinds.CredentialKind.from_stored`.

    Args:
        where: what asks, for messages (``slack.message``).

    Raises:
        NodeError: no name given, unknown, wrong kind, or a field missing or malformed.
    """
    if not name:
        raise NodeError(f"{where}: choose a credential ({' or '.join(kinds)})")
    try:
        data = await ctx.credentials.get(name, kinds)
    except CredentialError as exc:
        raise NodeError(f"{where}: {exc}") from None
    kind = str(data.get("kind") or kinds[0])
    if kind not in kinds:
        raise NodeError(f"{where}: credential {name!r} is a {kind} credential")
    try:
        return KINDS[kind].from_stored(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}"
            for err in exc.errors()
        )
        raise NodeError(
            f"{where}: credential {name!r} ({kind}) is incomplete: {problems}"
        ) from None
