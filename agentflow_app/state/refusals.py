"""What a browser is told when an event is refused.

A service refuses with an :class:`~agentflow_app.errors.AgentFlowError` (a role that may
not save, an object that is gone...). Handlers catch what they expect; anything they do
not, from a forced event for instance (a viewer's browser sending the Save event the
page does not offer), arrives here and is shown as what it is, in the user's words,
instead of "An error occurred". Everything else goes to Reflex's own handler (logged).
"""

# No ``from __future__ import annotations``: Reflex reads these annotations as types.

import reflex as rx
from reflex.app import default_backend_exception_handler
from reflex.event import EventSpec

from agentflow_app.errors import AgentFlowError
from agentflow_app.state.formatting import sentence


def backend_exception_handler(exception: Exception) -> EventSpec:
    """A refusal as an error toast; any other exception as Reflex reports it."""
    if isinstance(exception, AgentFlowError):
        return rx.toast.error(sentence(str(exception)), id="refused")
    return default_backend_exception_handler(exception)
