"""The embedded Redis comes back on its own port when it exits under ``agentflow serve``
(whose supervisor calls :meth:`EmbeddedRedis.revive` on every turn), with its queue."""

from __future__ import annotations

import redis

from agentflow_app.embedded_redis import EmbeddedRedis
from agentflow_app.settings import get_settings


def test_a_stopped_embedded_redis_is_revived_on_its_url_with_its_data(set_env, tmp_path) -> None:
    set_env(AGENTFLOW_DATA_DIR=str(tmp_path), REDIS_URL=None)
    embedded = EmbeddedRedis(get_settings())
    url = embedded.start()
    try:
        client = redis.Redis.from_url(url)
        client.lpush("agentflow", "a queued task")
        assert embedded.revive() is False, "a running server is left alone"

        embedded.process.terminate()  # stopped by hand (or crashed)
        embedded.process.wait(timeout=10)
        assert embedded.revive() is True

        assert embedded.url == url
        assert client.lrange("agentflow", 0, -1) == [b"a queued task"]
        assert (tmp_path / "redis" / "url").read_text().strip() == url
        client.close()
    finally:
        embedded.stop()
