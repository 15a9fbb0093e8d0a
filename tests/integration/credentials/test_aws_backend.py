"""``AGENTFLOW_SECRETS_BACKEND=aws``: values live in Secrets Manager (moto over HTTP), the
database keeps only the ARN."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from sqlmodel import select

from agentflow_app.db import session_scope
from agentflow_app.errors import CredentialError
from agentflow_app.models.credential import Credential
from agentflow_app.secrets.aws import AwsSecretStore, SecretsBackendError
from agentflow_app.secrets.vault import Vault
from agentflow_app.services import credentials
from tests.helpers.credentials import raw_database

TOKEN = "xoxb-aws-backend-SECRET-5a5b5c5d5e"
NEW_TOKEN = "xoxb-aws-backend-SECRET-replaced-99"


def _secretsmanager(url: str):
    return boto3.client("secretsmanager", endpoint_url=url, region_name="us-east-1")


def _row(credential_id: int) -> Credential:
    with session_scope() as session:
        return session.exec(select(Credential).where(Credential.id == credential_id)).one()


def test_store_round_trip(aws_env: str) -> None:
    store = AwsSecretStore()
    arn = store.create(7, "bot", {"token": TOKEN})
    assert arn.startswith("arn:aws:secretsmanager:us-east-1:")
    assert store.read(arn, "bot") == {"token": TOKEN}
    store.replace(arn, "bot", {"token": NEW_TOKEN})
    assert store.read(arn, "bot") == {"token": NEW_TOKEN}
    store.delete(arn, "bot")
    with pytest.raises(SecretsBackendError, match="'bot': its secret is gone"):
        store.read(arn, "bot")
    store.delete(arn, "bot")  # already gone: nothing to do


async def test_create_replace_read_delete_through_the_service(
    stack, aws_env: str, set_env, make_actor
) -> None:
    set_env(AGENTFLOW_SECRETS_BACKEND="aws")
    actor = make_actor()
    created = credentials.create_credential(actor, "bot", "slack", {"token": TOKEN})
    assert created.backend == "aws"
    row = _row(created.id)
    assert row.ciphertext is None
    secret = _secretsmanager(aws_env).get_secret_value(SecretId=row.external_ref)
    assert json.loads(secret["SecretString"]) == {"token": TOKEN}
    assert TOKEN.encode() not in raw_database(stack)
    assert (await Vault(actor.workspace_id).get("bot", ("slack",)))["token"] == TOKEN

    credentials.replace_credential(actor, created.id, {"token": NEW_TOKEN})
    assert _row(created.id).external_ref == row.external_ref
    secret = _secretsmanager(aws_env).get_secret_value(SecretId=row.external_ref)
    assert json.loads(secret["SecretString"]) == {"token": NEW_TOKEN}
    assert (await Vault(actor.workspace_id).get("bot", ("slack",)))["token"] == NEW_TOKEN

    credentials.delete_credential(actor, created.id)
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        _secretsmanager(aws_env).describe_secret(SecretId=row.external_ref)


async def test_switching_backends_moves_a_value_on_its_next_save(
    stack, aws_env: str, set_env, make_actor
) -> None:
    actor = make_actor()
    created = credentials.create_credential(actor, "bot", "slack", {"token": TOKEN})
    assert created.backend == "db"
    set_env(AGENTFLOW_SECRETS_BACKEND="aws")
    assert (await Vault(actor.workspace_id).get("bot", ("slack",)))[
        "token"
    ] == TOKEN  # still readable
    moved = credentials.replace_credential(actor, created.id, {"token": NEW_TOKEN})
    assert moved.backend == "aws" and _row(created.id).ciphertext is None

    set_env(AGENTFLOW_SECRETS_BACKEND="db")
    arn = _row(created.id).external_ref
    back = credentials.replace_credential(actor, created.id, {"token": TOKEN})
    assert back.backend == "db"
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        _secretsmanager(aws_env).describe_secret(SecretId=arn)


async def test_a_secret_deleted_outside_agentflow_is_a_clear_error(
    stack, aws_env: str, set_env, make_actor
) -> None:
    set_env(AGENTFLOW_SECRETS_BACKEND="aws")
    actor = make_actor()
    created = credentials.create_credential(actor, "bot", "slack", {"token": TOKEN})
    _secretsmanager(aws_env).delete_secret(
        SecretId=_row(created.id).external_ref, ForceDeleteWithoutRecovery=True
    )
    with pytest.raises(CredentialError, match="'bot': its secret is gone from AWS Secrets Manager"):
        await Vault(actor.workspace_id).get("bot", ("slack",))


async def test_test_button_on_aws_and_ses_credentials(
    stack, aws_env: str, set_env, make_actor
) -> None:
    actor = make_actor()
    aws = credentials.create_credential(
        actor,
        "prod-aws",
        "aws",
        {
            "access_key_id": "AKIAIOSFODNN7EXAMPLE",
            "secret_access_key": "x" * 40,
            "region": "us-east-1",
        },
    )
    answer = await credentials.check_credential(actor, aws.id)
    assert answer.ok, answer.message
    assert answer.message.startswith("AWS accepted the keys (arn:aws:")

    ses = credentials.create_credential(
        actor,
        "mailer",
        "ses",
        {
            "region": "us-east-1",
            "aws_credential": "prod-aws",
            "from_address": "a@example.com",
            "endpoint_url": aws_env,
        },
    )
    # The SES endpoint is user-supplied: loopback is refused unless the operator allows it.
    answer = await credentials.check_credential(actor, ses.id)
    assert not answer.ok and "loopback" in answer.message
    set_env(AGENTFLOW_ALLOW_PRIVATE_NETWORK="true")
    answer = await credentials.check_credential(actor, ses.id)
    assert answer.ok, answer.message
    assert answer.message.startswith("SES accepted the keys")
