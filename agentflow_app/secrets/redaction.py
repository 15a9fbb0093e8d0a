"""Scrub secret values out of what a run stores and publishes (SPEC §11).

A run's :class:`~agentflow_app.secrets.vault.Vault` registers every credential value it
hands out with the run's :class:`Redactor`; the execution store passes step outputs, step
errors and event data through it before writing or publishing them. An API that echoes
the token back, an error message quoting a URL with the password in it, a log line with
the Authorization header: each becomes ``[redacted:<credential name>]``.

Secrets travel encoded as often as plain, so the common encodings are caught as well:
URL-encoding (query strings, form bodies), JSON string escaping, base64 (Basic auth, SMTP
AUTH, tokens pasted into headers) including the ``user:password`` pair of Basic auth.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic_core import to_jsonable_python

from agentflow_app.secrets.kinds import KINDS

#: Shorter values are not treated as secrets: replacing every "abc" in an output would
#: mangle it while protecting nothing a guess would not find.
MIN_SECRET_LENGTH = 4


def label(name: str) -> str:
    """What a secret of credential ``name`` is replaced with."""
    return f"[redacted:{name}]"


def encodings(secret: str) -> set[str]:
    """``secret`` and the forms it commonly takes on the wire."""
    raw = secret.encode()
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    }
    forms |= {form.rstrip("=") for form in forms}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def value_secrets(kind: str, value: dict[str, Any]) -> set[str]:
    """Every string that would reveal a secret of this credential value.

    The secret fields of ``kind`` with their encodings, plus the composites protocols
    build from them: ``base64(user:password)`` (HTTP Basic) and ``base64(\\0user\\0password)``
    (SMTP AUTH PLAIN).
    """
    model = KINDS.get(kind)
    names = model.secret_fields if model else tuple(value)
    fields = [value.get(n) for n in names]
    # A secret field may be a map of secrets (an MCP server's headers): each value counts.
    fields += [v for f in fields if isinstance(f, dict) for v in f.values()]
    plain = {v for v in fields if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH}
    found: set[str] = set()
    for secret in plain:
        found |= encodings(secret)
    user, password = value.get("username"), value.get("password")
    if isinstance(user, str) and isinstance(password, str) and len(password) >= MIN_SECRET_LENGTH:
        for pair in (f"{user}:{password}", f"\0{user}\0{password}"):
            encoded = base64.b64encode(pair.encode()).decode()
            found |= {encoded, encoded.rstrip("=")}
    return found


class Redactor:
    """Replaces registered secrets in any JSON-like value or text.

    Callable, so it plugs straight into the execution store's ``redact`` hook. Values
    that are not plain JSON (pydantic models, datetimes) are converted to JSON data first,
    so nothing slips through inside an object.
    """

    def __init__(self) -> None:
        self._labels: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, name: str, secrets: Iterable[str]) -> None:
        """Register ``secrets`` (exact strings) as belonging to credential ``name``."""
        with self._lock:
            for secret in secrets:
                if len(secret) >= MIN_SECRET_LENGTH:
                    self._labels.setdefault(secret, label(name))
            # Longest first, so a secret containing another is replaced whole.
            needles = sorted(self._labels, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, needles))) if needles else None

    def add_value(self, name: str, kind: str, value: dict[str, Any]) -> None:
        """Register the secrets of a credential value (see :func:`value_secrets`)."""
        self.add(name, value_secrets(kind, value))

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, text: str) -> str:
        """``text`` with every registered secret replaced."""
        pattern = self._pattern
        if pattern is None:
            return text
        return pattern.sub(lambda match: self._labels[match.group(0)], text)

    def __call__(self, value: Any) -> Any:
        """``value`` with every registered secret replaced, at any depth (keys too)."""
        if self._pattern is None:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, dict):
            return {self.text(str(k)): self._walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._walk(item) for item in value]
        if isinstance(value, BaseException):
            return self.text(str(value))
        return self._walk(to_jsonable_python(value, fallback=str))
