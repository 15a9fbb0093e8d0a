"""Provider failures, told to the user: what went wrong, whether a retry can help.

Anthropic, OpenAI and Bedrock each raise their own exception families (and LangChain wraps
some of them); this module reduces any of them to a status, a code and the provider's own
message, then decides: a refused key or a bad request is a :class:`NodeError` (permanent),
a rate limit, a 5xx, a timeout or a dropped connection is a :class:`TransientError` that the
runner retries with backoff (honouring ``retry-after``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import urllib3
from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from agentflow_app.engine.errors import EngineError, NodeError, TransientError

_CONTEXT_TOO_LONG = re.compile(
    r"prompt is too long|context[ _]length|context window|too many (input )?tokens"
    r"|input is too long|maximum context|input length .* exceed",
    re.IGNORECASE,
)
_REFUSED_CODES = {
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "AccessDeniedException",
    "invalid_api_key",
    "authentication_error",
    "permission_error",
}
_UNKNOWN_MODEL_CODES = {"ResourceNotFoundException", "model_not_found", "not_found_error"}
_RATE_LIMIT_CODES = {"ThrottlingException", "rate_limit_exceeded", "rate_limit_error"}
_SERVER_CODES = {"ServiceUnavailableException", "ModelNotReadyException", "InternalServerException"}


@dataclass(frozen=True)
class _Failure:
    status: int | None
    code: str | None
    message: str
    headers: dict[str, str]


def provider_error(
    exc: BaseException,
    *,
    provider: str,
    model: str,
    key_source: str,
    node_id: str,
    secrets: tuple[str, ...] = (),
) -> EngineError | None:
    """The step error for a provider failure, or None when ``exc`` is not one.

    Args:
        exc: what the SDK or LangChain raised.
        provider: ``anthropic``, ``openai`` or ``bedrock`` (named in messages).
        model: the model id (named when it is unknown or its context overflows).
        key_source: ``credential 'x'`` or the environment variable the key came from.
        node_id: the step, named when the prompt is too long for the model.
        secrets: values scrubbed from the provider's message before it is shown.
    """
    # LangChain re-raises SDK errors as its own classes; the SDK's is in the chain.
    if isinstance(exc, EngineError):  # already written for the user
        return None
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or (None if link.__suppress_context__ else link.__context__)
    described = [(e, f) for e in chain if (f := _describe(e)) is not None]
    if not described:
        return None
    exc, failure = described[0]
    text = _scrub(failure.message, secrets).strip() or "no details given"
    status, code = failure.status, failure.code
    if status is None and code is None:
        timeouts = (
            anthropic.APITimeoutError,
            openai.APITimeoutError,
            ReadTimeoutError,
            urllib3.exceptions.TimeoutError,
            httpx.TimeoutException,
            httpx2.TimeoutException,
        )
        if any(isinstance(e, timeouts) for e in chain):
            return TransientError(f"{provider} did not answer in time ({model})")
        return TransientError(f"lost the connection to {provider} ({text})")
    if status in (401, 403) or code in _REFUSED_CODES:
        return NodeError(f"the {provider} key in {key_source} was refused: {text}")
    if status == 429 or code in _RATE_LIMIT_CODES:
        return TransientError(
            f"{provider} is rate limiting requests ({text})",
            retry_after=_retry_after(failure.headers),
        )
    if code in _SERVER_CODES or (status is not None and (status >= 500 or status in (408, 409))):
        return TransientError(
            f"{provider} had a server error ({status}: {text})",
            retry_after=_retry_after(failure.headers),
        )
    if _CONTEXT_TOO_LONG.search(text) or code == "context_length_exceeded":
        return NodeError(
            f"step {node_id!r}: the prompt is too long for {model} ({text}); shorten the "
            "prompt or the upstream outputs it includes, or pick a model with a larger context"
        )
    if status == 404 or code in _UNKNOWN_MODEL_CODES or "model identifier" in text.lower():
        return NodeError(f"{provider} does not know the model {model!r}: {text}")
    return NodeError(f"{provider} refused the request ({status or code}): {text}")


def _describe(exc: BaseException) -> _Failure | None:
    """Status, code, message and headers of any provider exception we know."""
    if isinstance(exc, NoCredentialsError):
        return _Failure(
            401,
            "NoCredentials",
            "no AWS credentials found; name an aws credential on the node",
            {},
        )
    if isinstance(exc, NoRegionError):
        return _Failure(400, "NoRegion", "no AWS region; give the aws credential a region", {})
    if isinstance(exc, (anthropic.APIStatusError, openai.APIStatusError)):
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else body
        code = error.get("code") or error.get("type")
        message = error.get("message") or exc.message
        return _Failure(
            exc.status_code, str(code) if code else None, str(message), dict(exc.response.headers)
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        return _Failure(
            meta.get("HTTPStatusCode"),
            error.get("Code"),
            error.get("Message") or str(exc),
            {k.lower(): v for k, v in (meta.get("HTTPHeaders") or {}).items()},
        )
    if isinstance(
        exc,
        (
            anthropic.APIConnectionError,
            openai.APIConnectionError,
            httpx.TransportError,
            httpx2.TransportError,
            BotoConnectionError,
            HTTPClientError,
            ResponseStreamingError,
            # botocore lets these through while it reads an event stream.
            urllib3.exceptions.ProtocolError,
            urllib3.exceptions.TimeoutError,
        ),
    ):
        return _Failure(None, None, str(exc) or type(exc).__name__, {})
    return None


def _retry_after(headers: dict[str, str]) -> float | None:
    """Seconds the provider asked us to wait (``retry-after-ms``, ``retry-after``)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        if "retry-after" in lowered:
            return max(0.0, float(lowered["retry-after"]))
    except ValueError:
        pass
    if "retry-after" in lowered:
        try:
            when = parsedate_to_datetime(lowered["retry-after"])
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None
    return None


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """``value`` with every secret replaced by ``***``, in strings nested at any depth."""
    if isinstance(value, str):
        return _scrub(value, secrets) if secrets else value
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, secrets) for v in value]
    return value
