"""The per-user limit's tokens (``AGENTFLOW_MAX_CONCURRENT_EXECUTIONS``).

A task message is a *token* for its owner: :func:`.lifecycle.claim` takes the owner's
oldest queued execution with it, if the owner runs fewer than the limit. A token turned
away by the limit is remembered here as owed (:func:`owe`), and :func:`dispatch_waiting`
pays one back when a run of that owner ends. The reaper's nudge covers anything lost.
"""

from __future__ import annotations

import logging

from agentflow_app.db import get_engine
from agentflow_app.redis_client import redis_or_none
from agentflow_app.services.executions.rows import (
    oldest_queued,
)
from tasks import dispatch

log = logging.getLogger(__name__)

#: How long an owed token is remembered (the reaper covers anything older).
OWED_TTL_S = 24 * 3600


def _owed_key(owner_id: int) -> str:
    return f"agentflow:owed:{owner_id}"


def owe(owner_id: int) -> None:
    client = redis_or_none()
    if client is None:
        return
    try:
        with client.pipeline() as pipe:
            pipe.incr(_owed_key(owner_id)).expire(_owed_key(owner_id), OWED_TTL_S).execute()
    except Exception as exc:  # the reaper's nudge covers a token we failed to remember
        log.warning("remembering a token owed to user %s failed: %s", owner_id, exc)


#: Take one owed token if there is any (atomically): 1 taken, 0 none.
_TAKE_OWED = """
local owed = tonumber(redis.call('GET', KEYS[1]) or '0')
if owed > 0 then redis.call('DECR', KEYS[1]) return 1 end
return 0
"""


def dispatch_waiting(owner_id: int | None) -> bool:
    """After a run of ``owner_id`` ended: re-send one token the limit turned away, if any.

    A run that ends frees one slot, so one token is enough; tokens are only re-sent when
    some were turned away, so an owner under the limit costs nothing here.

    Returns:
        Whether a token was sent.
    """
    client = redis_or_none()
    if owner_id is None or client is None:
        return False
    try:
        # Most owners are owed nothing: a GET says so for less than the script's EVAL.
        if int(client.get(_owed_key(owner_id)) or 0) <= 0:
            return False
        if not client.eval(_TAKE_OWED, 1, _owed_key(owner_id)):
            return False
    except Exception as exc:  # the reaper's nudge covers it
        log.warning("paying back a token owed to user %s failed: %s", owner_id, exc)
        return False
    with get_engine().connect() as conn:
        oldest = oldest_queued(conn, owner_id)
    if oldest is None:
        return False
    return dispatch.enqueue_execution(oldest)
