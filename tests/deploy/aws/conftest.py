"""The stack synthesised once per variant for the whole session (jsii and the synthesis
take seconds; every check reads the same template)."""

from __future__ import annotations

import pytest

from tests.helpers.cdk import MAIL_FROM, PUBLIC_URL, Synthesis, synthesize

#: An existing VPC, as an operator passes it with `-c vpc='{...}'`.
EXISTING_VPC = {
    "vpc_id": "vpc-0abc1234abc12345a",
    "availability_zones": ["eu-west-1a", "eu-west-1b"],
    "public_subnet_ids": ["subnet-0000000000000a001", "subnet-0000000000000b001"],
    "private_subnet_ids": ["subnet-0000000000000a002", "subnet-0000000000000b002"],
    "isolated_subnet_ids": ["subnet-0000000000000a003", "subnet-0000000000000b003"],
}


@pytest.fixture(scope="session")
def default_stack() -> Synthesis:
    return synthesize()


@pytest.fixture(scope="session")
def cloudfront_stack() -> Synthesis:
    return synthesize(cloudfront="true", domain_name="app.example.com")


@pytest.fixture(scope="session")
def existing_vpc_stack() -> Synthesis:
    return synthesize(vpc=EXISTING_VPC)


@pytest.fixture(scope="session")
def mail_stack() -> Synthesis:
    """The server sends its own emails through SES, and people come in at their domain."""
    return synthesize(mail_from=MAIL_FROM, public_url=PUBLIC_URL)
