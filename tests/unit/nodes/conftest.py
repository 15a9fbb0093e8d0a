from collections.abc import AsyncIterator, Callable

import pytest

from agentflow_app.net.client import GuardedClient
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.servers import asgi_server
from tests.fakes.slack import FakeSlack

__all__ = ["asgi_server"]


@pytest.fixture
async def http() -> AsyncIterator[GuardedClient]:
    """The guarded client with private networks allowed: the local fakes live on 127.0.0.1."""
    async with GuardedClient(allow_private=True) as client:
        yield client


@pytest.fixture
async def strict_http() -> AsyncIterator[GuardedClient]:
    """The guarded client as shipped: private networks refused."""
    async with GuardedClient(allow_private=False) as client:
        yield client


@pytest.fixture
def slack(asgi_server: Callable[..., str]) -> tuple[FakeSlack, str]:
    fake = FakeSlack()
    return fake, asgi_server(fake.app)


@pytest.fixture
def hubspot(asgi_server: Callable[..., str]) -> tuple[FakeHubSpot, str]:
    fake = FakeHubSpot()
    return fake, asgi_server(fake.app)
