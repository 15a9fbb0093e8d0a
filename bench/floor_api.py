"""The floor's web side: a synchronous run endpoint written by hand (bench/floor.py's task).

``POST /run`` does what a caller of ours gets from ``POST /api/workflows/{id}/run``, with
the same promises and nothing else: it checks a bearer token, commits the run's row,
listens for the run's end on Redis before queueing it (an end cannot be missed), queues
the floor task, waits for the end, reads the row and answers it. No users, workspaces,
documents, validation, limits, OpenAPI models or timeouts into 202: so its rate bounds
what any implementation can answer through HTTP on this machine.

    granian --interface asgi bench.floor_api:app   (env: DB_URL, BENCH_REDIS_URL,
                                                    FLOOR_TOKEN, ANTHROPIC_* for the worker)
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.floor import FLOOR_QUEUE, floor_app

_parts: dict = {}


@asynccontextmanager
async def lifespan(_app: Starlette):
    conninfo = os.environ["DB_URL"].replace("postgresql+psycopg://", "postgresql://")
    async with AsyncConnectionPool(conninfo, min_size=4, max_size=20) as pool:
        _parts["db"] = pool
        _parts["redis"] = aioredis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
        yield
        await _parts["redis"].aclose()


async def health(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def run(request: Request) -> JSONResponse:
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given, f"Bearer {os.environ['FLOOR_TOKEN']}"):
        return JSONResponse({"detail": "not signed in"}, status_code=401)
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"detail": "the body is not JSON"}, status_code=422)
    inputs = body.get("inputs", {}) if isinstance(body, dict) else None
    if not isinstance(inputs, dict):
        return JSONResponse({"detail": "inputs must be an object"}, status_code=422)
    pool, bus = _parts["db"], _parts["redis"]
    async with pool.connection() as conn:
        row = await conn.execute(
            "INSERT INTO floor_runs (status, inputs) VALUES ('queued', %s) RETURNING id",
            (json.dumps(inputs),),
        )
        run_id = (await row.fetchone())[0]
    async with bus.pubsub() as listener:
        await listener.subscribe(f"bench:floor:end:{run_id}")
        floor_app.send_task("bench.floor", args=[run_id], queue=FLOOR_QUEUE)
        async with asyncio.timeout(60):
            async for message in listener.listen():
                if message["type"] == "message":
                    break
    async with pool.connection() as conn:
        row = await conn.execute("SELECT status, outputs FROM floor_runs WHERE id = %s", (run_id,))
        status, outputs = await row.fetchone()
    return JSONResponse({"id": run_id, "status": status, "outputs": json.loads(outputs or "{}")})


app = Starlette(
    routes=[Route("/run", run, methods=["POST"]), Route("/api/health", health)],
    lifespan=lifespan,
)
