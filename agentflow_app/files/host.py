"""What file-handling nodes ask of the host that runs them: read a file, make a file.

The engine knows nothing of stores or owners; the app puts an object with these methods
in ``ctx.services["files"]`` (``services.files.DbFileHost``), scoped to the run's owner, so
a node can only open files its run's owner could download.
"""

from __future__ import annotations

from typing import Any, Protocol

from agentflow_app.engine.errors import NodeError
from agentflow_app.engine.node import RunContext


class FileHost(Protocol):
    async def read(self, ref: Any, *, limit: int) -> tuple[dict[str, Any], bytes]:
        """The reference (as stored) and the bytes of the file ``ref`` names.

        Raises:
            NodeError: not a file reference, not the run owner's file, or over ``limit``.
        """
        ...

    async def create(
        self, name: str, media_type: str | None, data: bytes, *, lenient: bool = False
    ) -> dict[str, Any]:
        """Store ``data`` as a new file of this run; its reference.

        Args:
            lenient: a ``media_type`` the bytes contradict is dropped (the bytes decide)
                instead of refused: for answers of outside servers, which mislabel.
        """
        ...


def file_host(ctx: RunContext, node_type: str) -> FileHost:
    """The run's file host, or a clear error when the node runs where there is none."""
    host = ctx.services.get("files")
    if host is None:
        raise NodeError(f"{node_type} needs the file store, which this run does not have")
    return host
