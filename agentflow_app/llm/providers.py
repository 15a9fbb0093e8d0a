"""The chat model factory: a LangChain chat model per node, keyed by provider and model.

Keys come from the node's named credential, else the environment (SPEC §4); the base URLs
in the settings are honoured on every call so a self-hosted gateway or a test server sees
all traffic. The SDKs' own retries are off: the runner retries transient failures with
backoff and counts each attempt once.

The Anthropic and OpenAI models of one event loop are kept and share that provider's HTTP
client, so LLM steps reuse kept-alive connections instead of opening one (TCP and TLS) per
step; the Bedrock clients of one set of credentials are made once per process. Those
clients are the SDKs' own aiohttp flavour (``DefaultAioHttpClient``): the same httpx API
over aiohttp's C HTTP parser, which took a streamed call from 1.72 to 1.32 ms of CPU
against h11's pure-Python one (uvloop, a local server, medians of 5 rounds of 500).
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Literal

import anthropic
import boto3
import openai
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError
from langchain_anthropic import ChatAnthropic
from langchain_aws import ChatBedrockConverse
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI
from pydantic import Field

from agentflow_app.engine.errors import EngineError, NodeError
from agentflow_app.engine.node import CredentialProvider
from agentflow_app.errors import AgentFlowError
from agentflow_app.net import tls
from agentflow_app.settings import Settings

Provider = Literal["anthropic", "openai", "bedrock"]

#: The credential kind each provider accepts.
CREDENTIAL_KINDS: dict[str, str] = {"anthropic": "anthropic", "openai": "openai", "bedrock": "aws"}
_ENV_KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}


@dataclass(frozen=True)
class ChatModel:
    """A ready chat model and what error messages need to know about its key."""

    model: BaseChatModel
    provider: str
    #: Where the key came from, for messages: ``credential 'prod'`` or ``ANTHROPIC_API_KEY``.
    key_source: str
    #: Secret values in play, so no message, log or output ever repeats them.
    secrets: tuple[str, ...]


#: How many chat models (distinct provider, model, key and settings) a loop keeps.
MAX_LOOP_MODELS = 64


@dataclass
class _LoopShared:
    """What the LLM steps of one event loop share (see :func:`_loop_client`)."""

    clients: dict[str, Any] = field(default_factory=dict)
    models: OrderedDict[tuple[Any, ...], BaseChatModel] = field(default_factory=OrderedDict)


_LOOP_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopShared] = (
    weakref.WeakKeyDictionary()
)


def _loop_client(provider: str, factory: Callable[..., Any]) -> Any:
    """``provider``'s SDK HTTP client (a connection pool) for the running event loop.

    A client per step opened a new connection to the provider for every LLM step (a TLS
    handshake to the real APIs) and built the client again. A pool's connections belong
    to the loop that opened them, so clients are kept per loop: a worker thread's loop
    lasts as long as the worker; a loop that ends (``asyncio.run``) drops its clients,
    and should close them first (:func:`aclose_loop_clients`), or aiohttp logs each one
    as an unclosed session. The client holds no key: the SDK sends the step's key with
    each request.
    """
    clients = _LOOP_SHARED.setdefault(asyncio.get_running_loop(), _LoopShared()).clients
    client = clients.get(provider)
    if client is None or client.is_closed:
        client = clients[provider] = factory(verify=tls.default_context())
    return client


def _loop_model(key: tuple[Any, ...], build: Callable[[], BaseChatModel]) -> BaseChatModel:
    """The running loop's chat model for ``key`` (provider, model, API key, settings).

    Building a LangChain model and its SDK client (validation, a platform probe in a
    thread, serialisation for callbacks) was a tenth of a short run's CPU. A model keeps
    no state between calls, so one per key is kept, least recently used dropped first; a
    rotated key or a changed setting is another key.
    """
    models = _LOOP_SHARED.setdefault(asyncio.get_running_loop(), _LoopShared()).models
    model = models.get(key)
    if model is None or model.http_async_client.is_closed:
        model = models[key] = build()
        while len(models) > MAX_LOOP_MODELS:
            models.popitem(last=False)
    models.move_to_end(key)
    return model


async def aclose_loop_clients() -> None:
    """Close the running loop's shared clients (a CLI run, before its loop ends)."""
    shared = _LOOP_SHARED.pop(asyncio.get_running_loop(), _LoopShared())
    for client in shared.clients.values():
        await client.aclose()


class _ChatAnthropic(ChatAnthropic):
    """ChatAnthropic over an HTTP client of our choosing, without the SDK's own spans.

    The stock classes (ChatOpenAI too, unless given ``http_async_client``) share one cached
    async HTTP client per base URL across event loops; a worker that runs each task in a
    fresh loop then fails every call after the first with "Event loop is closed". Ours
    is the running loop's (:func:`_loop_client`).
    """

    http_async_client: Any = Field(default=None, exclude=True)

    @cached_property
    def _async_client(self) -> anthropic.AsyncClient:
        # Without the SDK's own OpenTelemetry span: the step's "chat <model>" span
        # (observability.genai) describes the call the same way for every provider, and the
        # SDK built its span's attributes at every call even with no tracer to take them.
        return anthropic.AsyncClient(
            **self._client_params, http_client=self.http_async_client, open_telemetry=False
        )


async def chat_model(
    provider: str,
    model: str,
    *,
    credential: str | None,
    credentials: CredentialProvider,
    settings: Settings,
    temperature: float | None = None,
    max_tokens: int | None = None,
    timeout_s: float = 300,
) -> ChatModel:
    """Build the streaming chat model for one node run.

    Args:
        provider: ``anthropic``, ``openai`` or ``bedrock``.
        model: the provider's model id.
        credential: the name of the node's credential, or None for the environment.
        credentials: the vault of the user running the workflow.
        settings: base URLs and environment keys.
        temperature: sampling temperature, None for the model's default.
        max_tokens: cap on the answer's length, None for the model's default.
        timeout_s: per-request timeout.

    Raises:
        NodeError: no key is configured, or the credential lacks a field.
    """
    kind = CREDENTIAL_KINDS.get(provider)
    if kind is None:
        raise NodeError(f"unknown provider {provider!r}: use one of {', '.join(CREDENTIAL_KINDS)}")
    secret: dict[str, Any] = {}
    if credential:
        try:
            secret = await credentials.get(credential, (kind,))
        except EngineError:
            raise
        except AgentFlowError as exc:  # the vault's CredentialError: unknown, wrong kind
            raise NodeError(str(exc)) from None
    source = f"credential {credential!r}" if credential else _ENV_KEYS.get(provider, "")
    common: dict[str, Any] = {"streaming": True}
    if temperature is not None:
        common["temperature"] = temperature
    if max_tokens is not None:
        common["max_tokens"] = max_tokens

    if provider == "anthropic":
        key = _field(secret, "api_key", credential) if credential else settings.anthropic_api_key
        if not key:
            raise NodeError(
                "no Anthropic API key: name an anthropic credential on the node "
                "or set ANTHROPIC_API_KEY"
            )
        built = _sdk_model(
            _ChatAnthropic,
            anthropic.DefaultAioHttpClient,
            provider=provider,
            model=model,
            key=key,
            base_url=settings.anthropic_base_url or "https://api.anthropic.com",
            timeout_s=timeout_s,
            settings=common,
        )
        return ChatModel(built, provider, source, (key,))

    if provider == "openai":
        key = _field(secret, "api_key", credential) if credential else settings.openai_api_key
        if not key:
            raise NodeError(
                "no OpenAI API key: name an openai credential on the node or set OPENAI_API_KEY"
            )
        built = _sdk_model(
            ChatOpenAI,
            openai.DefaultAioHttpClient,
            provider=provider,
            model=model,
            key=key,
            base_url=secret.get("base_url") or settings.openai_base_url or None,
            timeout_s=timeout_s,
            settings={**common, "use_responses_api": False},
        )
        return ChatModel(built, provider, source, (key,))

    session_args: dict[str, Any] = {}
    if credential:
        session_args = {
            "aws_access_key_id": _field(secret, "access_key_id", credential),
            "aws_secret_access_key": _field(secret, "secret_access_key", credential),
            "aws_session_token": secret.get("session_token") or None,
            "region_name": _field(secret, "region", credential),
        }
    secrets = tuple(
        v
        for k, v in session_args.items()
        if v and k in ("aws_secret_access_key", "aws_session_token")
    )
    source = f"credential {credential!r}" if credential else "the AWS default credential chain"
    try:
        runtime, control, region = _bedrock_clients(
            tuple(session_args.items()),
            settings.aws_endpoint_url_bedrock_runtime,
            timeout_s,
            tuple(os.environ.get(name) for name in _AWS_ENVIRONMENT),
        )
    except BotoCoreError as exc:
        raise NodeError(f"cannot set up Bedrock with {source}: {exc}") from None
    built = ChatBedrockConverse(
        model=model, client=runtime, bedrock_client=control, region_name=region, **common
    )
    return ChatModel(built, provider, source, secrets)


#: What boto3's default chain reads from the environment: part of the clients' cache key.
_AWS_ENVIRONMENT = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


def _sdk_model(
    cls: type[BaseChatModel],
    http_client: Callable[..., Any],
    *,
    provider: str,
    model: str,
    key: str,
    base_url: str | None,
    timeout_s: float,
    settings: dict[str, Any],
) -> BaseChatModel:
    """A LangChain model over the loop's shared SDK HTTP client, kept per loop and key."""
    return _loop_model(
        (provider, model, key, base_url, timeout_s, *sorted(settings.items())),
        lambda: cls(
            model=model,
            http_async_client=_loop_client(provider, http_client),
            api_key=key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout_s,
            stream_usage=True,
            **settings,
        ),
    )


@lru_cache(maxsize=32)
def _bedrock_clients(
    session_args: tuple[tuple[str, Any], ...],
    endpoint: str | None,
    timeout_s: float,
    _environment: tuple[str | None, ...],
) -> tuple[Any, Any, str]:
    """The Bedrock runtime and control clients for one set of credentials, and the region.

    Making a boto3 session and its two clients loads the service descriptions: about 50 ms
    of CPU, on the event loop, for every Bedrock step. botocore clients are safe to share
    between threads and hold no event loop, so they are made once per credentials (a key
    that changes, in the credential or in the environment the default chain reads, is a
    new entry) and kept; temporary credentials of an instance role refresh themselves.
    Errors are not cached.

    Raises:
        NodeError: no region is configured.
        BotoCoreError: boto3 cannot build the clients.
    """
    session = boto3.Session(**dict(session_args))
    if session.region_name is None:
        raise NodeError(
            "no AWS region for Bedrock: give the aws credential a region "
            "or set AWS_DEFAULT_REGION for the worker"
        )
    boto_config = BotoConfig(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=min(timeout_s, 30),
        read_timeout=timeout_s,
    )
    runtime = session.client("bedrock-runtime", endpoint_url=endpoint or None, config=boto_config)
    control = session.client("bedrock", config=boto_config)
    return runtime, control, session.region_name


def _field(secret: dict[str, Any], name: str, credential: str | None) -> str:
    value = secret.get(name)
    if not isinstance(value, str) or not value:
        raise NodeError(f"credential {credential!r} has no {name!r}; edit it in Credentials")
    return value
