"""Driving Reflex event handlers the way Reflex does, without a browser.

A state tree is instantiated (Reflex allows it under pytest), the browser's token is put in
``AuthState.auth_token`` as hydration would (:func:`session_for`), and a handler's function
runs against the state instance, generators drained (:func:`run`); :func:`redirects` and
:func:`state_text` read what came out.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import reflex as rx
from reflex_base.event import EventSpec

from agentflow_app.state.auth import AuthState


def session_for(token: str) -> rx.State:
    """A fresh state tree of one browser tab whose localStorage holds ``token``."""
    root = rx.State()
    root.get_substate(AuthState._get_substate_path()).auth_token = token
    return root


async def run(root: rx.State, state_cls: type[rx.State], name: str, **kwargs: Any) -> list[Any]:
    """Run handler ``name`` of ``state_cls`` in ``root``; the events it returned or yielded."""
    state = root.get_substate(state_cls._get_substate_path())
    result = state_cls.event_handlers[name].fn(state, **kwargs)
    if inspect.iscoroutine(result):
        result = await result
    events: list[Any] = []
    if inspect.isasyncgen(result):
        events += [event async for event in result if event is not None]
    elif result is not None:
        events += result if isinstance(result, list) else [result]
    return events


def redirects(events: list[Any]) -> list[str]:
    """The paths of the redirects among ``events``."""
    paths = []
    for event in events:
        if isinstance(event, EventSpec) and event.handler.fn.__qualname__.endswith("redirect"):
            paths += [str(value._var_value) for key, value in event.args if key._js_expr == "path"]
    return paths


def state_text(root: rx.State) -> str:
    return json.dumps(root.dict(), default=str)
