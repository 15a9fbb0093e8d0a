"""Keys a template's value lacks that the host supplies when a template asks for them.

A file reference's ``text`` is read from the file store only when ``{{ ref.text }}`` is
rendered: the host (``services.files.FileTexts``) passes a :class:`Resolver` to the
runner, and the sandbox asks it for any key a JSON object does not hold. The engine learns
nothing about files, and a run whose templates never ask reads nothing.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol


class _Unresolved:
    """What a :class:`Resolver` returns for a key it does not supply."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNRESOLVED"


UNRESOLVED: Any = _Unresolved()


class Resolver(Protocol):
    """Keys a JSON object lacks that the host supplies on demand."""

    #: The keys it may supply. The runner renders on its event loop with :class:`OnLoop`
    #: in its place, and again in a thread with it when the render asks for one of them.
    keys: frozenset[str]

    def __call__(self, value: dict[str, Any], key: str) -> Any:
        """``value[key]`` as the host supplies it, or :data:`UNRESOLVED`.

        Raises:
            TemplateError: the host cannot supply it, saying why.
        """
        ...


class NeedsThread(BaseException):
    """Raised out of a render by :class:`OnLoop` when the host would be asked for a key.

    A BaseException, so the sandbox, which makes whatever a template raises the
    template's error, lets it through to the runner.
    """


@dataclass(frozen=True)
class OnLoop:
    """A :class:`Resolver`'s stand-in for a render on an event loop, where the host's reads
    must not block: asked for one of the host's keys, it stops the render
    (:class:`NeedsThread`) and the runner renders again in a thread with the host's.

    Rendering is pure, so starting again costs only the time. Deciding from the template
    text instead (does it say ``text``?) sent every ``{{ nodes.ask.output.text }}``, the
    commonest template there is, to a thread: the key is only asked for when the value
    lacks it, as a file reference does and an LLM's output does not.
    """

    keys: frozenset[str]

    def __call__(self, value: dict[str, Any], key: str) -> Any:
        if key in self.keys:
            raise NeedsThread
        return UNRESOLVED


_current: contextvars.ContextVar[Resolver | None] = contextvars.ContextVar(
    "template_resolver", default=None
)


@contextmanager
def resolving(resolver: Resolver | None) -> Iterator[None]:
    """Templates rendered inside ask ``resolver`` for missing keys (None: nobody)."""
    token = _current.set(resolver)
    try:
        yield
    finally:
        _current.reset(token)


def resolve_key(value: Any, key: Any) -> Any:
    """A string ``key`` that the JSON object ``value`` lacks, from the current resolver;
    :data:`UNRESOLVED` for anything else (the sandbox then looks as it always does)."""
    resolver = _current.get()
    if resolver is None or not isinstance(value, dict) or not isinstance(key, str):
        return UNRESOLVED
    return UNRESOLVED if key in value else resolver(value, key)
