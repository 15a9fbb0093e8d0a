"""Failed-login throttling: 5 failures per (account, client address) in 5 minutes (SPEC §11).

Failures are kept in Redis (a sorted set of timestamps per pair), so every web process and
every machine behind the proxy sees the same count. While a pair is throttled, every
attempt is refused before the password is looked at, the right password included;
otherwise the throttle would still tell a guesser when a guess was right.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time

from agentflow_app.errors import AgentFlowError
from agentflow_app.redis_client import get_redis

MAX_FAILURES = 5
WINDOW_S = 300
_KEY_PREFIX = "agentflow:login-failures:"


class Throttled(AgentFlowError):
    """Too many failed sign-ins; ``retry_after`` says in how many seconds to try again."""

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(
            f"too many failed sign-ins: try again in {minutes} minute{'s' if minutes > 1 else ''}"
        )
        self.retry_after = retry_after


def _key(account: str, address: str) -> str:
    # Hashed so Redis holds no email addresses, and any address form is a safe key.
    digest = hashlib.sha256(f"{account}\n{address}".encode()).hexdigest()
    return _KEY_PREFIX + digest


def check(account: str, address: str) -> None:
    """Raise :class:`Throttled` when ``account`` from ``address`` is locked out."""
    key = _key(account, address)
    now = time.time()
    pipe = get_redis().pipeline()
    pipe.zremrangebyscore(key, "-inf", now - WINDOW_S)
    pipe.zcard(key)
    pipe.zrange(key, 0, 0, withscores=True)
    _, count, oldest = pipe.execute()
    if count >= MAX_FAILURES:
        # The lock lifts when the oldest failure in the window ages out of it.
        oldest_ts = oldest[0][1] if oldest else now
        raise Throttled(retry_after=max(1, math.ceil(oldest_ts + WINDOW_S - now)))


def record_failure(account: str, address: str) -> None:
    """Count one failed attempt of ``account`` from ``address``."""
    key = _key(account, address)
    now = time.time()
    pipe = get_redis().pipeline()
    pipe.zadd(key, {f"{now:.6f}:{secrets.token_hex(4)}": now})
    pipe.expire(key, WINDOW_S)
    pipe.execute()


def clear(account: str, address: str) -> None:
    """Forget the failures of ``account`` from ``address`` (after a successful sign-in)."""
    get_redis().delete(_key(account, address))
