"""``GET /api/health``: 200 when the database and Redis answer, 503 otherwise."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from agentflow_app.services import health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=health.Health)
async def get_health() -> JSONResponse:
    result = await health.check()
    return JSONResponse(result.model_dump(), status_code=200 if result.status == "ok" else 503)
