"""GuardedClient against real local servers: what it reaches, refuses and sends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from agentflow_app.net.client import GuardedClient, ResponseTooLarge, TooManyRedirects
from agentflow_app.net.guard import BlockedAddress, BlockedURL
from agentflow_app.settings import reset_settings
from tests.fakes.servers import self_signed_certificate

HINT = "; set AGENTFLOW_ALLOW_PRIVATE_NETWORK=true to allow private networks"


async def echo(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "headers": dict(request.headers),
            "body": (await request.body()).decode(),
        }
    )


async def redirect(request: Request) -> Response:
    return RedirectResponse(
        request.query_params["to"], status_code=int(request.query_params.get("status", 302))
    )


async def loop(request: Request) -> Response:
    hop = int(request.query_params.get("hop", 0))
    return RedirectResponse(f"/loop?hop={hop + 1}", status_code=302)


async def big(request: Request) -> Response:
    async def chunks():
        for _ in range(64):
            yield b"x" * 16384

    return StreamingResponse(chunks(), media_type="application/octet-stream")


APP = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "POST", "PUT", "DELETE", "HEAD"]),
        Route("/redirect", redirect, methods=["GET", "POST"]),
        Route("/loop", loop),
        Route("/big", big),
    ]
)


class Dns:
    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return self.answers.get(host, [])


@pytest.fixture
def base_url(asgi_server: Callable[..., str]) -> str:
    return asgi_server(APP)


async def test_loopback_is_refused_before_any_connection_when_private_is_off(
    base_url: str,
) -> None:
    port = base_url.rsplit(":", 1)[1]
    for host, shown in [
        ("127.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("[::1]", "::1"),
    ]:
        async with GuardedClient(allow_private=False) as client:
            with pytest.raises(BlockedAddress) as caught:
                await client.request("GET", f"http://{host}:{port}/echo")
        assert str(caught.value).startswith(f"the URL resolves to {shown}, ")
        assert str(caught.value).endswith(f"a loopback address{HINT}")


async def test_the_same_request_goes_through_when_private_networks_are_allowed(
    base_url: str,
) -> None:
    async with GuardedClient(allow_private=True) as client:
        response = await client.request(
            "POST", f"{base_url}/echo", params={"q": "1"}, json={"a": 1}
        )
    assert response.status_code == 200
    assert response.is_json
    assert response.json()["method"] == "POST"
    assert response.json()["query"] == {"q": "1"}
    assert response.json()["body"] == '{"a":1}'


async def test_the_setting_comes_from_the_environment(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTFLOW_ALLOW_PRIVATE_NETWORK", "true")
    reset_settings()
    try:
        async with GuardedClient() as client:
            assert (await client.request("GET", f"{base_url}/echo")).status_code == 200
        monkeypatch.setenv("AGENTFLOW_ALLOW_PRIVATE_NETWORK", "false")
        reset_settings()
        async with GuardedClient() as client:
            with pytest.raises(BlockedAddress):
                await client.request("GET", f"{base_url}/echo")
    finally:
        reset_settings()


async def test_it_connects_to_the_address_it_checked_and_keeps_the_host_header(
    base_url: str,
) -> None:
    port = base_url.rsplit(":", 1)[1]
    dns = Dns({"service.test": ["127.0.0.1"]})
    async with GuardedClient(allow_private=True, resolver=dns) as client:
        response = await client.request("GET", f"http://service.test:{port}/echo")
    assert response.json()["headers"]["host"] == f"service.test:{port}"
    assert dns.asked == ["service.test"]


async def test_a_redirect_to_loopback_is_refused_on_that_hop(base_url: str) -> None:
    port = base_url.rsplit(":", 1)[1]
    dns = Dns({"trusted.test": ["127.0.0.1"]})
    for target, shown in [
        (f"http://127.0.0.1:{port}/echo", "127.0.0.1"),
        (f"http://0x7f000001:{port}/echo", "127.0.0.1"),
        (f"http://[::ffff:127.0.0.1]:{port}/echo", "::ffff:127.0.0.1"),
    ]:
        async with GuardedClient(
            allow_private=False, resolver=dns, allow_hosts=["trusted.test"]
        ) as client:
            with pytest.raises(BlockedURL) as caught:
                await client.request(
                    "GET", f"http://trusted.test:{port}/redirect", params={"to": target}
                )
        assert str(caught.value).startswith(f"the redirect to {target} resolves to {shown}, ")
        assert str(caught.value).endswith(HINT)


async def test_a_redirect_to_another_scheme_is_refused(base_url: str) -> None:
    async with GuardedClient(allow_private=True) as client:
        with pytest.raises(
            BlockedURL,
            match=r"the redirect to file:.*/etc/passwd is refused: the URL scheme 'file'",
        ):
            await client.request("GET", f"{base_url}/redirect", params={"to": "file:///etc/passwd"})


async def test_redirects_are_followed_and_allowed_when_private_is_on(base_url: str) -> None:
    async with GuardedClient(allow_private=True) as client:
        response = await client.request(
            "GET", f"{base_url}/redirect", params={"to": f"{base_url}/echo?x=1"}
        )
    assert response.status_code == 200
    assert response.json()["query"] == {"x": "1"}
    assert len(response.history) == 1


async def test_redirects_stop_after_five_hops(base_url: str) -> None:
    async with GuardedClient(allow_private=True) as client:
        with pytest.raises(TooManyRedirects, match="stopped after 5 redirects"):
            await client.request("GET", f"{base_url}/loop")


async def test_303_turns_a_post_into_a_get_and_307_keeps_it(base_url: str) -> None:
    async with GuardedClient(allow_private=True) as client:
        seen = await client.request(
            "POST",
            f"{base_url}/redirect",
            params={"to": "/echo", "status": "303"},
            content=b"payload",
        )
        kept = await client.request(
            "POST",
            f"{base_url}/redirect",
            params={"to": "/echo", "status": "307"},
            content=b"payload",
        )
    assert (seen.json()["method"], seen.json()["body"]) == ("GET", "")
    assert (kept.json()["method"], kept.json()["body"]) == ("POST", "payload")


async def test_credentials_do_not_follow_a_redirect_to_another_origin(base_url: str) -> None:
    port = base_url.rsplit(":", 1)[1]
    other_origin = f"http://localhost:{port}/echo"
    headers = {"Authorization": "Bearer secret", "X-Api-Key": "k", "X-Trace": "t"}
    async with GuardedClient(allow_private=True) as client:
        same = await client.request(
            "GET",
            f"{base_url}/redirect",
            params={"to": "/echo"},
            headers=headers,
            sensitive_headers=["X-Api-Key"],
        )
        other = await client.request(
            "GET",
            f"{base_url}/redirect",
            params={"to": other_origin},
            headers=headers,
            sensitive_headers=["X-Api-Key"],
        )
    assert same.json()["headers"]["authorization"] == "Bearer secret"
    assert same.json()["headers"]["x-api-key"] == "k"
    assert "authorization" not in other.json()["headers"]
    assert "x-api-key" not in other.json()["headers"]
    assert other.json()["headers"]["x-trace"] == "t"
    assert other.json()["headers"]["host"] == f"localhost:{port}"


async def test_a_body_over_the_cap_fails_clearly(base_url: str) -> None:
    async with GuardedClient(allow_private=True, max_body_bytes=256 * 1024) as client:
        with pytest.raises(ResponseTooLarge, match="is larger than 256 KiB"):
            await client.request("GET", f"{base_url}/big")
        whole = await client.request("GET", f"{base_url}/big", max_body_bytes=2 * 1024 * 1024)
    assert len(whole.content) == 64 * 16384


async def test_tls_verifies_the_host_name_while_connecting_to_the_pinned_address(
    asgi_server: Callable[..., str], tmp_path: Path
) -> None:
    cert = self_signed_certificate(tmp_path, "secure.test")
    base = asgi_server(APP, ssl_certfile=cert.cert_file, ssl_keyfile=cert.key_file)
    port = base.rsplit(":", 1)[1]
    trust = cert.client_context()
    dns = Dns({"secure.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    async with GuardedClient(allow_private=True, resolver=dns, verify=trust) as client:
        response = await client.request("GET", f"https://secure.test:{port}/echo")
        assert response.json()["headers"]["host"] == f"secure.test:{port}"
        # Same address, another name: the certificate does not match, so TLS refuses.
        with pytest.raises(Exception, match=r"certificate verify failed|Hostname mismatch"):
            await client.request("GET", f"https://other.test:{port}/echo")


async def test_credentials_in_the_url_become_basic_auth(base_url: str) -> None:
    with_userinfo = base_url.replace("http://", "http://ada:s3cret@")
    async with GuardedClient(allow_private=True) as client:
        response = await client.request("GET", f"{with_userinfo}/echo")
    assert response.json()["headers"]["authorization"] == "Basic YWRhOnMzY3JldA=="
