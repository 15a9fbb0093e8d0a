"""One source of truth for how AgentFlow runs in production (issue 16): the README's
"Production" section, docker-compose.yml, the Dockerfile and the CDK stack use the same
commands and the same setting names, and every name is one something actually reads."""

from __future__ import annotations

import re
import shlex
from typing import Any

import click
import pytest
import yaml

from agentflow_app.cli import main as cli
from agentflow_app.settings import Settings
from tests.helpers.cdk import Synthesis, synthesize
from tests.helpers.suite import ROOT

#: Prefixes of names read by libraries rather than Settings: boto3 (the AWS chain), Reflex.
LIBRARY_PREFIXES = ("AWS_", "REFLEX_")
APP_SERVICES = ("app", "worker-1", "worker-2")


def _production_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Production\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _readme_names() -> set[str]:
    return set(
        re.findall(r"\b(?:export )?([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b", _production_section())
    )


def _readme_commands() -> list[list[str]]:
    block = re.search(r"```bash\n(.*?)```", _production_section(), re.S).group(1)
    return [
        shlex.split(line.split("#")[0])
        for line in block.splitlines()
        if line.startswith("agentflow ")
    ]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _dockerfile_cmd() -> list[str]:
    line = next(
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")
    )
    return yaml.safe_load(line.removeprefix("CMD "))


def _stack_containers(stack: Synthesis) -> dict[str, dict[str, Any]]:
    return {
        container["Name"]: container
        for task in stack.resources("AWS::ECS::TaskDefinition").values()
        for container in task["Properties"]["ContainerDefinitions"]
    }


def _parses(command: list[str]) -> None:
    """The CLI accepts ``command`` (options and values), as it would at start."""
    assert command[0] == "agentflow", command
    sub = cli.get_command(click.Context(cli), command[1])
    assert sub is not None, f"agentflow has no command {command[1]!r}"
    sub.make_context(command[1], list(command[2:]))


@pytest.fixture(scope="module")
def stack() -> Synthesis:
    return synthesize()


def test_every_production_name_is_read_by_something() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    unknown = {
        name
        for name in _readme_names()
        if name not in settings and not name.startswith(LIBRARY_PREFIXES)
    }
    assert not unknown, f"the README's Production section names settings nothing reads: {unknown}"


def test_compose_uses_the_readme_names() -> None:
    services = _compose()["services"]
    used = {name for service in APP_SERVICES for name in services[service]["environment"]}
    assert {"DB_URL", "REDIS_URL"} <= used
    assert not used - _readme_names(), f"not in README's Production: {used - _readme_names()}"


def test_the_stack_uses_the_readme_names(stack: Synthesis) -> None:
    used = set()
    for name in ("web", "migrate", "worker"):
        container = _stack_containers(stack)[name]
        used |= {item["Name"] for item in container.get("Environment", [])}
        used |= {item["Name"] for item in container.get("Secrets", [])}
    assert {"DB_URL", "REDIS_URL", "AGENTFLOW_SECRET_KEY", "AGENTFLOW_ENCRYPTION_KEYS"} <= used
    assert not used - _readme_names(), f"not in README's Production: {used - _readme_names()}"


def test_the_web_role_is_one_command_everywhere(stack: Synthesis) -> None:
    readme = next(c for c in _readme_commands() if c[1] == "serve")
    compose = _compose()["services"]["app"]["command"]
    container = _stack_containers(stack)["web"]["Command"]
    assert readme == compose == container == _dockerfile_cmd()
    _parses(readme)


def test_the_worker_role_is_one_command_everywhere(stack: Synthesis) -> None:
    commands = {
        "README": next(c for c in _readme_commands() if c[1] == "worker"),
        "compose worker-1": _compose()["services"]["worker-1"]["command"],
        "compose worker-2": _compose()["services"]["worker-2"]["command"],
        "CDK worker": _stack_containers(stack)["worker"]["Command"],
    }
    for where, command in commands.items():
        assert command[:2] == ["agentflow", "worker"], where
        _parses(command)


def test_a_renamed_option_would_be_caught() -> None:
    """The command check can fail: an option the CLI does not have."""
    with pytest.raises(click.UsageError):
        _parses(["agentflow", "serve", "--no-workers"])
