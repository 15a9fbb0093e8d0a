"""deploy/aws/app.py as the CDK CLI runs it (`cdk synth` starts it with the context in
CDK_CONTEXT_JSON and reads the cloud assembly from CDK_OUTDIR): one stack comes out, and a
wrong context value stops it with the key named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.cdk import ACCOUNT, CERTIFICATE, DEPLOY_AWS, REGION


def _cdk_runs_app(context: dict[str, str], outdir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CDK_OUTDIR": str(outdir),
        "CDK_CONTEXT_JSON": json.dumps(context),
        "CDK_DEFAULT_ACCOUNT": ACCOUNT,
        "CDK_DEFAULT_REGION": REGION,
    }
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=DEPLOY_AWS,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_app_synthesises_one_stack(tmp_path: Path) -> None:
    done = _cdk_runs_app({"certificate_arn": CERTIFICATE, "image_tag": "v1.2.3"}, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    template = json.loads((tmp_path / "agentflow.template.json").read_text())
    images = {
        json.dumps(container["Image"])
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ECS::TaskDefinition"
        for container in resource["Properties"]["ContainerDefinitions"]
    }
    assert images and all(":v1.2.3" in image for image in images)


def test_a_missing_certificate_is_named(tmp_path: Path) -> None:
    done = _cdk_runs_app({"worker_max": "8"}, tmp_path)
    assert done.returncode == 1
    assert "invalid deployment context: -c certificate_arn: Field required" in done.stderr
