"""The Dockerfile and docker-compose.yml as a reviewer scans them (issue 16, point 3):
hadolint on the Dockerfile with no finding left (the one accepted rule is acknowledged
inline with its reason), the image's user is not root, and the compose file keeps the
rules hadolint cannot check there."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.helpers.suite import ROOT

HADOLINT = shutil.which("hadolint")


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    assert HADOLINT, "hadolint is missing: `make test` installs deploy/requirements-checks.txt"
    return subprocess.run(
        [HADOLINT, "--no-color", "--failure-threshold", "info", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    done = _hadolint(ROOT / "Dockerfile")
    assert done.returncode == 0, f"hadolint:\n{done.stdout}{done.stderr}"


def test_hadolint_reports_a_bad_dockerfile(tmp_path: Path) -> None:
    """The check can fail."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /app && pip install flask\n")
    done = _hadolint(bad)
    assert done.returncode != 0
    assert "DL3007" in done.stdout and "DL3003" in done.stdout


def test_every_ignore_in_the_dockerfile_says_why() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore" in line:
            assert lines[number - 1].startswith("#") and len(lines[number - 1]) > 30, (
                f"Dockerfile:{number + 1}: say why above the ignore"
            )


def test_the_image_runs_as_an_unprivileged_user() -> None:
    users = [
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("USER ")
    ]
    assert users, "the image would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_the_compose_services_keep_to_the_rules() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name, service in services.items():
        assert not service.get("privileged"), f"{name} is privileged"
        assert service.get("network_mode") != "host", f"{name} uses the host network"
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert "user" not in service or service["user"] not in ("root", "0"), name
        assert "healthcheck" in service, f"{name} has no health check"
        image = service.get("image", "")
        if "build" not in service:
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag"
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"app"}, "only the app is reachable from outside the compose network"
