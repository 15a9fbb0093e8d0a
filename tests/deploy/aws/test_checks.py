"""The scanners an infrastructure reviewer runs, run on every `make test`: cfn-lint on the
synthesised templates and cdk-nag's AwsSolutions pack, each acknowledgement with its
reason written next to the resource (issue 16, point 2)."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint

from tests.helpers.cdk import REGION, Synthesis, make_importable, nag_findings

#: cfn-lint rules not applied, each with why. W3005: CDK's FargateService lists its target
#: group in DependsOn although a Ref already orders them; redundant, harmless, generated.
IGNORED = {"W3005"}
VARIANTS = ["default_stack", "cloudfront_stack", "existing_vpc_stack", "mail_stack"]


def _lint(stack: Synthesis) -> list[str]:
    assert stack.template is not None, "cdk-nag refused the stack:\n" + "\n".join(stack.findings)
    return _lint_text(json.dumps(stack.template))


def _lint_text(text: str) -> list[str]:
    matches = lint(text, config=ManualArgs(regions=[REGION], ignore_checks=sorted(IGNORED)))
    return [f"{m.rule.id} {m.message} ({'/'.join(str(p) for p in m.path)})" for m in matches]


@pytest.mark.parametrize("variant", VARIANTS)
def test_cfn_lint_passes_on_the_template(variant: str, request: pytest.FixtureRequest) -> None:
    problems = _lint(request.getfixturevalue(variant))
    assert not problems, "cfn-lint:\n" + "\n".join(problems)


def test_cfn_lint_reports_a_broken_template() -> None:
    """The check can fail: a bucket with a property CloudFormation does not know."""
    broken = {"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"Colour": "red"}}}}
    problems = _lint_text(json.dumps(broken))
    assert any(problem.startswith("E3002") for problem in problems), problems


@pytest.mark.parametrize("variant", VARIANTS)
def test_cdk_nag_awssolutions_passes(variant: str, request: pytest.FixtureRequest) -> None:
    stack: Synthesis = request.getfixturevalue(variant)
    assert not stack.findings, "cdk-nag AwsSolutions:\n" + "\n".join(stack.findings)


def test_every_acknowledged_finding_says_why(
    default_stack: Synthesis, cloudfront_stack: Synthesis
) -> None:
    acknowledged = {}
    for stack in (default_stack, cloudfront_stack):
        for logical_id, resource in stack.template["Resources"].items():
            for rule in (
                resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
            ):
                if rule["id"].startswith("AwsSolutions"):
                    acknowledged[f"{rule['id']} on {logical_id}"] = rule["reason"]
    assert len(acknowledged) >= 10, sorted(acknowledged)
    vague = {finding: reason for finding, reason in acknowledged.items() if len(reason) < 50}
    assert not vague, f"acknowledgements without a real reason: {vague}"


def test_cdk_nag_reports_an_insecure_resource() -> None:
    """The check can fail: a bucket with no logging, no TLS rule, no encryption choice."""
    make_importable()
    from agentflow_aws import nag
    from aws_cdk import App, Stack
    from aws_cdk import aws_s3 as s3
    from aws_cdk.assertions import Template

    app = App()
    stack = Stack(app, "Insecure")
    s3.Bucket(stack, "Open")
    nag.check(app)
    with pytest.raises(RuntimeError) as failed:
        Template.from_stack(stack)
    findings = nag_findings(failed.value)
    assert any(f.startswith("AwsSolutions-S10 at Insecure/Open") for f in findings), findings
