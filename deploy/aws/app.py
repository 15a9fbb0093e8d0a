"""`cdk synth` / `cdk deploy` entry point: context in, one stack out (docs/deploy-aws.md)."""

from __future__ import annotations

import os
import sys

from aws_cdk import App, Environment

from agentflow_aws.config import ConfigurationError, from_context
from agentflow_aws.stack import build_app


def main() -> None:
    app = App()
    try:
        config = from_context(app.node.try_get_context)
    except ConfigurationError as exc:
        sys.exit(str(exc))
    bootstrap = str(app.node.try_get_context("bootstrap")).lower() == "true"
    # The account and region the CDK CLI resolved from the caller's AWS profile.
    env = Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    build_app(config, env, app=app, bootstrap=bootstrap)
    app.synth()


if __name__ == "__main__":
    main()
