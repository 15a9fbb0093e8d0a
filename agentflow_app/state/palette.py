"""The editor's palette and the node catalog the canvas draws from.

Both come from the node registry, not from the open workflow, so :class:`PaletteState`
is a state of its own under ``rx.State`` rather than a substate of the editor: typing in
the palette's search box then loads this small state only, never the working document.
"""

from __future__ import annotations

from typing import Any, TypedDict

import reflex as rx

from agentflow_app.catalog import default_registry
from agentflow_app.engine.registry import Registry

#: Palette order; categories a plugin invents come after these, alphabetically.
CATEGORY_ORDER = ("Triggers", "AI", "Logic", "Data", "Integrations", "Flow", "Output")


class PaletteItem(TypedDict):
    type: str
    label: str
    icon: str
    description: str
    category: str


class PaletteGroup(TypedDict):
    name: str
    items: list[PaletteItem]


def catalog(registry: Registry) -> dict[str, dict[str, Any]]:
    """What the canvas draws for each node type: label, icon, colour group, handles."""
    return {
        type_id: {
            "label": cls.label,
            "icon": cls.icon,
            "category": cls.category,
            "description": cls.description,
            "inputs": list(cls.inputs),
            "outputs": list(cls.outputs),
            # Handles named by a config list (logic.switch's cases), before ``outputs``.
            "outputs_from": getattr(cls, "outputs_from", None),
            # A node type may declare that each input handle takes a single edge.
            "single_input": bool(getattr(cls, "single_input", False)),
        }
        for type_id, cls in registry.nodes().items()
    }


def palette(registry: Registry) -> list[PaletteGroup]:
    """Node types grouped by category, in palette order."""
    groups: dict[str, list[PaletteItem]] = {}
    for type_id, cls in registry.nodes().items():
        groups.setdefault(cls.category, []).append(
            PaletteItem(
                type=type_id,
                label=cls.label,
                icon=cls.icon,
                description=cls.description,
                category=cls.category,
            )
        )
    rank = {name: index for index, name in enumerate(CATEGORY_ORDER)}
    names = sorted(groups, key=lambda name: (rank.get(name, len(rank)), name))
    return [
        PaletteGroup(name=name, items=sorted(groups[name], key=lambda i: i["label"]))
        for name in names
    ]


def filter_palette(groups: list[PaletteGroup], query: str) -> list[PaletteGroup]:
    """Groups with the items whose label, type, category or description match ``query``."""
    words = query.lower().split()
    if not words:
        return groups
    result = []
    for group in groups:
        items = [
            item
            for item in group["items"]
            if all(
                word
                in f"{item['label']} {item['type']} {item['category']} {item['description']}".lower()
                for word in words
            )
        ]
        if items:
            result.append(PaletteGroup(name=group["name"], items=items))
    return result


class PaletteState(rx.State):
    """The node types of this server: the palette's groups and the canvas's catalog."""

    groups: list[PaletteGroup] = []
    query: str = ""
    catalog: dict[str, Any] = {}

    @rx.var
    def view(self) -> list[PaletteGroup]:
        """The groups the search box lets through."""
        return filter_palette(self.groups, self.query)

    @rx.event
    def load(self) -> None:
        """``on_load``, before the editor's: the canvas knows every type when a graph arrives."""
        registry = default_registry()
        self.catalog = catalog(registry)
        self.groups = palette(registry)

    @rx.event
    def set_query(self, value: str) -> None:
        self.query = value
