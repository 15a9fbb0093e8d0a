"""Map service errors to HTTP answers in one place: ``{"detail": ...}`` (SPEC §9)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from agentflow_app.errors import AgentFlowError, Conflict, Forbidden, InvalidInput, NotFound

_STATUS: dict[type[AgentFlowError], int] = {
    NotFound: 404,
    Conflict: 409,
    Forbidden: 403,
    InvalidInput: 422,
}


async def _agentflow_error(_request: Request, exc: AgentFlowError) -> JSONResponse:
    status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
    if isinstance(exc, InvalidInput) and exc.problems:
        return JSONResponse({"detail": exc.problems}, status_code=status)
    return JSONResponse({"detail": str(exc)}, status_code=status)


def install(app: FastAPI) -> None:
    app.add_exception_handler(AgentFlowError, _agentflow_error)
