"""Every error the API answers, in one place: the shapes, the handlers, the documentation.

Three shapes (SPEC §9: errors are ``{"detail": …}``):

* :class:`ErrorDetail`, ``{"detail": "what was wrong"}``: 401, 403, 404, 409, 413, 415, 429,
  507;
* :class:`ProblemList`, ``{"detail": [{node_id, field, message}]}``: every 422, whether a
  service refused the input or the request did not match the schema (FastAPI's own
  ``{loc, msg, type}`` is turned into this shape, so a client reads one format);
* :class:`InternalError`, ``{"detail": "internal error", "reference": "…"}``: a 500, never
  a bare text page; the reference is logged beside the traceback.

:func:`document` writes the statuses a route can answer into the OpenAPI document, so the
published contract is the true one (``tests/integration/api/test_contract.py`` fuzzes it).
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentflow_app.db import get_engine
from agentflow_app.errors import AgentFlowError, Conflict, Forbidden, InvalidInput, NotFound
from agentflow_app.routes import WORKSPACE_HEADER
from agentflow_app.services.disk import DiskFull, note_full
from agentflow_app.services.executions.outages import database_dir, disk_full
from agentflow_app.services.files import FileTooLarge

log = logging.getLogger(__name__)

_STATUS: dict[type[AgentFlowError], int] = {
    NotFound: 404,
    Conflict: 409,
    Forbidden: 403,
    InvalidInput: 422,
    FileTooLarge: 413,
    DiskFull: 507,
}


class ErrorDetail(BaseModel):
    """What was wrong, in a sentence."""

    detail: str


class Problem(BaseModel):
    """One thing wrong with the input: where (a node, a field) and what."""

    node_id: str | None = None
    field: str | None = None
    message: str


class ProblemList(BaseModel):
    """Every problem found in the input (422)."""

    detail: list[Problem]


class InternalError(BaseModel):
    """Something failed on our side; quote ``reference`` when reporting it."""

    detail: Literal["internal error"] = "internal error"
    reference: str


async def _agentflow_error(_request: Request, exc: AgentFlowError) -> JSONResponse:
    status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
    if isinstance(exc, InvalidInput) and exc.problems:
        return JSONResponse({"detail": exc.problems}, status_code=status)
    return JSONResponse({"detail": str(exc)}, status_code=status)


async def _request_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [_problem(error) for error in exc.errors()]
    return JSONResponse({"detail": problems}, status_code=422)


def _problem(error: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's ``{loc, msg, type}`` as a problem, worded like the services' own: ``loc``
    ``("body", "inputs", 0)`` is the field ``inputs.0``, ``("path", "workflow_id")`` the
    field ``workflow_id``."""
    where = [
        str(part)
        for part in error.get("loc", ())
        if part not in ("body", "path", "query", "header")
    ]
    field_ = ".".join(where) or "body"
    ctx = error.get("ctx") or {}
    kind = error.get("type")
    if kind == "json_invalid":
        return {"field": "body", "message": f"the body is not valid JSON: {ctx.get('error', '')}"}
    message = {
        "missing": "is required",
        "string_too_short": f"use at least {ctx.get('min_length')} characters",
        "string_too_long": f"use at most {ctx.get('max_length')} characters",
        "string_pattern_mismatch": f"is not a valid {where[-1] if where else 'value'}",
    }.get(kind, str(error.get("msg") or "is not valid"))
    return {"field": field_, "message": message}


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's own answers (404 no route, 405, 400 unreadable body) as ``{"detail"}``.

    A 405 lists in ``Allow`` every method the path answers, as the OpenAPI document says:
    FastAPI makes a route per method, and Starlette's 405 names only the first of them.
    """
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        methods = {
            method.upper()
            for template, operations in _path_templates(request.app)
            if template.match(request.url.path)
            for method in operations
        }
        headers["Allow"] = ", ".join(sorted(methods))
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


def _path_templates(app: FastAPI) -> list[tuple[re.Pattern[str], list[str]]]:
    """Each documented path as a regex (``{id}`` is one segment), with its methods."""
    cached = getattr(app.state, "path_templates", None)
    if cached is None:
        cached = [
            (re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"), list(ops))
            for path, ops in document(app)["paths"].items()
        ]
        app.state.path_templates = cached
    return cached


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    engine = get_engine()
    if disk_full(engine, exc):  # any write may meet a full disk: say which, not "internal"
        full = note_full(database_dir(engine))
        return JSONResponse({"detail": str(full)}, status_code=_STATUS[DiskFull])
    reference = secrets.token_hex(6)
    log.error(
        "internal error %s on %s %s", reference, request.method, request.url.path, exc_info=exc
    )
    return JSONResponse(InternalError(reference=reference).model_dump(), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(AgentFlowError, _agentflow_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.openapi = lambda: document(app)


def _answer(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
        },
    }


def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with every status each route can answer and its shape.

    Added to what the routes declare: 400 where a body is read (bytes that are not text),
    401 where a bearer token is required, 403 there too (a workspace role that does not
    allow the action), 404 where the path names an object or the ``X-Workspace`` header a
    workspace, 422 (as :class:`ProblemList`, replacing FastAPI's own schema) where there
    is input to check, 507 where something is written (a full disk), and 500
    everywhere.
    """
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorDetail, Problem, ProblemList, InternalError):
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        model_schema.pop("$defs", None)  # each is a component of its own
        components[model.__name__] = model_schema
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            answers = operation.setdefault("responses", {})
            parameters = operation.get("parameters", [])
            if operation.get("security"):
                answers.setdefault("401", _answer(ErrorDetail, "no valid token or API key"))
                answers.setdefault(
                    "403", _answer(ErrorDetail, "your role in the workspace does not allow it")
                )
            if any(p.get("in") == "path" or p.get("name") == WORKSPACE_HEADER for p in parameters):
                answers.setdefault("404", _answer(ErrorDetail, "no such object of yours"))
            if "requestBody" in operation:
                answers.setdefault("400", _answer(ErrorDetail, "the body could not be read"))
            if "422" in answers or parameters or "requestBody" in operation:
                answers["422"] = _answer(ProblemList, "the input has problems")
            if method != "get":
                answers.setdefault("507", _answer(ErrorDetail, "the data disk is full"))
            answers.setdefault("500", _answer(InternalError, "internal error; see the log"))
    app.openapi_schema = schema
    return schema
