"""ECS Fargate: the web service behind an HTTPS ALB and the worker service that scales on
the queue, both from one image (the roles differ only in their command).

Roll-out order is built in: each web task runs `agentflow migrate` in a container that
must succeed before `agentflow serve` starts, the web service replaces one task at a time
(so one migration runs at once), and the worker service updates only after the web
service is stable, so no worker runs new code against an old schema.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from agentflow_aws import roles
from agentflow_aws.config import DeployConfig
from agentflow_aws.data import Data
from agentflow_aws.nag import acknowledge
from agentflow_aws.network import Network


@dataclass(frozen=True)
class Services:
    repository: ecr.Repository
    cluster: ecs.Cluster
    alb: elbv2.ApplicationLoadBalancer
    web: ecs.FargateService
    worker: ecs.FargateService
    #: The containers running the app (web, worker), for settings known only once the
    #: stack's edge is drawn (the public URL).
    app_containers: tuple[ecs.ContainerDefinition, ...]


def build_services(
    scope: Construct,
    config: DeployConfig,
    network: Network,
    data: Data,
    log_retention: logs.RetentionDays,
    bootstrap: bool,
) -> Services:
    """Everything that runs the image.

    Args:
        bootstrap: the first deploy: create the services with no task, since the
            repository this stack creates holds no image yet.
    """
    repository = ecr.Repository(
        scope,
        "Images",
        repository_name=config.name,
        image_scan_on_push=True,
        lifecycle_rules=[ecr.LifecycleRule(max_image_count=50)],
        removal_policy=RemovalPolicy.RETAIN,
    )
    image = ecs.ContainerImage.from_ecr_repository(repository, config.image_tag)
    cluster = ecs.Cluster(
        scope,
        "Cluster",
        vpc=network.vpc,
        cluster_name=config.name,
        container_insights_v2=ecs.ContainerInsights.ENABLED,
    )
    log_group = logs.LogGroup(
        scope,
        "Logs",
        log_group_name=f"/agentflow/{config.name}",
        retention=log_retention,
        removal_policy=RemovalPolicy.RETAIN,
    )
    environment = _environment(scope, config, data)
    secrets = {
        name: ecs.Secret.from_secrets_manager(secret) for name, secret in data.secrets.items()
    }

    def container(
        task: ecs.FargateTaskDefinition, name: str, command: tuple[str, ...], **options
    ) -> ecs.ContainerDefinition:
        return task.add_container(
            name,
            image=image,
            command=list(command),
            environment=environment,
            secrets=secrets,
            logging=ecs.LogDrivers.aws_logs(stream_prefix=name, log_group=log_group),
            **options,
        )

    web_task = ecs.FargateTaskDefinition(
        scope,
        "WebTask",
        family=f"{config.name}-web",
        cpu=config.web_cpu,
        memory_limit_mib=config.web_memory_mib,
        # The web process sends the invitation emails; only workers call models.
        task_role=_task_role(scope, "WebRole", data, llm=False, mail=config.mail_from is not None),
    )
    migrate = container(web_task, "migrate", roles.MIGRATE_COMMAND, essential=False)
    web = container(
        web_task,
        "web",
        roles.WEB_COMMAND,
        port_mappings=[ecs.PortMapping(container_port=roles.PORT)],
        health_check=ecs.HealthCheck(
            command=["CMD", "curl", "-fsS", f"http://localhost:{roles.PORT}{roles.HEALTH_PATH}"],
            interval=Duration.seconds(15),
            timeout=Duration.seconds(5),
            start_period=Duration.seconds(120),
            retries=4,
        ),
    )
    web.add_container_dependencies(
        ecs.ContainerDependency(
            container=migrate, condition=ecs.ContainerDependencyCondition.SUCCESS
        )
    )
    web_count = 0 if bootstrap else config.web_count
    web_service = ecs.FargateService(
        scope,
        "Web",
        service_name=f"{config.name}-web",
        cluster=cluster,
        task_definition=web_task,
        desired_count=web_count,
        security_groups=[network.web],
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        assign_public_ip=False,
        # One new task at a time, so one migration runs at once.
        min_healthy_percent=100,
        max_healthy_percent=100 + math.ceil(100 / web_count) if web_count else 200,
        circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
        health_check_grace_period=Duration.seconds(180),
    )
    alb = _load_balancer(scope, config, network, data, web_service)

    worker_task = ecs.FargateTaskDefinition(
        scope,
        "WorkerTask",
        family=f"{config.name}-worker",
        cpu=config.worker_cpu,
        memory_limit_mib=config.worker_memory_mib,
        task_role=_task_role(scope, "WorkerRole", data, llm=True, mail=True),
    )
    # Celery finishes the running step or hands the task back within the stop timeout;
    # an interrupted run resumes elsewhere (SPEC §7).
    worker = container(
        worker_task,
        "worker",
        roles.worker_command(config.worker_concurrency),
        stop_timeout=Duration.seconds(120),
    )
    worker_name = f"{config.name}-worker"
    worker_task.add_container(
        "queue-depth",
        image=image,
        command=[
            "python",
            roles.QUEUE_DEPTH_SCRIPT,
            "--queue",
            roles.QUEUE,
            "--service",
            worker_name,
        ],
        essential=False,
        secrets={"REDIS_URL": secrets["REDIS_URL"]},
        memory_reservation_mib=64,
        logging=ecs.LogDrivers.aws_logs(stream_prefix="queue-depth", log_group=log_group),
    )
    worker_service = ecs.FargateService(
        scope,
        "Worker",
        service_name=worker_name,
        cluster=cluster,
        task_definition=worker_task,
        desired_count=0 if bootstrap else config.worker_min,
        security_groups=[network.worker],
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        assign_public_ip=False,
        min_healthy_percent=100,
        max_healthy_percent=200,
        circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
    )
    worker_service.node.add_dependency(web_service)
    _worker_scaling(config, worker_service, worker_name, bootstrap)
    for task in (web_task, worker_task):
        acknowledge(
            task,
            "Only non-secret settings are plain environment values (backends, bucket name, "
            "region, signup); every secret is an ECS secret from Secrets Manager "
            "(tests/deploy/aws/test_stack.py holds that).",
            "AwsSolutions-ECS2",
        )
        acknowledge(
            task.obtain_execution_role(),
            "ecr:GetAuthorizationToken has no resource to name; every other grant of the "
            "execution role names this repository, log group and the four secrets.",
            "AwsSolutions-IAM5[Resource::*]",
        )
    return Services(
        repository=repository,
        cluster=cluster,
        alb=alb,
        web=web_service,
        worker=worker_service,
        app_containers=(web, worker),
    )


def _environment(scope: Construct, config: DeployConfig, data: Data) -> dict[str, str]:
    """The plain settings of every container (stack.py adds the public URL)."""
    region = Stack.of(scope).region
    environment = {
        "AGENTFLOW_SECRETS_BACKEND": "aws",
        "AGENTFLOW_FILES_BACKEND": "s3",
        "AGENTFLOW_FILES_BUCKET": data.bucket.bucket_name,
        "AGENTFLOW_OPEN_SIGNUP": "true" if config.open_signup else "false",
        # boto3 reads AWS_DEFAULT_REGION; the app's messages and other SDKs say AWS_REGION.
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "REFLEX_IGNORE_REDIS_CONFIG_ERROR": "true",
    }
    if config.mail_from:
        environment |= {"AGENTFLOW_MAIL_FROM": config.mail_from, "AGENTFLOW_SES_REGION": region}
    return environment


def _task_role(scope: Construct, name: str, data: Data, llm: bool, mail: bool) -> iam.Role:
    """What the app itself may do: manage its users' credential secrets, use the files
    bucket, and (workers) call Bedrock; SES for workers (the email node) and for the web
    tasks when the server sends its own emails. Reading the stack's own secrets is the
    execution role's job, at task start, and the app never gets it."""
    stack = Stack.of(scope)
    role = iam.Role(scope, name, assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    role.add_to_policy(
        iam.PolicyStatement(
            actions=[
                "secretsmanager:CreateSecret",
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
                "secretsmanager:DeleteSecret",
                "secretsmanager:TagResource",
            ],
            resources=[
                stack.format_arn(
                    service="secretsmanager",
                    resource="secret",
                    resource_name=roles.CREDENTIAL_SECRETS,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
    )
    data.bucket.grant_read_write(role)
    data.bucket.grant_delete(role)
    where = f"{stack.region}:{stack.account}"
    findings = [
        f"Resource::arn:<AWS::Partition>:secretsmanager:{where}:secret:{roles.CREDENTIAL_SECRETS}",
        "Action::s3:Abort*",
        "Action::s3:DeleteObject*",
        "Action::s3:GetBucket*",
        "Action::s3:GetObject*",
        "Action::s3:List*",
        f"Resource::<{stack.get_logical_id(data.bucket.node.default_child)}.Arn>/*",
    ]
    if llm:
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                resources=[
                    f"arn:{stack.partition}:bedrock:*::foundation-model/*",
                    stack.format_arn(
                        service="bedrock",
                        region="*",
                        resource="inference-profile",
                        resource_name="*",
                    ),
                ],
            )
        )
        findings += [
            "Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/*",
            f"Resource::arn:<AWS::Partition>:bedrock:*:{stack.account}:inference-profile/*",
        ]
    if mail:
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail", "ses:SendRawEmail"],
                resources=[stack.format_arn(service="ses", resource="identity", resource_name="*")],
            )
        )
        findings.append(f"Resource::arn:<AWS::Partition>:ses:{where}:identity/*")
    acknowledge(
        role,
        "Credential secrets get random names under agentflow/ when users add them "
        "(agentflow_app/secrets/aws.py), so the role names that prefix and nothing else; "
        "objects in the files bucket are the app's to manage; a workflow picks its Bedrock "
        "model and SES sender identity at run time.",
        *(f"AwsSolutions-IAM5[{finding}]" for finding in findings),
    )
    return role


def _load_balancer(
    scope: Construct,
    config: DeployConfig,
    network: Network,
    data: Data,
    web_service: ecs.FargateService,
) -> elbv2.ApplicationLoadBalancer:
    alb = elbv2.ApplicationLoadBalancer(
        scope,
        "Alb",
        vpc=network.vpc,
        internet_facing=True,
        security_group=network.alb,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        # The UI is a websocket held open for the whole session.
        idle_timeout=Duration.seconds(3600),
        drop_invalid_header_fields=True,
    )
    alb.log_access_logs(data.logs_bucket, "alb")
    https = alb.add_listener(
        "Https",
        port=443,
        open=False,
        certificates=[elbv2.ListenerCertificate.from_arn(config.certificate_arn)],
        ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
    )
    https.add_targets(
        "Web",
        port=roles.PORT,
        protocol=elbv2.ApplicationProtocol.HTTP,
        targets=[web_service],
        health_check=elbv2.HealthCheck(
            path=roles.HEALTH_PATH,
            healthy_http_codes="200",
            interval=Duration.seconds(15),
            timeout=Duration.seconds(5),
        ),
        # Socket.IO's handshake may start on long-polling before it upgrades: its
        # requests must reach the task that holds the session.
        stickiness_cookie_duration=Duration.hours(12),
        deregistration_delay=Duration.seconds(30),
    )
    alb.add_redirect(source_port=80, target_port=443, open=False)
    return alb


def _worker_scaling(
    config: DeployConfig, service: ecs.FargateService, worker_name: str, bootstrap: bool
) -> None:
    scaling = service.auto_scale_task_count(
        min_capacity=0 if bootstrap else config.worker_min,
        max_capacity=0 if bootstrap else config.worker_max,
    )
    scaling.scale_on_cpu_utilization(
        "Cpu", target_utilization_percent=70, scale_out_cooldown=Duration.seconds(120)
    )
    backlog = cloudwatch.Metric(
        namespace=roles.METRIC_NAMESPACE,
        metric_name=roles.QUEUE_DEPTH_METRIC,
        dimensions_map={"Service": worker_name},
        statistic="Maximum",
        period=Duration.minutes(1),
    )
    step = config.worker_backlog_per_task
    scaling.scale_on_metric(
        "QueueDepth",
        metric=backlog,
        scaling_steps=[
            appscaling.ScalingInterval(upper=0, change=-1),
            appscaling.ScalingInterval(lower=step, change=+1),
            appscaling.ScalingInterval(lower=step * 5, change=+3),
        ],
        adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        cooldown=Duration.seconds(120),
        evaluation_periods=2,
    )
