"""The REST API (SPEC §9): a FastAPI app serving ``/api/*`` on the Reflex backend's port.

Reflex mounts its own routes underneath this app (``api_transformer``), so requests under
``/api`` are answered here and everything else falls through to the UI.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import Route

from agentflow_app.api import (
    admin,
    api_keys,
    approvals,
    audit,
    auth,
    errors,
    health,
    users,
    workflows,
    workspaces,
)
from agentflow_app.api import credentials as credentials_api
from agentflow_app.api import executions as executions_api
from agentflow_app.api import files as files_api
from agentflow_app.api import hooks as hooks_api
from agentflow_app.api import mcp as mcp_api
from agentflow_app.api.address import ClientAddressMiddleware
from agentflow_app.observability import web as observability
from agentflow_app.routes import API_PREFIX


def create_api() -> FastAPI:
    api = FastAPI(
        title="AgentFlow API",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        telemetry=observability.FASTAPI_TELEMETRY,
    )
    errors.install(api)
    observability.install(api)
    api.add_middleware(ClientAddressMiddleware)
    for router in ROUTERS:
        api.include_router(router, prefix=API_PREFIX)
    # MCP is JSON-RPC over one URL, not REST: a plain ASGI route, outside the OpenAPI schema.
    api.router.routes.append(Route(mcp_api.PATH, endpoint=mcp_api.McpEndpoint()))
    return api


#: In the order requests are matched: FastAPI tries each route in turn, so the routes
#: that run workflows come first (``POST …/run`` was the 26th, and matching it cost
#: 43–75 µs against 19 µs first: a fiftieth of the web process's CPU per run). No two
#: routers share a path, so their order changes nothing else.
ROUTERS = [executions_api.router, hooks_api.router, health.router]
ROUTERS += [auth.router, users.router, workflows.router, api_keys.router]
ROUTERS += [credentials_api.router, approvals.router]
ROUTERS += [files_api.router]
ROUTERS += [admin.router, audit.router]
ROUTERS += [workspaces.router, workspaces.invitations]
