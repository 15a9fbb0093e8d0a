"""The editor's version history: the list shown when its panel opens, and restoring."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import reflex as rx

from agentflow_app.errors import AgentFlowError, NotFound
from agentflow_app.services import workflows
from agentflow_app.services.users import Actor
from agentflow_app.state.auth import to_login
from agentflow_app.state.editor import EditorState


class VersionView(TypedDict):
    version: int
    name: str
    created: str
    current: bool


class VersionsState(EditorState):
    """The saved versions of the open workflow (empty until the panel asks for them)."""

    versions: list[VersionView] = []

    async def _views(self, actor: Actor) -> list[VersionView]:
        rows = await asyncio.to_thread(workflows.versions, actor, self.wf_id)
        return [
            VersionView(
                version=row.version,
                name=row.name,
                created=f"{row.created_at:%Y-%m-%d %H:%M}",
                current=row.version == self.version,
            )
            for row in rows
        ]

    async def _after_save(self, actor: Actor) -> None:
        """The document was saved as a new version: a list on show gets it."""
        if self.versions:
            self.versions = await self._views(actor)

    @rx.event
    async def load_versions(self) -> Any:
        """Fill the version history (when its panel opens)."""
        actor = await self._actor()
        if actor is None:
            return await to_login(self)
        try:
            self.versions = await self._views(actor)
        except NotFound:
            self.versions = []
        return None

    @rx.event
    async def restore(self, version: int):
        """Save an older version as the newest one and show it."""
        actor = await self._actor()
        if actor is None:
            yield await to_login(self)
            return
        try:
            detail = await asyncio.to_thread(
                workflows.restore, actor, self.wf_id, version, draft=True
            )
        except AgentFlowError as exc:
            yield rx.toast.error(f"Could not restore version {version}: {exc}")
            return
        self.version = detail.version
        await self._show(detail.document, saved=True)
        self.versions = await self._views(actor)
        yield rx.toast.success(f"Version {version} restored as version {detail.version}.")
