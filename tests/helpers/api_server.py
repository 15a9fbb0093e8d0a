"""The REST API alone, served by uvicorn on the database the environment names.

``python -m tests.helpers.api_server PORT`` makes an account, prints a bearer token for
it on the first line of its output, then serves ``/api`` until it is stopped. Tools that
speak HTTP (the schemathesis fuzzer) test the real app this way, with nothing patched.
"""

from __future__ import annotations

import sys

import uvicorn

from agentflow_app.api.app import create_api
from agentflow_app.auth import tokens
from agentflow_app.db import session_scope
from agentflow_app.models import User
from agentflow_app.services import users
from tests.helpers.users import PASSWORD


def main(port: int) -> None:
    actor = users.create_user("fuzzer@example.com", PASSWORD, name="Fuzzer")
    with session_scope() as session:
        version = session.get(User, actor.id).token_version
    print(tokens.issue(actor.id, version).access_token, flush=True)
    # The fuzzer leaves requests open that wait on runs no worker takes (POST …/run with a
    # long timeout_s, ?wait=true webhooks): stop them after 5 s instead of waiting them out.
    uvicorn.run(
        create_api(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
