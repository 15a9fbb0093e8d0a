"""Where AgentFlow keeps its state: RDS PostgreSQL, ElastiCache Redis, the files bucket,
and the Secrets Manager entries the tasks receive as ECS secrets.

`DB_URL` and `REDIS_URL` are secrets of their own, assembled by CloudFormation from the
generated password and token through dynamic references: the template never holds a
secret value, and the app reads the URLs it always reads (SPEC §4).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from aws_cdk import Duration, Fn, RemovalPolicy, SecretValue
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from agentflow_aws.config import DeployConfig
from agentflow_aws.nag import acknowledge
from agentflow_aws.network import POSTGRES_PORT, REDIS_PORT, Network

DATABASE = "agentflow"
DATABASE_USER = "agentflow"
#: URL-safe passwords: the password sits inside DB_URL / REDIS_URL unescaped.
_NOT_URL_SAFE = string.punctuation + " "
#: Reflex waits for state locks through keyspace events; ElastiCache refuses CONFIG SET,
#: so they are switched on here and the app is told to skip its own attempt.
_KEYSPACE_EVENTS = "K$sgxe"

_NO_ROTATION = (
    "Rotated by the operator with the documented procedure (docs/deploy-aws.md, 'Rotating "
    "keys'): DB_URL and REDIS_URL are assembled from these values, which a rotation Lambda "
    "would leave stale."
)


@dataclass(frozen=True)
class Data:
    bucket: s3.Bucket
    logs_bucket: s3.Bucket
    database: rds.DatabaseInstance
    secrets: dict[str, secretsmanager.ISecret]
    #: The secrets this stack owns, by name (what the task roles must never read).
    owned_secret_names: tuple[str, ...]


def build_data(scope: Construct, config: DeployConfig, network: Network) -> Data:
    logs_bucket = _logs_bucket(scope, config)
    bucket = _files_bucket(scope, config, logs_bucket)
    database, database_url = _database(scope, config, network)
    redis_url = _redis(scope, config, network)
    secret_key = secretsmanager.Secret(
        scope,
        "SecretKey",
        secret_name=f"{config.name}-secret-key",
        description="AGENTFLOW_SECRET_KEY: signs login tokens",
        generate_secret_string=secretsmanager.SecretStringGenerator(
            password_length=64, exclude_punctuation=True
        ),
    )
    # A Fernet key is 32 random bytes in url-safe base64 with a trailing '=': Secrets
    # Manager cannot generate that shape, so the operator creates this entry once before
    # the first deploy (docs/deploy-aws.md gives the command) and rotates it by hand.
    encryption_keys = secretsmanager.Secret.from_secret_name_v2(
        scope, "EncryptionKeys", f"{config.name}-encryption-keys"
    )
    for owned in (secret_key, database_url, redis_url, database):
        acknowledge(owned, _NO_ROTATION, "AwsSolutions-SMG4")
    secrets = {
        "DB_URL": database_url,
        "REDIS_URL": redis_url,
        "AGENTFLOW_SECRET_KEY": secret_key,
        "AGENTFLOW_ENCRYPTION_KEYS": encryption_keys,
    }
    names = tuple(
        f"{config.name}-{suffix}"
        for suffix in ("secret-key", "encryption-keys", "db", "db-url", "redis-token", "redis-url")
    )
    return Data(
        bucket=bucket,
        logs_bucket=logs_bucket,
        database=database,
        secrets=secrets,
        owned_secret_names=names,
    )


def _logs_bucket(scope: Construct, config: DeployConfig) -> s3.Bucket:
    """ALB, CloudFront and S3 access logs (ALB logging needs SSE-S3, not KMS)."""
    bucket = s3.Bucket(
        scope,
        "AccessLogs",
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        # CloudFront's standard logs are written with ACLs.
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(config.log_retention_days))],
        removal_policy=RemovalPolicy.RETAIN,
    )
    acknowledge(
        bucket,
        "This is the access-log bucket; logging it into itself would loop.",
        "AwsSolutions-S1",
    )
    return bucket


def _files_bucket(scope: Construct, config: DeployConfig, logs_bucket: s3.Bucket) -> s3.Bucket:
    """Uploaded and produced files (AGENTFLOW_FILES_BACKEND=s3)."""
    rules = []
    if config.files_retention_days:
        rules.append(
            s3.LifecycleRule(
                expiration=Duration.days(config.files_retention_days),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )
        )
    return s3.Bucket(
        scope,
        "Files",
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        lifecycle_rules=rules,
        server_access_logs_bucket=logs_bucket,
        server_access_logs_prefix="files/",
        removal_policy=RemovalPolicy.RETAIN,
    )


def _database(
    scope: Construct, config: DeployConfig, network: Network
) -> tuple[rds.DatabaseInstance, secretsmanager.Secret]:
    database = rds.DatabaseInstance(
        scope,
        "Database",
        engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_16_13),
        instance_type=ec2.InstanceType(config.db_instance_class),
        vpc=network.vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        security_groups=[network.database],
        port=POSTGRES_PORT,
        database_name=DATABASE,
        credentials=rds.Credentials.from_generated_secret(
            DATABASE_USER,
            secret_name=f"{config.name}-db",
            exclude_characters=_NOT_URL_SAFE,
        ),
        multi_az=True,
        storage_encrypted=True,
        storage_type=rds.StorageType.GP3,
        allocated_storage=config.db_storage_gib,
        max_allocated_storage=config.db_storage_gib * 5,
        backup_retention=Duration.days(config.db_backup_days),
        deletion_protection=True,
        removal_policy=RemovalPolicy.SNAPSHOT,
        publicly_accessible=False,
        auto_minor_version_upgrade=True,
        cloudwatch_logs_exports=["postgresql"],
    )
    acknowledge(
        database,
        "PostgreSQL keeps its standard port: only the task security groups reach it, and a "
        "different number hides nothing from them.",
        "AwsSolutions-RDS11",
    )
    password = database.secret.secret_value_from_json("password").unsafe_unwrap()
    url = Fn.join(
        "",
        [
            f"postgresql+psycopg://{DATABASE_USER}:",
            password,
            "@",
            database.db_instance_endpoint_address,
            ":",
            database.db_instance_endpoint_port,
            f"/{DATABASE}?sslmode=require",
        ],
    )
    database_url = secretsmanager.Secret(
        scope,
        "DatabaseUrl",
        secret_name=f"{config.name}-db-url",
        description="DB_URL: PostgreSQL with the generated password (dynamic reference)",
        secret_string_value=SecretValue.unsafe_plain_text(url),
    )
    return database, database_url


def _redis(scope: Construct, config: DeployConfig, network: Network) -> secretsmanager.Secret:
    token = secretsmanager.Secret(
        scope,
        "RedisToken",
        secret_name=f"{config.name}-redis-token",
        description="ElastiCache AUTH token",
        generate_secret_string=secretsmanager.SecretStringGenerator(
            password_length=64, exclude_punctuation=True
        ),
    )
    acknowledge(token, _NO_ROTATION, "AwsSolutions-SMG4")
    subnets = elasticache.CfnSubnetGroup(
        scope,
        "RedisSubnets",
        description="AgentFlow Redis: isolated subnets",
        subnet_ids=network.vpc.select_subnets(
            subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
        ).subnet_ids,
    )
    parameters = elasticache.CfnParameterGroup(
        scope,
        "RedisParameters",
        cache_parameter_group_family="redis7",
        description="AgentFlow Redis: keyspace events for Reflex's state locks",
        properties={"notify-keyspace-events": _KEYSPACE_EVENTS},
    )
    group = elasticache.CfnReplicationGroup(
        scope,
        "Redis",
        replication_group_description="AgentFlow queue, pub/sub and UI state",
        engine="redis",
        engine_version="7.1",
        cache_node_type=config.redis_node_type,
        num_cache_clusters=2,
        automatic_failover_enabled=True,
        multi_az_enabled=True,
        transit_encryption_enabled=True,
        at_rest_encryption_enabled=True,
        auth_token=token.secret_value.unsafe_unwrap(),
        cache_subnet_group_name=subnets.ref,
        cache_parameter_group_name=parameters.ref,
        security_group_ids=[network.redis.security_group_id],
        port=REDIS_PORT,
        snapshot_retention_limit=1,
    )
    acknowledge(
        group,
        "Redis keeps its standard port: only the task security groups reach it, and a "
        "different number hides nothing from them.",
        "AwsSolutions-AEC5",
    )
    # Celery and redis-py refuse a rediss:// URL unless it says how to check the server.
    url = Fn.join(
        "",
        [
            "rediss://:",
            token.secret_value.unsafe_unwrap(),
            "@",
            group.attr_primary_end_point_address,
            ":",
            group.attr_primary_end_point_port,
            "/0?ssl_cert_reqs=required",
        ],
    )
    return secretsmanager.Secret(
        scope,
        "RedisUrl",
        secret_name=f"{config.name}-redis-url",
        description="REDIS_URL: ElastiCache over TLS with the AUTH token (dynamic reference)",
        secret_string_value=SecretValue.unsafe_plain_text(url),
    )
