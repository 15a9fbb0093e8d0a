"""What an operator chooses for one deployment, read from CDK context (`-c key=value` or
cdk.json) and checked before any resource is drawn.

Everything has a default sized for the smallest sensible production (docs/deploy-aws.md
prices it) except the certificate: HTTPS is not optional, and a wrong or missing value is
reported naming the context key, not as a CloudFormation failure ten minutes into a deploy.
"""

from __future__ import annotations

import contextlib
import json
import re
from email.utils import parseaddr
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

#: Fargate's valid (cpu, memory MiB) pairs for the sizes this stack offers.
_FARGATE_MEMORY = {
    256: (512, 1024, 2048),
    512: (1024, 2048, 3072, 4096),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
}
SubnetId = Annotated[str, Field(pattern=r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")]
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,20}$")


class ConfigurationError(ValueError):
    """A context value is missing or wrong; the message names the key."""


class ExistingVpc(BaseModel):
    """A VPC the stack should use instead of creating one (context key ``vpc``, JSON).

    Subnet lists run in the order of ``availability_zones``; no AWS lookup is needed to
    synthesise, so the template is the same on a laptop and in CI.
    """

    model_config = ConfigDict(extra="forbid")

    vpc_id: str = Field(pattern=r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$")
    availability_zones: list[str] = Field(min_length=2)
    public_subnet_ids: list[SubnetId] = Field(min_length=2)
    private_subnet_ids: list[SubnetId] = Field(min_length=2)
    isolated_subnet_ids: list[SubnetId] = Field(min_length=2)

    @model_validator(mode="after")
    def _one_subnet_per_zone(self) -> ExistingVpc:
        zones = len(self.availability_zones)
        for field in ("public_subnet_ids", "private_subnet_ids", "isolated_subnet_ids"):
            if len(getattr(self, field)) != zones:
                raise ValueError(f"{field} needs one subnet per availability zone ({zones})")
        return self


class DeployConfig(BaseModel):
    """One deployment's names and sizes (docs/deploy-aws.md lists them with their costs)."""

    model_config = ConfigDict(extra="forbid")

    #: Prefix of every resource name and of the secrets this stack owns.
    name: str = "agentflow"
    #: ACM certificate for the ALB's HTTPS listener (same region as the stack).
    certificate_arn: str = Field(pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/.+$")
    image_tag: str = Field(default="latest", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    vpc: ExistingVpc | None = None
    nat_gateways: int = Field(default=1, ge=1, le=2)

    web_cpu: int = 512
    web_memory_mib: int = 1024
    web_count: int = Field(default=2, ge=1, le=20)
    worker_cpu: int = 512
    worker_memory_mib: int = 1024
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    worker_min: int = Field(default=1, ge=1, le=50)
    worker_max: int = Field(default=4, ge=1, le=100)
    #: Queued executions per running worker above which one more worker starts.
    worker_backlog_per_task: int = Field(default=10, ge=1)

    db_instance_class: str = Field(default="t4g.micro", pattern=r"^[a-z0-9]+\.[a-z0-9]+$")
    db_storage_gib: int = Field(default=20, ge=20, le=65536)
    db_backup_days: int = Field(default=7, ge=1, le=35)
    redis_node_type: str = Field(
        default="cache.t4g.micro", pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$"
    )

    #: CloudWatch Logs keeps logs (and the log bucket its objects) this many days.
    log_retention_days: Literal[1, 3, 5, 7, 14, 30, 60, 90, 180, 365, 731, 1827, 3653] = 30
    #: Files older than this leave the bucket (0 keeps them); matches the runs' retention.
    files_retention_days: int = Field(default=30, ge=0, le=36500)
    open_signup: bool = False
    #: The address people open AgentFlow at (your domain, pointed at the ALB or CloudFront):
    #: links the server sends (approvals, invitations) start with it. Unset: the
    #: CloudFront domain with ``cloudfront``, else the ALB's DNS name.
    public_url: str | None = Field(
        default=None, pattern=r"^https://[A-Za-z0-9.-]+(:\d{1,5})?(/\S*)?$"
    )
    #: The sender of the server's own emails (invitations), an identity SES has verified;
    #: given, both roles send through SES in the stack's region. Unset: nothing is emailed.
    mail_from: str | None = None

    #: Put CloudFront in front of the ALB; then ``domain_name`` is the ALB's DNS name
    #: as the certificate covers it (CloudFront checks it when it connects over HTTPS).
    cloudfront: bool = False
    domain_name: str | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("2-21 characters: lower-case letters, digits and '-', a letter first")
        return value

    @field_validator("mail_from")
    @classmethod
    def _check_mail_from(cls, value: str | None) -> str | None:
        # The app's own rule for AGENTFLOW_MAIL_FROM (settings.py), so a deploy never
        # starts tasks whose settings refuse to load.
        if value is not None and (
            "@" not in parseaddr(value)[1] or any(c in value for c in "\r\n")
        ):
            raise ValueError("must be an email address, e.g. AgentFlow <noreply@example.com>")
        return value

    @model_validator(mode="after")
    def _check_sizes(self) -> DeployConfig:
        for role in ("web", "worker"):
            cpu, memory = getattr(self, f"{role}_cpu"), getattr(self, f"{role}_memory_mib")
            if memory not in _FARGATE_MEMORY.get(cpu, ()):
                raise ValueError(
                    f"{role}_cpu={cpu} with {role}_memory_mib={memory} is not a Fargate size "
                    f"(cpu one of {sorted(_FARGATE_MEMORY)}, memory allowed for it: "
                    f"{list(_FARGATE_MEMORY.get(cpu, ()))})"
                )
        if self.worker_max < self.worker_min:
            raise ValueError("worker_max must be at least worker_min")
        if self.cloudfront and not self.domain_name:
            raise ValueError(
                "cloudfront=true needs domain_name (the ALB's name on the certificate)"
            )
        return self


#: The context keys DeployConfig reads.
KEYS = tuple(DeployConfig.model_fields)


def from_context(read: Any) -> DeployConfig:
    """Build the config from CDK context.

    Args:
        read: ``node.try_get_context``; values given with ``-c`` arrive as strings, so
            JSON (numbers, booleans, the ``vpc`` object) is decoded first.

    Raises:
        ConfigurationError: naming each context key that is wrong.
    """
    raw: dict[str, Any] = {}
    for key in KEYS:
        value = read(key)
        if value is None:
            continue
        if isinstance(value, str) and key not in ("name", "image_tag", "certificate_arn"):
            # A plain string (an instance class, a domain) stays one: pydantic judges it.
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        raw[key] = value
    try:
        return DeployConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"-c {'.'.join(str(part) for part in error['loc']) or 'context'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigurationError(f"invalid deployment context: {problems}") from None
