"""What a node type is, and what it gets to work with (ARCHITECTURE rule 6).

A node type is a class with a ``type`` id, display metadata, a pydantic ``Config`` and an
``async run(ctx, config)``. The runner renders every template field of the config before
``run`` sees it, so a node works with plain values. Everything outside the process (HTTP,
credentials, logs, streamed tokens) comes through :class:`RunContext`, which is what makes
a node testable against local servers and keeps it free of Reflex, Celery and the database.
The catalog of node types and tools reaches a node the same way (``ctx.registry``): the
host composes it (``agentflow_app.catalog``) and hands it to the runner.

Agent tools follow the same pattern (:class:`Tool`), so a plugin adds either with a class.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from agentflow_app.engine.registry import Registry
    from agentflow_app.net.client import GuardedClient


class TemplateField:
    """Marks a config field whose strings are Jinja templates (SPEC §5)."""

    def __init__(self, kind: Literal["text", "expression", "json"] = "text") -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"TemplateField({self.kind!r})"


#: A string rendered as a template before ``run``; a template that is exactly one
#: ``{{ expression }}`` keeps the expression's type (a list stays a list).
TemplateStr = Annotated[str, TemplateField("text")]
#: A Jinja expression without braces (``logic.condition``), evaluated to a value.
ExpressionStr = Annotated[str, TemplateField("expression")]
#: Any JSON value whose strings are templates (``transform.template`` ``json``, bodies).
TemplateJSON = Annotated[Any, TemplateField("json")]


class NodeConfig(BaseModel):
    """Config keys common to every node type (SPEC §5)."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(default=300, gt=0, le=24 * 3600)
    #: Extra attempts on transient errors; None means the node type's default.
    retries: int | None = Field(default=None, ge=0, le=10)
    on_error: Literal["fail", "continue"] = "fail"


class CredentialProvider(Protocol):
    """Resolves a credential by name for the acting user (the vault implements it)."""

    async def get(self, name: str, kinds: tuple[str, ...]) -> dict[str, Any]:
        """The decrypted value of credential ``name``.

        Raises:
            ~agentflow_app.errors.CredentialError: when it does not exist or is not one of
                ``kinds``.
        """
        ...


@dataclass
class RunContext:
    """What a running node may touch besides its config."""

    execution_id: int | str
    node_id: str
    attempt: int
    inputs: dict[str, Any]
    http: GuardedClient
    credentials: CredentialProvider
    #: Set when the execution is cancelled; long-running nodes should watch it.
    cancelled: asyncio.Event
    #: ``await log(message, **data)`` emits a ``step.log`` event.
    log: Callable[..., Awaitable[None]]
    #: ``await token(text)`` emits streamed text as ``step.token`` (batched by the runner).
    token: Callable[[str], Awaitable[None]]
    #: The node types and agent tools of this run (an agent looks its tools up here).
    registry: Registry
    #: Outputs of finished upstream nodes, by node id.
    upstream: dict[str, Any] = field(default_factory=dict)
    #: Anything extra a host passes to nodes; the agent puts ``tool_credentials`` here
    #: for its tools.
    services: dict[str, Any] = field(default_factory=dict)
    #: The ``state`` of this step's last :class:`~agentflow_app.engine.errors.Wait`, when
    #: the step runs again after waiting; None on its first run.
    resume: dict[str, Any] | None = None


class Node:
    """Base class of every node type, built in or from a plugin."""

    type: ClassVar[str]
    label: ClassVar[str]
    category: ClassVar[str] = "Other"
    icon: ClassVar[str] = "box"
    description: ClassVar[str] = ""
    Config: ClassVar[type[NodeConfig]] = NodeConfig
    #: Extra attempts on transient errors when the config says nothing (LLM/HTTP: 2).
    default_retries: ClassVar[int] = 0
    #: True when running it changes the outside world (a message, a write, an email).
    side_effects: ClassVar[bool] = False
    #: True when running it twice is harmless; a side-effecting step that was in flight
    #: when its worker died is retried only if this is True (SPEC §7).
    idempotent: ClassVar[bool] = True
    #: Whether this is a trigger (exactly one per workflow).
    is_trigger: ClassVar[bool] = False
    #: Source handles; a node with several routes picks them in :meth:`routes`.
    outputs: ClassVar[tuple[str, ...]] = ("out",)
    inputs: ClassVar[tuple[str, ...]] = ("in",)

    async def run(self, ctx: RunContext, config: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def source_handles(cls, config: NodeConfig | None) -> tuple[str, ...] | None:
        """The source handles edges may leave by, for ``config`` (validation asks).

        Fixed for most nodes (:attr:`outputs`); a node whose handles come from its config
        (``logic.switch``'s cases) answers them, or None when ``config`` is not valid and
        the handles cannot be known.
        """
        return cls.outputs

    def routes(self, output: Any) -> tuple[str, ...]:
        """The source handles whose edges are active after ``output`` (default: all)."""
        return self.outputs

    def is_idempotent(self, config: Any, registry: Registry | None = None) -> bool:
        """Per-config idempotency (a GET request is, a POST is not).

        Args:
            config: the step's validated config.
            registry: the run's node types and tools, for a node whose answer depends on
                them (an agent asks its tools); None when the caller has no run. An
                override may leave this parameter out: the runner then calls it with the
                config alone.
        """
        return self.idempotent


class Tool:
    """An agent tool: the model sees ``id``, ``description`` and the ``Args`` schema."""

    id: ClassVar[str]
    label: ClassVar[str] = ""
    description: ClassVar[str]
    Args: ClassVar[type[BaseModel]]
    side_effects: ClassVar[bool] = False

    async def run(self, ctx: RunContext, args: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError
