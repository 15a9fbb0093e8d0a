"""cdk-nag's AwsSolutions pack and the one way this app acknowledges a finding: with the
reason, next to the resource it is about."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def check(app: App) -> None:
    """Run the AwsSolutions rules at synthesis: a finding nobody acknowledged stops it."""
    # The acknowledgements also go into the template (Metadata cdk_nag), as an audit trail.
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True)
    )


def acknowledge(construct: IConstruct, reason: str, *rules: str) -> None:
    """Accept ``rules`` (``AwsSolutions-XX`` or ``AwsSolutions-XX[finding]``) for
    ``construct`` and everything inside it, for ``reason``."""
    Validations.of(construct).acknowledge(
        *(Acknowledgment(id=rule, reason=reason) for rule in rules)
    )
