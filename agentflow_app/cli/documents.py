"""``agentflow export ID`` and ``agentflow import FILE.json --owner EMAIL`` (SPEC §3).

Export prints the newest document as JSON on stdout (pipe it to a file); import validates a
document like the editor and the API do and prints the new workflow's id, so scripts can
capture it.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from agentflow_app.errors import AgentFlowError, InvalidInput


@click.command("export")
@click.argument("workflow_id", type=int)
def export(workflow_id: int) -> None:
    """Print workflow WORKFLOW_ID's document as JSON."""
    from agentflow_app.services import workflows

    click.echo(json.dumps(workflows.export_document(workflow_id), indent=2, ensure_ascii=False))


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--owner", required=True, help="Email of the account that will own it.")
def import_(file: Path, owner: str) -> None:
    """Store FILE (a workflow document) as a new workflow of OWNER; print its id."""
    from agentflow_app.services import users, workflows

    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise AgentFlowError(f"{file} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise AgentFlowError(
            f"{file} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    actor = users.find_by_email(owner)
    if actor is None:
        raise AgentFlowError(
            f"no account with the email {owner.strip().lower()}: "
            "create it with `agentflow user create`"
        )
    try:
        created = workflows.create(actor, document)
    except InvalidInput as exc:
        raise AgentFlowError(_problems(file, exc)) from None
    click.echo(created.id)


def _problems(file: Path, exc: InvalidInput) -> str:
    lines = [f"{file} is not a valid workflow:"]
    for problem in exc.problems or [{"message": str(exc)}]:
        where = " ".join(
            part
            for part in (
                f"node {problem['node_id']}" if problem.get("node_id") else "",
                problem.get("field") or "",
            )
            if part
        )
        lines.append(f"  - {where + ': ' if where else ''}{problem['message']}")
    return "\n".join(lines)


COMMANDS = [export, import_]
