"""Errors shared by services, the REST API, the Reflex states and the CLI.

Each carries a message written for the person who meets it; the API maps them to status
codes in one place (``api/errors.py``), the CLI prints them as one line.
"""

from __future__ import annotations


class AgentFlowError(Exception):
    """Base class: ``str(error)`` is safe to show to the user."""


class ConfigError(AgentFlowError):
    """A setting is missing, malformed or points at something unreachable."""


class NotFound(AgentFlowError):
    """The object does not exist or belongs to someone else (the two look the same)."""


class Conflict(AgentFlowError):
    """The request clashes with existing state (a taken email, a duplicate name)."""


class Forbidden(AgentFlowError):
    """The caller is known but may not do this (closed signup, not an admin)."""


class InvalidInput(AgentFlowError):
    """The input was well-formed but wrong; ``problems`` lists what and where."""

    def __init__(self, message: str, problems: list[dict] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class CredentialError(AgentFlowError):
    """A credential is missing, of the wrong kind or unreadable; the message names it.

    Raised by credential providers (the vault, ``StaticCredentials``) and turned into a
    node's error by whoever asked for the credential.
    """
