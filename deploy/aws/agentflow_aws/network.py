"""The VPC and the security groups: only the ALB reaches the web tasks, and only the web and
worker tasks reach PostgreSQL and Redis."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from agentflow_aws.config import DeployConfig
from agentflow_aws.nag import acknowledge
from agentflow_aws.roles import PORT

POSTGRES_PORT = 5432
REDIS_PORT = 6379


@dataclass(frozen=True)
class Network:
    vpc: ec2.IVpc
    alb: ec2.SecurityGroup
    web: ec2.SecurityGroup
    worker: ec2.SecurityGroup
    database: ec2.SecurityGroup
    redis: ec2.SecurityGroup


def build_network(
    scope: Construct, config: DeployConfig, log_retention: logs.RetentionDays
) -> Network:
    vpc = _vpc(scope, config, log_retention)

    def group(name: str, description: str, outbound: bool) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(
            scope, f"{name}Sg", vpc=vpc, description=description, allow_all_outbound=outbound
        )

    alb = group("Alb", "AgentFlow ALB: HTTPS (and HTTP, redirected) from users", outbound=False)
    # Web and worker tasks call LLM providers, Slack, HubSpot, webhooks: any HTTPS host.
    web = group("Web", "AgentFlow web tasks: only the ALB reaches them", outbound=True)
    worker = group("Worker", "AgentFlow worker tasks: nothing reaches them", outbound=True)
    database = group("Database", "AgentFlow PostgreSQL: web and worker tasks only", outbound=False)
    redis = group("Redis", "AgentFlow Redis: web and worker tasks only", outbound=False)

    for port in (443, 80):
        alb.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(port), f"users on {port}")
    acknowledge(
        alb,
        "The ALB is the public entry point: users reach it from anywhere on 443, and port "
        "80 only answers a redirect to 443.",
        "AwsSolutions-EC23",
    )
    web.add_ingress_rule(alb, ec2.Port.tcp(PORT), "the ALB to agentflow serve")
    alb.add_egress_rule(web, ec2.Port.tcp(PORT), "the ALB to agentflow serve")
    for client in (web, worker):
        database.add_ingress_rule(client, ec2.Port.tcp(POSTGRES_PORT), "tasks to PostgreSQL")
        redis.add_ingress_rule(client, ec2.Port.tcp(REDIS_PORT), "tasks to Redis")
    return Network(vpc=vpc, alb=alb, web=web, worker=worker, database=database, redis=redis)


def _vpc(scope: Construct, config: DeployConfig, log_retention: logs.RetentionDays) -> ec2.IVpc:
    if config.vpc is not None:
        given = config.vpc
        return ec2.Vpc.from_vpc_attributes(
            scope,
            "Vpc",
            vpc_id=given.vpc_id,
            availability_zones=given.availability_zones,
            public_subnet_ids=given.public_subnet_ids,
            private_subnet_ids=given.private_subnet_ids,
            isolated_subnet_ids=given.isolated_subnet_ids,
        )
    flow_logs = logs.LogGroup(
        scope, "VpcFlowLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
    )
    return ec2.Vpc(
        scope,
        "Vpc",
        max_azs=2,
        nat_gateways=config.nat_gateways,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
            ec2.SubnetConfiguration(
                name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
            ),
            ec2.SubnetConfiguration(
                name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
            ),
        ],
        flow_logs={
            "all": ec2.FlowLogOptions(
                destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                traffic_type=ec2.FlowLogTrafficType.REJECT,
            )
        },
    )
