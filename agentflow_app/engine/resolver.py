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
from typing import Any, Protocol


class _Unresolved:
    """What a :class:`Resolver` returns for a key it does not supply."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNRESOLVED"


UNRESOLVED: Any = _Unresolved()


class Resolver(Protocol):
    """Keys a JSON object lacks that the host supplies on demand."""

    #: The keys it may supply. A template that names none of them is rendered on the
    #: runner's event loop; one that does, in a thread, as the host's reads may block.
    keys: frozenset[str]

    def __call__(self, value: dict[str, Any], key: str) -> Any:
        """``value[key]`` as the host supplies it, or :data:`UNRESOLVED`.

        Raises:
            TemplateError: the host cannot supply it, saying why.
        """
        ...


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
