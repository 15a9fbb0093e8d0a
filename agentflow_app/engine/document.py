"""The workflow document (SPEC §5): React Flow's own node and edge shapes plus a config.

The canvas, the database and an exported file are one format, so keys React Flow adds to
nodes and edges (``width``, ``selected``, ``animated``...) are kept as they are; the
engine reads only the keys below.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_TOLERANT = ConfigDict(extra="allow", populate_by_name=True)


class Position(BaseModel):
    model_config = _TOLERANT

    x: float = 0
    y: float = 0


class NodeData(BaseModel):
    """``data`` of a React Flow node: the label shown and the node type's config."""

    model_config = _TOLERANT

    label: str = ""
    config: dict[str, Any] = Field(default_factory=dict)


class DocumentNode(BaseModel):
    model_config = _TOLERANT

    id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=200)
    position: Position = Field(default_factory=Position)
    data: NodeData = Field(default_factory=NodeData)

    @property
    def config(self) -> dict[str, Any]:
        return self.data.config


class DocumentEdge(BaseModel):
    """An edge; a missing handle means the node's only handle."""

    model_config = _TOLERANT

    id: str = Field(min_length=1, max_length=200)
    source: str
    target: str
    sourceHandle: str | None = None
    targetHandle: str | None = None


class WorkflowDocument(BaseModel):
    model_config = _TOLERANT

    schema_version: Literal[1] = 1
    name: str = Field(default="Untitled workflow", max_length=200)
    description: str = ""
    nodes: list[DocumentNode]
    edges: list[DocumentEdge] = Field(default_factory=list)
    #: A run that would spend more than this fails with that reason (SPEC §7).
    max_cost_usd: float | None = Field(default=None, gt=0)
    #: Finished runs are deleted this many days after they end (the setting's default
    #: ``AGENTFLOW_EXECUTION_RETENTION_DAYS`` when unset).
    retention_days: int | None = Field(default=None, ge=1, le=3650)
    #: A workflow of the same owner run once, as a linked child, when a run of this one
    #: fails (not when it is cancelled), with the failure's details as its inputs.
    error_workflow_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    #: With a manual trigger, the workflow is a tool on ``/api/mcp`` for its owner's API
    #: keys ("available to MCP clients"), described by ``description`` (SPEC §12).
    expose_mcp: bool = False

    def to_json(self) -> dict[str, Any]:
        """The document as stored and exported, extra React Flow keys included."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=False)
