"""http.request and the http_request tool against a real local server."""

from __future__ import annotations

import base64
import re
import socket
from collections.abc import Callable

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from agentflow_app.engine.errors import NodeError, TransientError
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.http import HttpRequest, HttpRequestTool
from tests.helpers.node_context import node_context, run_node


class Upstream:
    """A small API: JSON, echo, a flaky endpoint and error statuses; counts calls."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def count(self, name: str) -> int:
        self.calls[name] = self.calls.get(name, 0) + 1
        return self.calls[name]

    @property
    def app(self) -> Starlette:
        async def users(request: Request) -> Response:
            return JSONResponse({"users": [{"id": 1, "name": "Ada"}]}, headers={"X-Total": "1"})

        async def echo(request: Request) -> Response:
            return JSONResponse(
                {
                    "method": request.method,
                    "query": dict(request.query_params),
                    "headers": dict(request.headers),
                    "body": (await request.body()).decode(),
                }
            )

        async def flaky(request: Request) -> Response:
            if self.count("flaky") == 1:
                return PlainTextResponse("upstream exploded", status_code=500)
            return JSONResponse({"ok": True})

        async def missing(request: Request) -> Response:
            return JSONResponse({"error": "no such user", "id": 42}, status_code=404)

        async def busy(request: Request) -> Response:
            return PlainTextResponse("slow down", status_code=429, headers={"Retry-After": "7"})

        async def text(request: Request) -> Response:
            return PlainTextResponse("hello, plain world")

        return Starlette(
            routes=[
                Route("/users", users),
                Route("/echo", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
                Route("/flaky", flaky),
                Route("/missing", missing),
                Route("/busy", busy),
                Route("/text", text),
            ]
        )


@pytest.fixture
def upstream(asgi_server: Callable[..., str]) -> tuple[Upstream, str]:
    api = Upstream()
    return api, asgi_server(api.app)


async def test_get_parses_a_json_body(upstream: tuple[Upstream, str], http: GuardedClient) -> None:
    _, base = upstream
    ctx = node_context(http=http, inputs={"path": "users"})
    out = await run_node(HttpRequest, {"url": base + "/{{ inputs.path }}"}, ctx)
    assert out["status"] == 200
    assert out["body"] == {"users": [{"id": 1, "name": "Ada"}]}
    assert out["headers"]["x-total"] == "1"


async def test_a_text_body_stays_text(upstream: tuple[Upstream, str], http: GuardedClient) -> None:
    _, base = upstream
    out = await run_node(HttpRequest, {"url": f"{base}/text"}, node_context(http=http))
    assert out["body"] == "hello, plain world"


async def test_post_sends_templated_json_headers_and_query(
    upstream: tuple[Upstream, str], http: GuardedClient
) -> None:
    _, base = upstream
    ctx = node_context(http=http, inputs={"name": "Ada", "tags": ["a", "b"]})
    out = await run_node(
        HttpRequest,
        {
            "method": "POST",
            "url": f"{base}/echo",
            "headers": {"X-Who": "{{ inputs.name }}"},
            "query": {"page": "2"},
            "body": {"name": "{{ inputs.name }}", "tags": "{{ inputs.tags }}", "n": 3},
        },
        ctx,
    )
    echoed = out["body"]
    assert echoed["method"] == "POST"
    assert echoed["query"] == {"page": "2"}
    assert echoed["headers"]["x-who"] == "Ada"
    assert echoed["headers"]["content-type"] == "application/json"
    assert echoed["body"] == '{"name":"Ada","tags":["a","b"],"n":3}'


async def test_a_text_body_is_sent_as_is(
    upstream: tuple[Upstream, str], http: GuardedClient
) -> None:
    _, base = upstream
    out = await run_node(
        HttpRequest,
        {"method": "PUT", "url": f"{base}/echo", "body": "raw {{ 1 + 1 }}"},
        node_context(http=http),
    )
    assert out["body"]["body"] == "raw 2"


@pytest.mark.parametrize(
    ("fields", "header", "value"),
    [
        ({"scheme": "bearer", "token": "t0k"}, "authorization", "Bearer t0k"),
        (
            {"scheme": "basic", "username": "ada", "password": "pw"},
            "authorization",
            "Basic " + base64.b64encode(b"ada:pw").decode(),
        ),
        ({"scheme": "header", "header_name": "X-Api-Key", "header_value": "k1"}, "x-api-key", "k1"),
    ],
)
async def test_the_credential_adds_its_header(
    upstream: tuple[Upstream, str], http: GuardedClient, fields: dict, header: str, value: str
) -> None:
    _, base = upstream
    ctx = node_context(http=http, credentials={"api": ("http", fields)})
    out = await run_node(HttpRequest, {"url": f"{base}/echo", "credential": "api"}, ctx)
    assert out["body"]["headers"][header] == value


async def test_a_credential_of_another_kind_or_incomplete_is_refused_by_name(
    upstream: tuple[Upstream, str], http: GuardedClient
) -> None:
    _, base = upstream
    creds = {"bot": ("slack", {"token": "x"}), "half": ("http", {"scheme": "basic"})}
    ctx = node_context(http=http, credentials=creds)
    with pytest.raises(NodeError, match="credential 'bot' is a slack credential; this needs http"):
        await run_node(HttpRequest, {"url": f"{base}/echo", "credential": "bot"}, ctx)
    with pytest.raises(NodeError, match=r"credential 'half' \(http\) is incomplete: .*username"):
        await run_node(HttpRequest, {"url": f"{base}/echo", "credential": "half"}, ctx)
    with pytest.raises(NodeError, match="there is no credential named 'nope'"):
        await run_node(HttpRequest, {"url": f"{base}/echo", "credential": "nope"}, ctx)


async def test_500_is_transient_and_the_next_attempt_succeeds(
    upstream: tuple[Upstream, str], http: GuardedClient
) -> None:
    api, base = upstream
    ctx = node_context(http=http)
    with pytest.raises(TransientError, match=r"GET .*/flaky answered 500 Internal Server Error"):
        await run_node(HttpRequest, {"url": f"{base}/flaky"}, ctx)
    out = await run_node(HttpRequest, {"url": f"{base}/flaky"}, ctx)
    assert out["body"] == {"ok": True}
    assert api.calls["flaky"] == 2


async def test_429_is_transient_with_the_servers_retry_after(
    upstream: tuple[Upstream, str], http: GuardedClient
) -> None:
    _, base = upstream
    with pytest.raises(TransientError, match="429 Too Many Requests: slow down") as caught:
        await run_node(HttpRequest, {"url": f"{base}/busy"}, node_context(http=http))
    assert caught.value.retry_after == 7


async def test_404_is_permanent_with_the_status_and_body(
    upstream: tuple[Upstream, str], http: GuardedClient
) -> None:
    _, base = upstream
    with pytest.raises(NodeError) as caught:
        await run_node(HttpRequest, {"url": f"{base}/missing"}, node_context(http=http))
    assert not isinstance(caught.value, TransientError)
    assert str(caught.value) == (
        f'http.request: GET {base}/missing answered 404 Not Found: {{"error":"no such user","id":42}}'
    )


async def test_error_messages_do_not_show_credentials_from_the_url(
    upstream: tuple[Upstream, str], http: GuardedClient
) -> None:
    _, base = upstream
    url = base.replace("http://", "http://ada:s3cret@") + "/missing"
    with pytest.raises(NodeError) as caught:
        await run_node(HttpRequest, {"url": url}, node_context(http=http))
    assert str(caught.value).startswith(f"http.request: GET {base}/missing answered 404")
    assert "s3cret" not in str(caught.value)


async def test_a_refused_connection_is_transient(http: GuardedClient) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    with pytest.raises(TransientError, match=rf"http\.request: GET {url} failed"):
        await run_node(HttpRequest, {"url": url}, node_context(http=http))


SSRF_CORPUS = [
    ("http://127.0.0.1/", "127.0.0.1, a loopback address"),
    ("http://0x7f000001/", "127.0.0.1, a loopback address"),
    ("http://2130706433/", "127.0.0.1, a loopback address"),
    ("http://127.1/", "127.0.0.1, a loopback address"),
    ("http://[::1]/", "::1, a loopback address"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1, an IPv4-mapped form of 127.0.0.1"),
    ("http://10.0.0.1/", "10.0.0.1, a private address"),
    ("http://172.16.5.4/", "172.16.5.4, a private address"),
    ("http://192.168.0.1/", "192.168.0.1, a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254, the cloud metadata address"),
    ("http://0xa9fea9fe/", "169.254.169.254, the cloud metadata address"),
    ("http://100.64.0.1/", "100.64.0.1, a carrier-grade NAT (shared) address"),
    ("http://0.0.0.0:8000/", "0.0.0.0, an unspecified address"),
    ("http://[fd00::1]/", "fd00::1, a unique-local (private) address"),
    ("http://[fe80::1]/", "fe80::1, a link-local address"),
    ("http://user:pw@10.1.2.3/", "10.1.2.3, a private address"),
]


@pytest.mark.parametrize(("url", "resolves"), SSRF_CORPUS)
async def test_the_ssrf_corpus_fails_the_step_with_a_clear_message(
    strict_http: GuardedClient, url: str, resolves: str
) -> None:
    with pytest.raises(NodeError) as caught:
        await run_node(HttpRequest, {"url": url}, node_context(http=strict_http))
    assert not isinstance(caught.value, TransientError)
    assert str(caught.value).startswith(f"http.request: the URL resolves to {resolves}")
    assert str(caught.value).endswith(
        "; set AGENTFLOW_ALLOW_PRIVATE_NETWORK=true to allow private networks"
    )
    assert "pw" not in str(caught.value)


async def test_a_name_resolving_to_loopback_fails_the_step(strict_http: GuardedClient) -> None:
    with pytest.raises(NodeError) as caught:
        await run_node(
            HttpRequest, {"url": "http://localhost:8080/admin"}, node_context(http=strict_http)
        )
    # /etc/hosts may list ::1 or 127.0.0.1 first; either is named.
    assert re.match(
        r"http\.request: the URL resolves to (127\.0\.0\.1|::1), a loopback address; ",
        str(caught.value),
    )


async def test_the_exact_loopback_message(strict_http: GuardedClient) -> None:
    with pytest.raises(NodeError) as caught:
        await run_node(
            HttpRequest, {"url": "http://127.0.0.1:8000/x"}, node_context(http=strict_http)
        )
    assert str(caught.value) == (
        "http.request: the URL resolves to 127.0.0.1, a loopback address; "
        "set AGENTFLOW_ALLOW_PRIVATE_NETWORK=true to allow private networks"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "http.request: the URL scheme 'file' is not allowed"),
        ("gopher://localhost:70/", "http.request: the URL scheme 'gopher' is not allowed"),
        ("not a url", "http.request: the URL scheme '(none)' is not allowed"),
    ],
)
async def test_other_schemes_fail_the_step(
    strict_http: GuardedClient, url: str, message: str
) -> None:
    with pytest.raises(NodeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await run_node(HttpRequest, {"url": url}, node_context(http=strict_http))


def test_only_safe_and_idempotent_methods_are_idempotent() -> None:
    node = HttpRequest()
    verdicts = {
        method: node.is_idempotent(HttpRequest.Config(method=method, url="http://x"))
        for method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH")
    }
    assert verdicts == {
        "GET": True,
        "HEAD": True,
        "OPTIONS": True,
        "PUT": True,
        "DELETE": True,
        "POST": False,
        "PATCH": False,
    }


def test_a_bad_header_name_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="'Bad Header' is not a valid header name"):
        HttpRequest.Config(url="http://x", headers={"Bad Header": "1"})


async def test_the_tool_uses_the_credential_the_agent_node_chose(
    upstream: tuple[Upstream, str], http: GuardedClient
) -> None:
    _, base = upstream
    ctx = node_context(
        http=http,
        credentials={"api": ("http", {"token": "from-node"})},
        services={"tool_credentials": {"http_request": "api"}},
    )
    args = HttpRequestTool.Args(url=f"{base}/echo", headers={"X-A": "1"})
    out = await HttpRequestTool().run(ctx, args)
    assert out["body"]["headers"]["authorization"] == "Bearer from-node"
    assert out["body"]["headers"]["x-a"] == "1"
