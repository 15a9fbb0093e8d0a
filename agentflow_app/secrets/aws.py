"""The AWS Secrets Manager backend (``AGENTFLOW_SECRETS_BACKEND=aws``).

The value of each credential is one secret (a JSON ``SecretString``); the database keeps
only its ARN. boto3 finds the region and the AWS credentials the usual way (environment,
instance role) and honours ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` for a private endpoint or a
local emulator.

Secret names are ``agentflow/<owner id>/<random>`` rather than the credential's name: AWS
allows fewer characters than we do, and a deleted secret's name stays taken for its
recovery window, which would block deleting and re-adding a credential.
"""

from __future__ import annotations

import json
import secrets as random
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from agentflow_app.errors import AgentFlowError


class SecretsBackendError(AgentFlowError):
    """AWS Secrets Manager refused or could not be reached; the message says which."""


class AwsSecretStore:
    """Create, replace, read and delete credential values in AWS Secrets Manager.

    Args:
        client: a boto3 ``secretsmanager`` client; by default one built from the
            environment (region, keys, ``AWS_ENDPOINT_URL_SECRETS_MANAGER``).
    """

    def __init__(self, client: Any = None) -> None:
        if client is None:
            try:
                client = boto3.client("secretsmanager")
            except NoRegionError:
                raise SecretsBackendError(
                    "AGENTFLOW_SECRETS_BACKEND=aws needs an AWS region: set AWS_REGION"
                ) from None
        self._client = client

    def create(self, owner_id: int, name: str, value: dict[str, Any]) -> str:
        """Store ``value`` as a new secret; returns its ARN."""
        secret_name = f"agentflow/{owner_id}/{random.token_hex(8)}"
        answer = self._call(
            name,
            "create_secret",
            Name=secret_name,
            Description=f"AgentFlow credential {name!r}",
            SecretString=json.dumps(value),
            Tags=[
                {"Key": "agentflow:owner", "Value": str(owner_id)},
                {"Key": "agentflow:credential", "Value": name[:256]},
            ],
        )
        return answer["ARN"]

    def replace(self, arn: str, name: str, value: dict[str, Any]) -> None:
        """Make ``value`` the secret's current version."""
        self._call(name, "put_secret_value", SecretId=arn, SecretString=json.dumps(value))

    def read(self, arn: str, name: str) -> dict[str, Any]:
        """The secret's current value."""
        answer = self._call(name, "get_secret_value", SecretId=arn)
        try:
            value = json.loads(answer["SecretString"])
        except (KeyError, ValueError):
            value = None
        if not isinstance(value, dict):
            raise SecretsBackendError(
                f"credential {name!r}: its AWS secret does not hold a JSON object; "
                "save the credential's value again"
            )
        return value

    def delete(self, arn: str, name: str) -> None:
        """Delete the secret now (no recovery window); a secret already gone is fine."""
        try:
            self._call(name, "delete_secret", SecretId=arn, ForceDeleteWithoutRecovery=True)
        except _Missing:
            return

    def _call(self, name: str, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Error")
            if code == "ResourceNotFoundException":
                raise _Missing(
                    f"credential {name!r}: its secret is gone from AWS Secrets Manager; "
                    "save the credential's value again"
                ) from None
            message = exc.response.get("Error", {}).get("Message", "")
            raise SecretsBackendError(
                f"credential {name!r}: AWS Secrets Manager refused {operation} ({code}: {message})"
            ) from None
        except NoCredentialsError:
            raise SecretsBackendError(
                "AGENTFLOW_SECRETS_BACKEND=aws: no AWS credentials found for Secrets Manager "
                "(set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or give the host a role)"
            ) from None
        except BotoCoreError as exc:
            raise SecretsBackendError(
                f"credential {name!r}: AWS Secrets Manager could not be reached ({exc})"
            ) from None


class _Missing(SecretsBackendError):
    """The secret does not exist (deleted outside AgentFlow)."""
