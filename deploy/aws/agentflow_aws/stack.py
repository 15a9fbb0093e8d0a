"""The one stack: network, data, services and (optionally) CloudFront, with cdk-nag's
AwsSolutions pack checking every resource at synthesis."""

from __future__ import annotations

from aws_cdk import App, CfnOutput, Environment, Fn, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from agentflow_aws import nag
from agentflow_aws.config import DeployConfig
from agentflow_aws.data import build_data
from agentflow_aws.edge import build_edge
from agentflow_aws.network import build_network
from agentflow_aws.services import build_services


class AgentFlowStack(Stack):
    """AgentFlow on ECS Fargate behind an ALB, with RDS, ElastiCache, S3 and secrets.

    Args:
        bootstrap: the first deploy (services created with no task; see services.py).
    """

    def __init__(
        self, scope: Construct, config: DeployConfig, bootstrap: bool = False, **kwargs
    ) -> None:
        super().__init__(
            scope,
            config.name,
            description="AgentFlow: web and workers on Fargate, PostgreSQL, Redis, S3",
            **kwargs,
        )
        retention = logs.RetentionDays[RETENTION[config.log_retention_days]]
        network = build_network(self, config, retention)
        data = build_data(self, config, network)
        services = build_services(self, config, network, data, retention, bootstrap)
        self.owned_secret_names = data.owned_secret_names

        CfnOutput(self, "LoadBalancerDns", value=services.alb.load_balancer_dns_name)
        CfnOutput(self, "RepositoryUri", value=services.repository.repository_uri)
        CfnOutput(self, "ClusterName", value=services.cluster.cluster_name)
        CfnOutput(self, "WebService", value=services.web.service_name)
        CfnOutput(self, "WorkerService", value=services.worker.service_name)
        CfnOutput(self, "WorkerTaskDefinition", value=services.worker.task_definition.family)
        CfnOutput(self, "FilesBucket", value=data.bucket.bucket_name)
        entrance = services.alb.load_balancer_dns_name
        if config.cloudfront:
            distribution = build_edge(self, config, data.logs_bucket)
            CfnOutput(self, "CdnDomain", value=distribution.distribution_domain_name)
            entrance = distribution.distribution_domain_name
        # Links the server sends (approvals, invitations) must point where people come in.
        public_url = config.public_url or f"https://{entrance}"
        for container in services.app_containers:
            container.add_environment("AGENTFLOW_PUBLIC_URL", public_url)
        CfnOutput(self, "PublicUrl", value=public_url)

    @property
    def availability_zones(self) -> list[str]:
        """The region's first two zones, resolved by CloudFormation at deploy time: the
        template names no zone and synthesis needs no AWS lookup."""
        return [Fn.select(index, Fn.get_azs()) for index in range(2)]


#: Feature flags a new CDK project gets from `cdk init`: access logs are granted through
#: the bucket policy rather than legacy ACLs.
FEATURE_FLAGS = {"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True}


#: CloudWatch Logs' retention choices, in days (config.py accepts only these).
RETENTION = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    731: "TWO_YEARS",
    1827: "FIVE_YEARS",
    3653: "TEN_YEARS",
}


def build_app(
    config: DeployConfig, env: Environment, app: App | None = None, bootstrap: bool = False
) -> tuple[App, AgentFlowStack]:
    """The app with its stack and cdk-nag attached (app.py and the tests both use this)."""
    app = app or App()
    for flag, value in FEATURE_FLAGS.items():
        app.node.set_context(flag, value)
    stack = AgentFlowStack(app, config, bootstrap=bootstrap, env=env)
    nag.check(app)
    return app, stack
