"""``agentflow decide LINK``: follow an approval's approve or reject link from a terminal.

A link is its own permission (``services.approvals``), so deciding with it needs no
account: the command does what opening the link and pressing its button does, which is
how a run started by ``agentflow run`` (no server, no owner) is decided.
"""

from __future__ import annotations

import click


@click.command("decide")
@click.argument("link", metavar="LINK")
@click.option("--comment", "-m", default=None, help="A comment kept with the decision.")
def decide_command(link: str, comment: str | None) -> None:
    """Decide a waiting approval with one of its links (approve or reject, as the link says)."""
    from agentflow_app.migrate import upgrade_head
    from agentflow_app.services import approvals

    upgrade_head()
    token = link.strip().rstrip("/").rsplit("/", 1)[-1]
    record, action = approvals.by_link(token)
    decision = approvals.decide_by_link(token, comment)
    verb = "approved" if decision.approved else "rejected"
    click.echo(f"{verb} {record.node_id!r} of execution {record.execution_id} ({action} link)")


COMMANDS = [decide_command]
