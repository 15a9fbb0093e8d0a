"""Errors the engine raises or understands, each written for the person who meets it.

Nodes raise :class:`NodeError` for a failure worth showing as is ("Slack says
channel_not_found") and :class:`TransientError` for one that may go away on its own (a 429,
a 503, a dropped connection); only the latter is retried (SPEC §5 ``retries``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agentflow_app.errors import AgentFlowError, InvalidInput


class EngineError(AgentFlowError):
    """Base class of engine errors; ``str(error)`` is safe to show to the user."""


class NodeError(EngineError):
    """A permanent step failure: retrying will not help, the message says what to fix."""


class TransientError(EngineError):
    """A step failure that may succeed when tried again (rate limits, 5xx, network).

    Args:
        message: what happened, for the user.
        retry_after: seconds the far side asked us to wait (``Retry-After``), if any.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Wait(EngineError):
    """Raised by a node to pause its step until something outside the run happens.

    The runner stores the step as ``waiting`` with ``state`` as its output and goes on with
    every branch that does not depend on it; when nothing else can run, the execution
    stops as ``waiting`` and gives its worker back (SPEC §7). When the wait ends (a
    decision, a timer, a child run), the execution is queued again and the node runs
    again with ``ctx.resume`` holding ``state``: it then returns its output or raises
    :class:`Wait` once more. Nothing is held in memory meanwhile.

    Args:
        reason: what the step waits for, in words ("approval by ops@example.com").
        state: JSON data the node needs when it runs again (and the live view shows).
        wake_at: when to run the node again even if nothing happened (a timer, a
            timeout, a safety poll); None waits for a signal only.
    """

    def __init__(
        self, reason: str, *, state: dict[str, Any] | None = None, wake_at: datetime | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.state = state or {}
        self.wake_at = wake_at


class TemplateError(NodeError):
    """A template that does not parse, refers to something out of scope, or misbehaves.

    Args:
        node_id: the node whose config holds the template (None when not known yet).
        field: the config path of the template, e.g. ``config.headers.Authorization``.
        message: what is wrong with it.
    """

    def __init__(self, node_id: str | None, field: str | None, message: str) -> None:
        self.node_id = node_id
        self.field = field
        self.message = message
        where = " ".join(
            part
            for part in (
                f"in {field}" if field else "",
                f"of node {node_id!r}" if node_id else "",
            )
            if part
        )
        super().__init__(f"template error {where}: {message}" if where else message)

    def located(self, node_id: str | None, field: str | None) -> TemplateError:
        """The same error, told where it happened."""
        return TemplateError(node_id or self.node_id, field or self.field, self.message)


class RegistryError(EngineError):
    """A node or tool class cannot be registered, or a type id is unknown."""


class InvalidWorkflow(InvalidInput):
    """The document failed validation; ``problems`` lists every ``{node_id, field, message}``."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        count = len(problems)
        first = problems[0]["message"] if problems else ""
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(f"the workflow is not valid: {first}{more}", problems)
