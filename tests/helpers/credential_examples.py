"""One valid value of each credential kind, as a user would type it (:data:`EXAMPLES`); every
secret field holds :data:`SECRET`."""

from __future__ import annotations

SECRET = "sk-live-0123456789abcdefWXYZ"

#: One valid value per kind, as a user would type it.
EXAMPLES: dict[str, dict] = {
    "anthropic": {"api_key": SECRET},
    "openai": {"api_key": SECRET, "base_url": "https://gateway.example.com/v1/"},
    "aws": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": SECRET, "region": "eu-west-1"},
    "slack": {"token": SECRET},
    "hubspot": {"token": SECRET, "base_url": "https://api.hubapi.com"},
    "smtp": {
        "host": "smtp.example.com",
        "port": 465,
        "username": "bot",
        "password": SECRET,
        "tls": "ssl",
        "from_address": "bot@example.com",
    },
    "ses": {"region": "eu-west-1", "aws_credential": "prod-aws", "from_address": "a@example.com"},
    "http": {"scheme": "basic", "username": "me", "password": SECRET},
    "mcp": {"url": "https://mcp.example.com/mcp", "token": SECRET, "headers": {"X-Team": SECRET}},
}
