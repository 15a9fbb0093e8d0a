from tests.fakes.servers import asgi_server

__all__ = ["asgi_server"]
