"""The templates gallery: example workflows from ``examples/templates/*.json``.

A template is an ordinary workflow document on disk; using one saves a copy as a new
workflow of the signed-in user (through the workflows service, validated like any other)
and opens it in the editor. A template whose nodes call other workflows (a map, a
sub-workflow) carries them under ``companions``: each is saved first, and the calling
node's ``{"$companion": "<key>"}`` becomes the new workflow's id.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, TypedDict

import reflex as rx

from agentflow_app import routes
from agentflow_app.catalog import default_registry
from agentflow_app.errors import AgentFlowError
from agentflow_app.services import workflows
from agentflow_app.state.auth import signed_in, to_login

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "examples" / "templates"


class TemplateCard(TypedDict):
    slug: str
    name: str
    description: str
    icons: list[str]
    steps: int


def template_path(slug: str) -> Path | None:
    """The file of template ``slug``; None for anything that is not one (no path tricks)."""
    candidates = {p.stem: p for p in TEMPLATES_DIR.glob("*.json")}
    return candidates.get(slug)


def read_template(slug: str) -> dict[str, Any]:
    """The document of template ``slug``.

    Raises:
        AgentFlowError: naming the template when it is missing or not JSON.
    """
    path = template_path(slug)
    if path is None:
        raise AgentFlowError(f"there is no template named {slug!r}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AgentFlowError(f"template {slug!r} cannot be read: {exc}") from None


def template_cards() -> list[TemplateCard]:
    """Every readable template, by name; unreadable ones are logged and left out."""
    registry = default_registry()
    cards = []
    for path in sorted(TEMPLATES_DIR.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("template %s is not readable: %s", path.name, exc)
            continue
        nodes = [n for n in document.get("nodes", []) if isinstance(n, dict)]
        icons = []
        for node in nodes:
            type_id = node.get("type", "")
            icon = registry.node(type_id).icon if registry.has_node(type_id) else "box"
            if icon not in icons:
                icons.append(icon)
        cards.append(
            TemplateCard(
                slug=path.stem,
                name=str(document.get("name", path.stem)),
                description=str(document.get("description", "")),
                icons=icons,
                steps=len(nodes),
            )
        )
    return sorted(cards, key=lambda card: card["name"])


def resolve_companions(document: dict[str, Any], ids: dict[str, int]) -> dict[str, Any]:
    """``document`` without ``companions``, each ``{"$companion": key}`` replaced by ``ids[key]``.

    Raises:
        AgentFlowError: a node names a companion the template does not carry.
    """

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"$companion"}:
                key = value["$companion"]
                if key not in ids:
                    raise AgentFlowError(f"the template names no companion {key!r}")
                return ids[key]
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk({k: v for k, v in document.items() if k != "companions"})


def save_template(actor: Any, document: dict[str, Any]) -> workflows.WorkflowDetail:
    """Save a template as the actor's workflow, its companions first; the main workflow."""
    ids: dict[str, int] = {}
    for key, companion in (document.get("companions") or {}).items():
        ids[key] = workflows.create(actor, resolve_companions(companion, ids)).id
    return workflows.create(actor, resolve_companions(document, ids))


class TemplatesState(rx.State):
    """The gallery on /workflows."""

    cards: list[TemplateCard] = []
    busy: str = ""
    error: str = ""

    @rx.event
    def load(self) -> None:
        """``on_load`` of the page showing the gallery."""
        self.cards = template_cards()
        self.error = ""

    @rx.event
    async def use(self, slug: str):
        """Create a workflow from template ``slug`` and open it."""
        actor = await signed_in(self)
        if actor is None:
            yield await to_login(self)
            return
        self.busy, self.error = slug, ""
        yield
        try:
            document = read_template(slug)
            created = await asyncio.to_thread(save_template, actor, document)
        except AgentFlowError as exc:
            self.error = f"Could not use this template: {exc}"
            self.busy = ""
            return
        self.busy = ""
        yield rx.redirect(routes.workflow_url(created.id))
