"""The GitHub Actions workflows (issue 16, point 3): actionlint finds nothing in them, CI
runs `make test` with PostgreSQL and Redis beside it, and a tag releases the image."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.helpers.suite import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = shutil.which("actionlint")


def _actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT, "actionlint is missing: `make test` installs deploy/requirements-checks.txt"
    return subprocess.run(
        [ACTIONLINT, "-no-color", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def _workflow(name: str) -> dict:
    # YAML reads the key `on` as True.
    return yaml.safe_load((WORKFLOWS / name).read_text())


def test_actionlint_finds_nothing() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {path.name for path in files} >= {"ci.yml", "release.yml"}
    done = _actionlint(*files)
    assert done.returncode == 0, f"actionlint:\n{done.stdout}{done.stderr}"


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    """The check can fail: an unknown expression context and a missing runs-on."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text("on: push\njobs:\n  a:\n    steps:\n      - run: echo ${{ githb.sha }}\n")
    done = _actionlint(broken)
    assert done.returncode == 1
    assert '"runs-on" section is missing' in done.stdout
    assert "undefined variable" in done.stdout


def test_ci_runs_make_test_beside_postgres_and_redis() -> None:
    job = _workflow("ci.yml")["jobs"]["test"]
    assert set(job["services"]) == {"postgres", "redis"}
    assert job["services"]["postgres"]["ports"] == ["5432:5432"]
    assert job["services"]["redis"]["ports"] == ["6379:6379"]
    runs = [step.get("run", "") for step in job["steps"]]
    assert "make test" in runs
    assert any("/usr/bin/chromium" in run for run in runs)


def test_a_version_tag_builds_and_pushes_the_image() -> None:
    release = _workflow("release.yml")
    assert release[True]["push"]["tags"] == ["v*"]
    steps = release["jobs"]["image"]["steps"]
    build = next(
        step for step in steps if step.get("uses", "").startswith("docker/build-push-action")
    )
    assert build["with"]["push"] is True
    assert any(step.get("uses", "").startswith("aws-actions/amazon-ecr-login") for step in steps)
