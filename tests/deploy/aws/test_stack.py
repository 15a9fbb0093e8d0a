"""What the synthesised CloudFormation template promises an operator (issue 16, point 2):
the web service is reached only through the ALB, the data stores only from the tasks, RDS
is Multi-AZ and encrypted, the worker scales on the queue and on CPU, secrets reach the
containers as ECS secrets, and the task roles cannot read the stack's own secrets."""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

import pytest

from tasks.config import task_default_queue
from tests.helpers.cdk import (
    ACCOUNT,
    CERTIFICATE,
    MAIL_FROM,
    PUBLIC_URL,
    REGION,
    Synthesis,
    make_importable,
    synthesize,
)

#: A CloudFormation dynamic reference to a secret, resolved at deploy time.
DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:secretsmanager:.*?\}\}")
SECRET_SETTINGS = {"DB_URL", "REDIS_URL", "AGENTFLOW_SECRET_KEY", "AGENTFLOW_ENCRYPTION_KEYS"}


def _ref_id(value: Any) -> str:
    """The logical id a Ref / Fn::GetAtt points at."""
    if "Ref" in value:
        return value["Ref"]
    return value["Fn::GetAtt"][0]


def _group(stack: Synthesis, description_start: str) -> str:
    matches = [
        logical_id
        for logical_id, group in stack.resources("AWS::EC2::SecurityGroup").items()
        if group["Properties"]["GroupDescription"].startswith(description_start)
    ]
    assert len(matches) == 1, matches
    return matches[0]


def _ingress_sources(stack: Synthesis, group_id: str) -> dict[int, set[str]]:
    """Port → the security groups (logical ids) or CIDRs allowed in, inline rules included."""
    sources: dict[int, set[str]] = {}
    group = stack.template["Resources"][group_id]["Properties"]
    for rule in group.get("SecurityGroupIngress", []):
        sources.setdefault(rule["FromPort"], set()).add(rule["CidrIp"])
    for rule in stack.resources("AWS::EC2::SecurityGroupIngress").values():
        props = rule["Properties"]
        if _ref_id(props["GroupId"]) == group_id:
            source = props.get("SourceSecurityGroupId")
            sources.setdefault(props["FromPort"], set()).add(
                _ref_id(source) if source else props.get("CidrIp")
            )
    return sources


def _service(stack: Synthesis, name: str) -> dict[str, Any]:
    for service in stack.resources("AWS::ECS::Service").values():
        if service["Properties"]["ServiceName"] == name:
            return service
    raise AssertionError(f"no ECS service named {name}")


def _containers(stack: Synthesis) -> dict[str, dict[str, Any]]:
    return {
        container["Name"]: container
        for task in stack.resources("AWS::ECS::TaskDefinition").values()
        for container in task["Properties"]["ContainerDefinitions"]
    }


def _environment(container: dict[str, Any]) -> dict[str, Any]:
    """A container's plain settings, by name."""
    return {item["Name"]: item["Value"] for item in container.get("Environment", [])}


def _statements(stack: Synthesis, role_prefix: str) -> list[dict[str, Any]]:
    """Every policy statement attached to the role whose logical id starts with the prefix."""
    statements = []
    for policy in stack.resources("AWS::IAM::Policy").values():
        roles = [_ref_id(role) for role in policy["Properties"]["Roles"]]
        if any(role.startswith(role_prefix) for role in roles):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _arn_text(value: Any) -> str:
    """An ARN with its pseudo parameters filled in, for pattern checks."""
    if isinstance(value, str):
        return value
    parts = value["Fn::Join"][1]
    pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
    return "".join(
        part if isinstance(part, str) else pseudo.get(part.get("Ref"), "?") for part in parts
    )


def test_the_web_service_is_reached_only_through_the_alb(default_stack: Synthesis) -> None:
    alb_group, web_group = (
        _group(default_stack, "AgentFlow ALB"),
        _group(default_stack, "AgentFlow web"),
    )
    assert _ingress_sources(default_stack, web_group) == {3000: {alb_group}}
    assert _ingress_sources(default_stack, alb_group) == {443: {"0.0.0.0/0"}, 80: {"0.0.0.0/0"}}

    web = _service(default_stack, "agentflow-web")["Properties"]
    network = web["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    assert [_ref_id(group) for group in network["SecurityGroups"]] == [web_group]
    private_subnets = {
        logical_id
        for logical_id in default_stack.resources("AWS::EC2::Subnet")
        if "private" in logical_id.lower()
    }
    assert {_ref_id(subnet) for subnet in network["Subnets"]} <= private_subnets

    _, alb = default_stack.one("AWS::ElasticLoadBalancingV2::LoadBalancer")
    attributes = {a["Key"]: a["Value"] for a in alb["Properties"]["LoadBalancerAttributes"]}
    assert alb["Properties"]["Scheme"] == "internet-facing"
    assert attributes["idle_timeout.timeout_seconds"] == "3600", "websockets stay open"
    listeners = {
        listener["Properties"]["Port"]: listener["Properties"]
        for listener in default_stack.resources("AWS::ElasticLoadBalancingV2::Listener").values()
    }
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[443]["Certificates"] == [{"CertificateArn": CERTIFICATE}]
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert redirect["RedirectConfig"]["Port"] == "443"

    _, target = default_stack.one("AWS::ElasticLoadBalancingV2::TargetGroup")
    target_attributes = {
        a["Key"]: a["Value"] for a in target["Properties"]["TargetGroupAttributes"]
    }
    assert target["Properties"]["HealthCheckPath"] == "/api/health"
    assert target["Properties"]["Port"] == 3000
    assert target_attributes["stickiness.enabled"] == "true"


def test_postgres_and_redis_are_reached_only_by_the_tasks(default_stack: Synthesis) -> None:
    tasks = {_group(default_stack, "AgentFlow web"), _group(default_stack, "AgentFlow worker")}
    database, redis = (
        _group(default_stack, "AgentFlow PostgreSQL"),
        _group(default_stack, "AgentFlow Redis"),
    )
    assert _ingress_sources(default_stack, database) == {5432: tasks}
    assert _ingress_sources(default_stack, redis) == {6379: tasks}
    assert _ingress_sources(default_stack, _group(default_stack, "AgentFlow worker")) == {}


def test_rds_is_multi_az_encrypted_backed_up_and_protected(default_stack: Synthesis) -> None:
    _, instance = default_stack.one("AWS::RDS::DBInstance")
    props = instance["Properties"]
    assert props["MultiAZ"] is True
    assert props["StorageEncrypted"] is True
    assert props["DeletionProtection"] is True
    assert props["BackupRetentionPeriod"] >= 7
    assert props["PubliclyAccessible"] is False
    assert props["Engine"] == "postgres"
    assert instance["DeletionPolicy"] == "Snapshot"


def test_redis_speaks_tls_with_the_token_from_secrets_manager(default_stack: Synthesis) -> None:
    _, group = default_stack.one("AWS::ElastiCache::ReplicationGroup")
    props = group["Properties"]
    assert props["TransitEncryptionEnabled"] is True
    assert props["AtRestEncryptionEnabled"] is True
    assert props["MultiAZEnabled"] is True
    token = json.dumps(props["AuthToken"])
    assert "{{resolve:secretsmanager:" in token, "the token is a dynamic reference, never a value"
    urls = [
        secret["Properties"]
        for secret in default_stack.resources("AWS::SecretsManager::Secret").values()
        if secret["Properties"].get("Name") == "agentflow-redis-url"
    ]
    assert len(urls) == 1
    url = json.dumps(urls[0]["SecretString"])
    assert url.startswith(
        '{"Fn::Join": ["", ["rediss://:{{resolve:secretsmanager:", {"Ref": "RedisToken'
    )
    assert "ssl_cert_reqs=required" in url
    _, parameters = default_stack.one("AWS::ElastiCache::ParameterGroup")
    assert "K" in parameters["Properties"]["Properties"]["notify-keyspace-events"]


def test_secrets_reach_the_containers_as_ecs_secrets_never_as_values(
    default_stack: Synthesis,
) -> None:
    containers = _containers(default_stack)
    assert {"web", "migrate", "worker", "queue-depth"} <= set(containers)
    owned = {
        logical_id
        for logical_id, secret in default_stack.resources("AWS::SecretsManager::Secret").items()
    }
    for name, container in containers.items():
        environment = _environment(container)
        secrets = {item["Name"]: item["ValueFrom"] for item in container.get("Secrets", [])}
        assert not SECRET_SETTINGS & set(environment), f"{name} has a secret as a plain value"
        assert "secretsmanager" not in json.dumps(environment), name
        if name != "queue-depth":
            assert set(secrets) == SECRET_SETTINGS, name
        else:
            assert set(secrets) == {"REDIS_URL"}
        for setting, source in secrets.items():
            if setting == "AGENTFLOW_ENCRYPTION_KEYS":
                # Created once by the operator (a Fernet key), imported by name.
                assert "secret:agentflow-encryption-keys" in _arn_text(source)
            else:
                assert _ref_id(source) in owned, f"{name}: {setting} comes from {source}"


def test_the_task_roles_manage_credential_secrets_only(default_stack: Synthesis) -> None:
    for role in ("WebRole", "WorkerRole"):
        statements = _statements(default_stack, role)
        secret_statements = [
            s
            for s in statements
            if any(a.startswith("secretsmanager:") for a in _as_list(s["Action"]))
        ]
        assert secret_statements, role
        patterns = [_arn_text(r) for s in secret_statements for r in _as_list(s["Resource"])]
        assert patterns == [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:agentflow/*"]
        for name in default_stack.owned_secret_names:
            # Secrets Manager appends "-" and six characters to a secret's name in its ARN.
            arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf"
            assert not fnmatch.fnmatchcase(arn, patterns[0]), f"{role} could read {name}"
        assert all(s["Effect"] == "Allow" and s["Resource"] != "*" for s in statements)
    web_actions = {a for s in _statements(default_stack, "WebRole") for a in _as_list(s["Action"])}
    worker_actions = {
        a for s in _statements(default_stack, "WorkerRole") for a in _as_list(s["Action"])
    }
    assert not {a for a in web_actions if a.startswith(("bedrock:", "ses:"))}
    assert {"bedrock:InvokeModel", "ses:SendEmail"} <= worker_actions


def test_the_role_covers_the_secrets_the_aws_backend_creates() -> None:
    """A credential saved with AGENTFLOW_SECRETS_BACKEND=aws gets a secret name the task
    roles' pattern covers (agentflow_app/secrets/aws.py names them)."""
    import boto3
    from botocore.stub import Stubber

    from agentflow_app.secrets.aws import AwsSecretStore

    client = boto3.client(
        "secretsmanager", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    names: list[str] = []
    client.meta.events.register(
        "provide-client-params.secrets-manager.CreateSecret",
        lambda params, **_: names.append(params["Name"]),
    )
    with Stubber(client) as stubber:
        stubber.add_response("create_secret", {"ARN": "arn:aws:secretsmanager:x", "Name": "n"})
        AwsSecretStore(client=client).create(7, "slack", {"token": "t"})
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{names[0]}-AbCdEf"
    assert fnmatch.fnmatchcase(arn, f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:agentflow/*")


def test_the_worker_scales_on_queue_depth_and_on_cpu(default_stack: Synthesis) -> None:
    _, target = default_stack.one("AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (1, 4)
    policies = default_stack.resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()
    kinds = {policy["Properties"]["PolicyType"] for policy in policies}
    assert kinds == {"TargetTrackingScaling", "StepScaling"}
    cpu = next(p for p in policies if p["Properties"]["PolicyType"] == "TargetTrackingScaling")
    tracking = cpu["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "ECSServiceAverageCPUUtilization"
    )
    alarms = [
        alarm["Properties"]
        for alarm in default_stack.resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "QueueDepth"
    ]
    assert alarms, "no alarm reads the queue depth"
    for alarm in alarms:
        assert alarm["Namespace"] == "AgentFlow"
        assert alarm["Dimensions"] == [{"Name": "Service", "Value": "agentflow-worker"}]

    # The sidecar publishes that metric for the queue the workers drain.
    sidecar = _containers(default_stack)["queue-depth"]
    command = sidecar["Command"]
    assert command[:2] == ["python", "/app/deploy/aws/queue_depth.py"]
    assert command[command.index("--queue") + 1] == task_default_queue
    assert command[command.index("--service") + 1] == "agentflow-worker"
    assert sidecar["Essential"] is False


def test_the_migration_runs_before_the_new_web_server_and_workers(default_stack: Synthesis) -> None:
    containers = _containers(default_stack)
    assert containers["migrate"]["Command"] == ["agentflow", "migrate"]
    assert containers["migrate"]["Essential"] is False
    assert containers["web"]["DependsOn"] == [{"Condition": "SUCCESS", "ContainerName": "migrate"}]
    web_id = next(
        logical_id
        for logical_id, service in default_stack.resources("AWS::ECS::Service").items()
        if service["Properties"]["ServiceName"] == "agentflow-web"
    )
    assert web_id in _service(default_stack, "agentflow-worker").get("DependsOn", [])
    deployment = _service(default_stack, "agentflow-web")["Properties"]["DeploymentConfiguration"]
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    # Two tasks, one replaced at a time: one migration at once.
    assert (deployment["MinimumHealthyPercent"], deployment["MaximumPercent"]) == (100, 150)


def test_the_files_bucket_is_private_encrypted_and_wired(default_stack: Synthesis) -> None:
    buckets = default_stack.resources("AWS::S3::Bucket")
    files_id = next(i for i in buckets if i.startswith("Files"))
    files = buckets[files_id]["Properties"]
    assert files["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert files["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert files["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 30
    for name in ("web", "worker"):
        environment = {
            item["Name"]: item["Value"] for item in _containers(default_stack)[name]["Environment"]
        }
        assert environment["AGENTFLOW_FILES_BACKEND"] == "s3"
        assert environment["AGENTFLOW_FILES_BUCKET"] == {"Ref": files_id}
        assert environment["AGENTFLOW_SECRETS_BACKEND"] == "aws"


def test_logs_keep_their_retention_and_images_have_a_repository(default_stack: Synthesis) -> None:
    groups = default_stack.resources("AWS::Logs::LogGroup").values()
    assert groups and all(group["Properties"]["RetentionInDays"] == 30 for group in groups)
    _, repository = default_stack.one("AWS::ECR::Repository")
    assert repository["Properties"]["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert "AWS::CloudFront::Distribution" not in json.dumps(default_stack.template)


def test_an_existing_vpc_is_used_as_given(existing_vpc_stack: Synthesis) -> None:
    assert not existing_vpc_stack.resources("AWS::EC2::VPC")
    assert not existing_vpc_stack.resources("AWS::EC2::NatGateway")
    web = _service(existing_vpc_stack, "agentflow-web")["Properties"]
    subnets = web["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]
    assert subnets == ["subnet-0000000000000a002", "subnet-0000000000000b002"]
    _, database_subnets = existing_vpc_stack.one("AWS::RDS::DBSubnetGroup")
    assert database_subnets["Properties"]["SubnetIds"] == [
        "subnet-0000000000000a003",
        "subnet-0000000000000b003",
    ]


def test_cloudfront_fronts_the_alb_when_asked(cloudfront_stack: Synthesis) -> None:
    _, distribution = cloudfront_stack.one("AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    origin = config["Origins"][0]
    assert origin["DomainName"] == "app.example.com"
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"


def _app_environment(stack: Synthesis) -> dict[str, dict[str, Any]]:
    """The plain settings of the containers that run the app, by container."""
    containers = _containers(stack)
    return {name: _environment(containers[name]) for name in ("web", "worker")}


def _joined_attribute(value: Any) -> tuple[str, str, str]:
    """``("https://", logical id, attribute)`` of an ``https://`` + Fn::GetAtt join."""
    prefix, attribute = value["Fn::Join"][1]
    return prefix, *attribute["Fn::GetAtt"]


def test_links_the_server_sends_point_where_people_come_in(
    default_stack: Synthesis, cloudfront_stack: Synthesis, mail_stack: Synthesis
) -> None:
    """Approval and invitation links start with AGENTFLOW_PUBLIC_URL: the ALB's name by
    default, CloudFront's with it, the operator's domain when given (never localhost)."""
    alb_id, _ = default_stack.one("AWS::ElasticLoadBalancingV2::LoadBalancer")
    for environment in _app_environment(default_stack).values():
        url = environment["AGENTFLOW_PUBLIC_URL"]
        assert _joined_attribute(url) == ("https://", alb_id, "DNSName")
    cdn_id, _ = cloudfront_stack.one("AWS::CloudFront::Distribution")
    for environment in _app_environment(cloudfront_stack).values():
        url = environment["AGENTFLOW_PUBLIC_URL"]
        assert _joined_attribute(url) == ("https://", cdn_id, "DomainName")
    for environment in _app_environment(mail_stack).values():
        assert environment["AGENTFLOW_PUBLIC_URL"] == PUBLIC_URL


def test_the_server_emails_through_ses_when_given_a_sender(
    default_stack: Synthesis, mail_stack: Synthesis
) -> None:
    """Invitations are sent by the web tasks: with ``mail_from`` they get the SES settings
    (ones the app's settings accept) and the permission to send; without it, neither."""
    from agentflow_app.settings import Settings

    for name, environment in _app_environment(mail_stack).items():
        assert environment["AGENTFLOW_MAIL_FROM"] == MAIL_FROM, name
        assert environment["AGENTFLOW_SES_REGION"] == REGION, name
        settings = Settings(
            agentflow_mail_from=environment["AGENTFLOW_MAIL_FROM"],
            agentflow_ses_region=environment["AGENTFLOW_SES_REGION"],
            agentflow_public_url=environment["AGENTFLOW_PUBLIC_URL"],
        )
        assert settings.agentflow_ses_region == REGION
    web_actions = {a for s in _statements(mail_stack, "WebRole") for a in _as_list(s["Action"])}
    assert {"ses:SendEmail", "ses:SendRawEmail"} <= web_actions
    assert not {a for a in web_actions if a.startswith("bedrock:")}
    for name, environment in _app_environment(default_stack).items():
        assert not {"AGENTFLOW_MAIL_FROM", "AGENTFLOW_SES_REGION"} & set(environment), name


def test_the_first_deploy_starts_no_task() -> None:
    stack = synthesize(bootstrap=True)
    for name in ("agentflow-web", "agentflow-worker"):
        assert _service(stack, name)["Properties"]["DesiredCount"] == 0
    _, target = stack.one("AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["Properties"]["MaxCapacity"] == 0


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({}, "-c certificate_arn"),
        (
            {"certificate_arn": CERTIFICATE, "web_cpu": "256", "web_memory_mib": "4096"},
            "web_memory_mib=4096",
        ),
        ({"certificate_arn": CERTIFICATE, "cloudfront": "true"}, "domain_name"),
        ({"certificate_arn": CERTIFICATE, "vpc": '{"vpc_id": "vpc-1"}'}, "-c vpc.vpc_id"),
        ({"certificate_arn": CERTIFICATE, "name": "Agent Flow"}, "-c name"),
        ({"certificate_arn": CERTIFICATE, "mail_from": "AgentFlow"}, "-c mail_from"),
        ({"certificate_arn": CERTIFICATE, "public_url": "http://a.example.com"}, "-c public_url"),
    ],
)
def test_a_wrong_context_value_is_named_before_anything_is_drawn(
    context: dict[str, str], named: str
) -> None:
    make_importable()
    from agentflow_aws.config import ConfigurationError, from_context

    with pytest.raises(ConfigurationError) as caught:
        from_context(context.get)
    assert named in str(caught.value)


def _assembled(stack: Synthesis, secret_name: str) -> str:
    """The URL CloudFormation will store in ``secret_name``, with sample values for the
    generated password/token and the endpoints it resolves at deploy time."""
    secret = next(
        s["Properties"]
        for s in stack.resources("AWS::SecretsManager::Secret").values()
        if s["Properties"].get("Name") == secret_name
    )
    parts = []
    for part in secret["SecretString"]["Fn::Join"][1]:
        if isinstance(part, str):
            parts.append(part)
        elif "Ref" in part:
            parts.append(f"arn-of-{part['Ref']}")
        elif part["Fn::GetAtt"][1].endswith("Port"):
            parts.append("6379" if "Redis" in part["Fn::GetAtt"][0] else "5432")
        else:
            parts.append("store.abc123.eu-west-1.amazonaws.com")
    return DYNAMIC_REFERENCE.sub("s3cretValue42", "".join(parts))


def test_the_assembled_urls_are_ones_the_app_accepts(default_stack: Synthesis) -> None:
    import redis
    from sqlalchemy.engine import make_url

    from agentflow_app.settings import Settings

    db_url = _assembled(default_stack, "agentflow-db-url")
    redis_url = _assembled(default_stack, "agentflow-redis-url")
    settings = Settings(db_url=db_url, redis_url=redis_url)
    assert settings.database_url == db_url
    url = make_url(db_url)
    assert (url.drivername, url.username, url.database) == (
        "postgresql+psycopg",
        "agentflow",
        "agentflow",
    )
    assert url.query == {"sslmode": "require"}
    pool = redis.Redis.from_url(redis_url).connection_pool
    assert pool.connection_class is redis.SSLConnection
    assert pool.connection_kwargs["password"] == "s3cretValue42"
    assert pool.connection_kwargs["ssl_cert_reqs"] == "required"
