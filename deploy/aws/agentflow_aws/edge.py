"""Optional CloudFront in front of the ALB: TLS close to users and cached static assets;
everything else (the UI's websocket, the API) passes through uncached."""

from __future__ import annotations

from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from constructs import Construct

from agentflow_aws.config import DeployConfig
from agentflow_aws.nag import acknowledge


def build_edge(
    scope: Construct, config: DeployConfig, logs_bucket: s3.IBucket
) -> cloudfront.Distribution:
    # CloudFront connects over HTTPS and checks the ALB's certificate against this name.
    origin = origins.HttpOrigin(
        config.domain_name, protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY
    )
    passthrough = cloudfront.BehaviorOptions(
        origin=origin,
        viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
        cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
        origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER,
    )
    distribution = cloudfront.Distribution(
        scope,
        "Cdn",
        comment=f"AgentFlow {config.name}",
        default_behavior=passthrough,
        additional_behaviors={
            "/_next/static/*": cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
            )
        },
        price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        enable_logging=True,
        log_bucket=logs_bucket,
        log_file_prefix="cdn/",
    )
    acknowledge(
        distribution,
        "AgentFlow serves its users wherever they are; restrict countries in the "
        "distribution if your organisation needs it.",
        "AwsSolutions-CFR1",
    )
    acknowledge(
        distribution,
        "WAF is priced per rule and request; attach a web ACL to the distribution when the "
        "deployment needs one (docs/deploy-aws.md).",
        "AwsSolutions-CFR2",
    )
    acknowledge(
        distribution,
        "Without an alias the distribution uses CloudFront's default certificate, whose TLS "
        "floor CloudFront sets; viewers are redirected to HTTPS and the origin is HTTPS only.",
        "AwsSolutions-CFR4",
    )
    return distribution
